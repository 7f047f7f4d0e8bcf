// SPDX-License-Identifier: MIT
// memhil_array_ctrl: the command engine of memhil_array. It accepts one array command at a time,
// sequences its phases and drives the RAM ports of every access that is not part of a stream
// generation (memhil_array_gen) or a cell pass (memhil_array_pass):
//   INIT    after reset, one word per clock: codes 0, LFSR states
//           LFSR_RESET_STATE, step tables STEP_RESET (max(TILES*ROWS*WC, 512) clocks, busy_o)
//   IDLE    cmd_ready_o; a command accepted: its fields latched, the opcode decoded into
//           one-hot flags (opf_q, exported as op_*_o)
//   ACC     one clock: clear_o (registered: the command strobe of every block); the tile's
//           base addresses, counts and cursors from the latched fields; the next phase by the
//           flags
//   DIV     cells: (i, j) = (start / COLS, start % COLS), restoring division,
//           one quotient bit per clock (CELL_W clocks)
//   WRECV   WRITE_*: four payload bytes of one item (little endian); the shared mix32 hashes
//           the G+ fault key (contract section 3, "Stuck devices") given with the last byte
//   WHASH   WRITE_CELLS: MIX_LAT - 1 clocks (3) that feed the G- fault key (mix32's latency
//           MIX_LAT = 4: the key of a clock hashes out MIX_LAT clocks later)
//   WREAD   read the word of the item (cell word, or row / column LFSR word); WRITE_CELLS:
//           the G+ key's hash is out (latched)
//   WWRITE  write it back with the item's lane replaced (WRITE_CELLS: each code through the
//           fault map: stuck at Gmin stores 0, at Gmax CMAX); next item or FIN
//   LOAD    FORWARD / TRANSPOSE / UPDATE: the operand bytes, clamped to +-127, into the x and
//           d buffers, LANES per word (UPDATE of B = cmd_count samples: per sample x, then d,
//           sample b at words b * WC / b * WR); with the last byte start_o
//   GEN     memhil_array_gen steps the LFSRs (gen_run_o) until gen_done_i
//   PASS    memhil_array_pass walks the tile (pass_run_o) until pass_last_i; in a coincidence
//           UPDATE GEN and PASS alternate per column word: GEN (the rows, then column word 0)
//           -> PASS (column word 0) -> GEN (column word 1) -> ... -> PASS (the last column
//           word): pass_wend_i (a column word's last issue) goes back to GEN, gen_done_i (its
//           G_WRITE) to PASS, each in the next clock (no clock added)
//   DRAIN   until the pass pipeline has written back its last word (pass_busy_i low)
//   OUT     the producer issues one response item per clock while memhil_array_out has room,
//           with the RAM read address of the item (cells, LFSR states, read
//           sums), until out_done_i (the last byte taken)
//   FIN     one clock, then IDLE; done_o (registered) is high in the clock after FIN
// Latency: cmd_ready_o is high in IDLE; the item issued in a clock of OUT has its RAM word on
// the read ports in the next clock; done_o is high two clocks after the one in which the last
// response byte is taken (or the last item written). docs/rtl-datapath.md, "Cycle counts".
// Timing (100 MHz): the decisions start at flip-flops: the opcode is decoded into one-hot flags
// when the command is accepted (opf_q; the blocks and the shell use these flags, no opcode
// compares), the accept itself only latches the command and moves to ACC (clear_o is a
// register: +1 clock per command), the items left (rem_*), the last byte of an operand
// vector (ld_last_q), the last sample (ld_lastb_q) and the end of INIT (init_last_q) are
// registered flags kept from the counters' next values, and the phase outputs (gen_run_o,
// pass_run_o, out_run_o, busy_o), nsmp_o and the write hash's key are registers set from the
// next state. Apart from ACC none of this moves a cycle.

`resetall
`default_nettype none

module memhil_array_ctrl
  import memhil_pkg::*;
#(
  parameter int unsigned ROWS  = 8,
  parameter int unsigned COLS  = 8,
  parameter int unsigned TILES = 1,
  parameter int unsigned LANES = 4,
  parameter int unsigned G_W   = 8,
  parameter int unsigned BATCH_MAX = BATCH_MAX_DEFAULT,   // samples of one update, at most
  localparam int unsigned LOG_L  = $clog2(LANES),
  localparam int unsigned WC     = (COLS + LANES - 1) / LANES,   // words per row
  localparam int unsigned WR     = (ROWS + LANES - 1) / LANES,   // words of row states
  localparam int unsigned CELL_DEPTH = TILES * ROWS * WC,
  localparam int unsigned RR_DEPTH   = TILES * WR,
  localparam int unsigned RC_DEPTH   = TILES * WC,
  localparam int unsigned NW_MAX = (WR > WC) ? WR : WC,
  localparam int unsigned CA_W   = (CELL_DEPTH > 1) ? $clog2(CELL_DEPTH) : 1,
  localparam int unsigned RRA_W  = (RR_DEPTH > 1) ? $clog2(RR_DEPTH) : 1,
  localparam int unsigned RCA_W  = (RC_DEPTH > 1) ? $clog2(RC_DEPTH) : 1,
  localparam int unsigned XA_W   = (BATCH_MAX * WC > 1) ? $clog2(BATCH_MAX * WC) : 1,
  localparam int unsigned DA_W   = (BATCH_MAX * WR > 1) ? $clog2(BATCH_MAX * WR) : 1,
  localparam int unsigned NWA_W  = (NW_MAX > 1) ? $clog2(NW_MAX) : 1,
  localparam int unsigned CW_W   = LANES * 2 * G_W,
  localparam int unsigned SW_W   = LANES * LFSR_W
) (
  input  wire logic               clk,
  input  wire logic               rst_n,
  // command (memhil_array's ports)
  input  wire logic               cmd_valid_i,
  output logic                    cmd_ready_o,
  input  wire logic [7:0]         cmd_op_i,
  input  wire logic [7:0]         cmd_tile_i,
  input  wire logic [31:0]        cmd_start_i,
  input  wire logic [15:0]        cmd_count_i,
  input  wire logic               cmd_apply_i,
  // the write path's fault map (configuration, stable while busy)
  input  wire logic [15:0]        cfg_cmax_i,
  input  wire logic [15:0]        cfg_fault_rate_i,
  input  wire logic [31:0]        cfg_fault_key_i,
  input  wire logic [1:0]         cfg_fault_kind_i,
  input  wire logic               in_valid_i,
  output logic                    in_ready_o,
  input  wire logic [7:0]         in_data_i,
  output logic                    done_o,
  output logic                    busy_o,
  // step tables: the register file's write port in; the tables' write port (it, or the sweep)
  input  wire logic               tbl_we_i,
  input  wire logic [8:0]         tbl_waddr_i,      // {dir, level}
  input  wire logic [15:0]        tbl_wdata_i,
  output logic                    tbl_we_o,
  output logic [8:0]              tbl_waddr_o,
  output logic [15:0]             tbl_wdata_o,
  // the command being executed
  output logic [7:0]              tile_o,
  output logic                    apply_o,
  output logic [CA_W-1:0]         base_c_o,         // first cell word of the tile
  output logic [RRA_W-1:0]        base_r_o,         // first row-state word of the tile
  output logic [RCA_W-1:0]        base_k_o,         // first column-state word of the tile
  output logic [15:0]             items_o,          // response items
  output logic [15:0]             nsmp_o,           // samples of the command (UPDATE: B; else 1)
  output logic                    clear_o,          // a command was accepted (ACC, registered)
  // its opcode as registered one-hot flags (set at the accept, held until the next one)
  output logic                    op_fwd_o,         // FORWARD
  output logic                    op_trn_o,         // TRANSPOSE
  output logic                    op_upd_o,         // UPDATE
  output logic                    op_rcells_o,      // READ_CELLS
  output logic                    op_rrng_o,        // READ_RNG
  // stream generation and cell pass
  output logic                    start_o,          // last operand byte: plan GEN and PASS
  input  wire logic               gen_need_i,       // the command needs a GEN phase
  output logic                    gen_run_o,
  input  wire logic               gen_done_i,
  output logic                    pass_run_o,
  input  wire logic               pass_last_i,
  input  wire logic               pass_wend_i,      // a column word's last issue: GEN again
  input  wire logic               pass_busy_i,
  // response producer (memhil_array_out)
  output logic                    out_run_o,
  output logic                    issue_o,
  output logic [LOG_L-1:0]        issue_lane_o,
  output logic                    issue_col_o,      // the item's LFSR state is a column's
  input  wire logic               out_room_i,
  input  wire logic               out_done_i,
  // RAM ports: cell words (codes)
  output logic [CA_W-1:0]         cell_raddr_o,
  input  wire logic [CW_W-1:0]    code_rdata_i,
  output logic [CA_W-1:0]         cell_waddr_o,
  output logic                    code_we_o,
  output logic [CW_W-1:0]         code_wdata_o,
  // row / column LFSR states
  output logic [RRA_W-1:0]        rlfsr_raddr_o,
  input  wire logic [SW_W-1:0]    rlfsr_rdata_i,
  output logic                    rlfsr_we_o,
  output logic [RRA_W-1:0]        rlfsr_waddr_o,
  output logic [SW_W-1:0]         rlfsr_wdata_o,
  output logic [RCA_W-1:0]        clfsr_raddr_o,
  input  wire logic [SW_W-1:0]    clfsr_rdata_i,
  output logic                    clfsr_we_o,
  output logic [RCA_W-1:0]        clfsr_waddr_o,
  output logic [SW_W-1:0]         clfsr_wdata_o,
  // operand buffers (x: one code per column, d: one per row)
  output logic                    x_we_o,
  output logic [XA_W-1:0]         x_waddr_o,
  output logic                    d_we_o,
  output logic [DA_W-1:0]         d_waddr_o,
  output logic [LANES*8-1:0]      opnd_wdata_o,
  // read sums
  output logic [NWA_W-1:0]        raw_raddr_o
);

  localparam int unsigned TILE_WORDS = ROWS * WC;
  localparam int unsigned CELL_W     = 20;                            // flat cell index
  localparam int unsigned IX_W       = 16;                            // row / column / word
  localparam int unsigned INIT_N0    = (CELL_DEPTH > RR_DEPTH) ? CELL_DEPTH : RR_DEPTH;
  localparam int unsigned INIT_N1    = (INIT_N0 > RC_DEPTH) ? INIT_N0 : RC_DEPTH;
  localparam int unsigned INIT_N     = (INIT_N1 > 2 * MAX_LEVELS) ? INIT_N1 : 2 * MAX_LEVELS;
  localparam int unsigned INIT_W     = $clog2(INIT_N + 1);

  if (LANES < 2 || (1 << LOG_L) != LANES) begin : g_bad_lanes
    $fatal(1, "memhil_array_ctrl: LANES (%0d) must be a power of two >= 2", LANES);
  end

  typedef enum logic [3:0] {
    ST_INIT, ST_IDLE, ST_ACC, ST_DIV, ST_WRECV, ST_WHASH, ST_WREAD, ST_WWRITE,
    ST_LOAD, ST_GEN, ST_PASS, ST_DRAIN, ST_OUT, ST_FIN
  } state_e;

  // what an OUT item reads
  typedef enum logic [1:0] {K_READ, K_CELLS, K_RNG} okind_e;

  // the command's opcode decoded once, when it is accepted (one-hot flags)
  typedef struct packed {
    logic wcells;     // WRITE_CELLS
    logic wrng;       // WRITE_RNG
    logic rcells;     // READ_CELLS
    logic rrng;       // READ_RNG
    logic fwd;        // FORWARD
    logic trn;        // TRANSPOSE
    logic upd;        // UPDATE
  } opf_t;

  state_e            state_q, state_d;
  // command registers
  opf_t              opf_q, opf_d;
  logic [7:0]        tile_q, tile_d;
  logic              apply_q, apply_d;
  logic [CA_W-1:0]   base_c_q, base_c_d;
  logic [RRA_W-1:0]  base_r_q, base_r_d;
  logic [RCA_W-1:0]  base_k_q, base_k_d;
  logic [15:0]       items_q, items_d;
  logic [15:0]       nsmp_q, nsmp_d;           // UPDATE: cmd_count; else 1
  logic [31:0]       cstart_q, cstart_d;       // the command's start and count, as accepted
  logic [15:0]       ccount_q, ccount_d;
  logic              clear_q, clear_d;         // ACC: the command strobe
  // division start / COLS
  logic [CELL_W-1:0] div_num_q, div_num_d;
  logic [IX_W-1:0]   div_rem_q, div_rem_d;
  logic [4:0]        div_cnt_q, div_cnt_d;
  // cursors: cells (i, j, row word address) and LFSR states (column?, index)
  logic [IX_W-1:0]   cur_i_q, cur_i_d, cur_j_q, cur_j_d;
  logic [CA_W-1:0]   cur_ra_q, cur_ra_d;
  logic              rng_col_q, rng_col_d;
  logic [IX_W-1:0]   rng_idx_q, rng_idx_d;
  logic [15:0]       item_q, item_d;           // items written / issued
  // items left (items_q - item_q), as flags: rem_nz_q (item_q != items_q), rem_one_q
  // (item_q + 1 == items_q); WRITE_*: items_q is cmd_count
  logic [15:0]       rem_q, rem_d;
  logic              rem_nz_q, rem_nz_d, rem_one_q, rem_one_d;
  // write items
  logic [1:0]        wbyte_q, wbyte_d;
  logic [31:0]       witem_q, witem_d;
  logic [CELL_W-1:0] wcell_q, wcell_d;         // flat index of the cell written
  logic [31:0]       hp_q, hp_d;               // fault hash of its G+ device
  logic [1:0]        whash_q, whash_d;         // clocks of WHASH
  // operand load
  logic [IX_W-1:0]   ld_cnt_q, ld_cnt_d;
  logic              ld_d_q, ld_d_d;           // 0: loading x, 1: loading d
  logic [LANES*8-1:0] ld_word_q, ld_word_d;
  logic [15:0]       ld_bl_q, ld_bl_d;         // samples left to load after this one
  logic              ld_lastb_q, ld_lastb_d;   // ld_bl_q == 0: the last sample
  logic              ld_last_q, ld_last_d;     // this byte is the last of x (d)
  logic [XA_W-1:0]   ld_xb_q, ld_xb_d;         // its first x word (b * WC)
  logic [DA_W-1:0]   ld_db_q, ld_db_d;         // its first d word (b * WR)
  // init sweep, done
  logic [INIT_W-1:0] init_q, init_d;
  logic              done_q, done_d;
  // phase flags, registered: each is its state's decode of state_q (busy_q: not IDLE), set
  // from the transitions into and out of that state (next_flags below)
  logic              gen_q, gen_d, pass_q, pass_d, out_q, out_d, busy_q, busy_d;
  logic              init_last_q;              // init_q == INIT_N - 1
  // the write hash's key, registered from the next values of its parts (tile, cell,
  // G+ while WRECV / G- else)
  logic [31:0]       wkey_q, wkey_d;

  logic is_trn, is_upd;
  okind_e o_kind;
  always_comb begin
    is_trn = opf_q.trn;
    is_upd = opf_q.upd;
    o_kind = opf_q.rcells ? K_CELLS : opf_q.rrng ? K_RNG : K_READ;
  end

  // ------------------------------------------------------------------ helpers
  function automatic logic [7:0] clamp_code(input logic [7:0] b);
    clamp_code = (b == 8'h80) ? 8'h81 : b;
  endfunction

  // the code a write stores in a device with fault hash h (contract section 3)
  function automatic logic [G_W-1:0] fault_code(input logic [G_W-1:0] c, input logic [31:0] h,
                                                input logic [15:0] rate, input logic [1:0] kind,
                                                input logic [G_W-1:0] cmax);
    logic [1:0]  k;
    // MIXED: ((h & 0xFFFF) * 3) >> 16, as h + 2h (an adder, not a DSP multiply)
    k = (kind == FAULT_MIXED) ? 2'((18'(h[15:0]) + (18'(h[15:0]) << 1)) >> 16) : kind;
    fault_code = c;
    if (h[31:16] < rate) begin
      if (k == FAULT_GMIN) begin
        fault_code = '0;
      end else if (k == FAULT_GMAX) begin
        fault_code = cmax;
      end
    end
  endfunction

  logic unused_cmax;
  assign unused_cmax = ^cfg_cmax_i;     // CMAX < 2^G_W (the register's range)

  // one mix32 for the write path: G+ key while the item's bytes arrive, G- key after; the key
  // register wkey_q is computed from the next state (below), so it holds the key of the
  // current state and the hash of a clock's key is out MIX_LAT clocks later
  localparam int unsigned MIX_LAT = 4;   // memhil_mix32's latency (WHASH lasts MIX_LAT - 1 clocks)
  logic [31:0] wmix_out;
  memhil_mix32 u_wmix (
    .clk     (clk),
    .in_data (wkey_q),
    .out_data(wmix_out)
  );

  // values derived from registers (kept outside the state machine: no block-local variables)
  logic [IX_W:0]      div_rem2;
  logic [LOG_L-1:0]   w_ln, ld_ln;
  logic [LANES*8-1:0] ld_wdata;       // the operand word with this byte in its lane
  logic [CA_W-1:0]    cur_addr;       // word of cell (cur_i, cur_j)
  logic [RRA_W-1:0]   rng_raddr;      // row-state word of LFSR rng_idx
  logic [RCA_W-1:0]   rng_kaddr;      // column-state word of LFSR rng_idx
  always_comb begin
    div_rem2  = {div_rem_q, div_num_q[CELL_W-1]};
    w_ln      = opf_q.wrng ? rng_idx_q[LOG_L-1:0] : cur_j_q[LOG_L-1:0];
    ld_ln     = ld_cnt_q[LOG_L-1:0];
    ld_wdata  = ld_word_q;
    ld_wdata[8 * int'(ld_ln) +: 8] = clamp_code(in_data_i);
    cur_addr  = cur_ra_q + CA_W'(cur_j_q >> LOG_L);
    rng_raddr = base_r_q + RRA_W'(rng_idx_q >> LOG_L);
    rng_kaddr = base_k_q + RCA_W'(rng_idx_q >> LOG_L);
  end

  // ------------------------------------------------------------------ state machine
  always_comb begin
    state_d   = state_q;
    opf_d     = opf_q;
    tile_d    = tile_q;
    apply_d   = apply_q;
    base_c_d  = base_c_q;
    base_r_d  = base_r_q;
    base_k_d  = base_k_q;
    items_d   = items_q;
    nsmp_d    = nsmp_q;
    cstart_d  = cstart_q;
    ccount_d  = ccount_q;
    div_num_d = div_num_q;
    div_rem_d = div_rem_q;
    div_cnt_d = div_cnt_q;
    cur_i_d   = cur_i_q;
    cur_j_d   = cur_j_q;
    cur_ra_d  = cur_ra_q;
    rng_col_d = rng_col_q;
    rng_idx_d = rng_idx_q;
    item_d    = item_q;
    rem_d     = rem_q;
    rem_nz_d  = rem_nz_q;
    rem_one_d = rem_one_q;
    wbyte_d   = wbyte_q;
    witem_d   = witem_q;
    wcell_d   = wcell_q;
    hp_d      = hp_q;
    whash_d   = whash_q;
    ld_cnt_d  = ld_cnt_q;
    ld_d_d    = ld_d_q;
    ld_word_d = ld_word_q;
    ld_bl_d   = ld_bl_q;
    ld_lastb_d = ld_lastb_q;
    ld_last_d = ld_last_q;
    ld_xb_d   = ld_xb_q;
    ld_db_d   = ld_db_q;
    init_d    = init_q;
    done_d    = 1'b0;

    cmd_ready_o = 1'b0;
    in_ready_o  = 1'b0;
    clear_d     = 1'b0;
    start_o     = 1'b0;
    issue_o     = 1'b0;

    unique case (state_q)
      ST_INIT: begin
        init_d = init_q + 1'b1;
        if (init_last_q) begin
          state_d = ST_IDLE;
        end
      end

      ST_IDLE: begin
        // the accept only latches the command (the executor's handshake reaches no decision)
        cmd_ready_o = 1'b1;
        if (cmd_valid_i) begin
          clear_d   = 1'b1;
          opf_d     = '{wcells: cmd_op_i == OP_WRITE_CELLS, wrng: cmd_op_i == OP_WRITE_RNG,
                        rcells: cmd_op_i == OP_READ_CELLS, rrng: cmd_op_i == OP_READ_RNG,
                        trn: cmd_op_i == OP_TRANSPOSE, upd: cmd_op_i == OP_UPDATE,
                        fwd: cmd_op_i == OP_FORWARD};
          tile_d    = cmd_tile_i;
          apply_d   = cmd_apply_i;
          cstart_d  = cmd_start_i;
          ccount_d  = cmd_count_i;
          state_d   = ST_ACC;
        end
      end

      ST_ACC: begin
        // the command's setup from the latched fields and flags
        nsmp_d    = opf_q.upd ? ccount_q : 16'd1;
        base_c_d  = CA_W'(32'(tile_q) * 32'(TILE_WORDS));
        base_r_d  = RRA_W'(32'(tile_q) * 32'(WR));
        base_k_d  = RCA_W'(32'(tile_q) * 32'(WC));
        item_d    = '0;
        wbyte_d   = '0;
        wcell_d   = CELL_W'(cstart_q);
        div_num_d = CELL_W'(cstart_q);
        div_rem_d = '0;
        div_cnt_d = 5'(CELL_W - 1);
        rng_col_d = (cstart_q >= 32'(ROWS));
        rng_idx_d = (cstart_q >= 32'(ROWS)) ? IX_W'(cstart_q - 32'(ROWS)) : IX_W'(cstart_q);
        ld_cnt_d  = '0;
        ld_bl_d   = ccount_q - 16'd1;
        ld_lastb_d = (ccount_q == 16'd1);
        ld_xb_d   = '0;
        ld_db_d   = '0;
        ld_d_d    = opf_q.trn;
        ld_last_d = opf_q.trn ? (ROWS == 1) : (COLS == 1);
        items_d   = opf_q.fwd ? 16'(ROWS) : opf_q.trn ? 16'(COLS) :
                    opf_q.upd ? 16'd1 : ccount_q;
        rem_d     = items_d;
        // (items_d != 0, items_d == 1, the compares side by side with the flags')
        rem_nz_d  = opf_q.fwd ? (ROWS != 0) : opf_q.trn ? (COLS != 0) :
                    opf_q.upd ? 1'b1 : (ccount_q != '0);
        rem_one_d = opf_q.fwd ? (ROWS == 1) : opf_q.trn ? (COLS == 1) :
                    opf_q.upd ? 1'b1 : (ccount_q == 16'd1);
        if (opf_q.wcells || opf_q.rcells) begin
          state_d = ST_DIV;
        end else if (opf_q.wrng) begin
          state_d = ST_WRECV;
        end else if (opf_q.rrng) begin
          state_d = ST_OUT;
        end else if (opf_q.fwd || opf_q.trn || opf_q.upd) begin
          state_d = ST_LOAD;
        end else begin
          state_d = ST_FIN;
        end
      end

      ST_DIV: begin
        // restoring division: i = start / COLS, j = start % COLS, one quotient bit per cycle
        div_num_d = {div_num_q[CELL_W-2:0], 1'b0};
        if (div_rem2 >= (IX_W + 1)'(COLS)) begin
          div_rem_d = IX_W'(div_rem2 - (IX_W + 1)'(COLS));
          div_num_d[0] = 1'b1;
        end else begin
          div_rem_d = IX_W'(div_rem2);
        end
        div_cnt_d = div_cnt_q - 5'd1;
        if (div_cnt_q == 5'd0) begin
          cur_i_d  = IX_W'(div_num_d);
          cur_j_d  = div_rem_d;
          cur_ra_d = base_c_q + CA_W'(32'(div_num_d) * 32'(WC));
          state_d  = opf_q.wcells ? ST_WRECV : ST_OUT;
        end
      end

      ST_WRECV: begin
        in_ready_o = 1'b1;
        if (in_valid_i) begin
          witem_d[8 * int'(wbyte_q) +: 8] = in_data_i;
          wbyte_d = wbyte_q + 2'd1;
          if (wbyte_q == 2'd3) begin
            // this clock's key is G+: its hash is out MIX_LAT clocks later, in WREAD
            whash_d = '0;
            state_d = opf_q.wcells ? ST_WHASH : ST_WREAD;
          end
        end
      end

      ST_WHASH: begin
        whash_d = whash_q + 2'd1;
        if (whash_q == 2'(MIX_LAT - 2)) begin
          state_d = ST_WREAD;
        end
      end

      ST_WREAD: begin
        hp_d    = wmix_out;      // G+ (the key of the last clock of WRECV); unused by WRITE_RNG
        state_d = ST_WWRITE;
      end

      ST_WWRITE: begin
        // advance the cursors
        if (cur_j_q == IX_W'(COLS - 1)) begin
          cur_j_d  = '0;
          cur_i_d  = cur_i_q + 1'b1;
          cur_ra_d = cur_ra_q + CA_W'(WC);
        end else begin
          cur_j_d = cur_j_q + 1'b1;
        end
        if (!rng_col_q && rng_idx_q == IX_W'(ROWS - 1)) begin
          rng_col_d = 1'b1;
          rng_idx_d = '0;
        end else begin
          rng_idx_d = rng_idx_q + 1'b1;
        end
        item_d    = item_q + 16'd1;
        rem_d     = rem_q - 16'd1;
        rem_nz_d  = !rem_one_q;
        rem_one_d = (rem_q == 16'd2);
        wcell_d   = wcell_q + 1'b1;
        state_d   = rem_one_q ? ST_FIN : ST_WRECV;
      end

      ST_LOAD: begin
        in_ready_o = 1'b1;
        if (in_valid_i) begin
          ld_word_d = ld_wdata;
          ld_cnt_d  = ld_cnt_q + 1'b1;
          ld_last_d = ld_d_q ? (ld_cnt_q == IX_W'(ROWS - 2)) : (ld_cnt_q == IX_W'(COLS - 2));
          if (ld_last_q) begin
            ld_cnt_d = '0;
            if (is_upd && !ld_d_q) begin
              ld_d_d    = 1'b1;
              ld_last_d = (ROWS == 1);
            end else if (is_upd && !ld_lastb_q) begin
              ld_d_d     = 1'b0;                     // the next sample's x
              ld_last_d  = (COLS == 1);
              ld_bl_d    = ld_bl_q - 16'd1;
              ld_lastb_d = (ld_bl_q == 16'd1);
              ld_xb_d    = ld_xb_q + XA_W'(WC);
              ld_db_d    = ld_db_q + DA_W'(WR);
            end else begin
              start_o = 1'b1;
              state_d = gen_need_i ? ST_GEN : ST_PASS;
            end
          end
        end
      end

      ST_GEN: begin
        if (gen_done_i) begin
          state_d = ST_PASS;
        end
      end

      ST_PASS: begin
        if (pass_last_i) begin
          state_d = ST_DRAIN;
        end else if (pass_wend_i) begin
          state_d = ST_GEN;
        end
      end

      ST_DRAIN: begin
        if (!pass_busy_i) begin
          state_d   = ST_OUT;
          item_d    = '0;
          rem_d     = items_q;
          rem_nz_d  = (items_q != '0);
          rem_one_d = (items_q == 16'd1);
        end
      end

      ST_OUT: begin
        // producer: one item per cycle while the output path has room
        if (rem_nz_q && out_room_i) begin
          issue_o   = 1'b1;
          item_d    = item_q + 16'd1;
          rem_d     = rem_q - 16'd1;
          rem_nz_d  = !rem_one_q;
          rem_one_d = (rem_q == 16'd2);
          unique case (o_kind)
            K_CELLS: begin
              if (cur_j_q == IX_W'(COLS - 1)) begin
                cur_j_d  = '0;
                cur_i_d  = cur_i_q + 1'b1;
                cur_ra_d = cur_ra_q + CA_W'(WC);
              end else begin
                cur_j_d = cur_j_q + 1'b1;
              end
            end
            K_RNG: begin
              if (!rng_col_q && rng_idx_q == IX_W'(ROWS - 1)) begin
                rng_col_d = 1'b1;
                rng_idx_d = '0;
              end else begin
                rng_idx_d = rng_idx_q + 1'b1;
              end
            end
            default: ;
          endcase
        end
        // (the exit on out_done_i is below, after the case)
      end

      ST_FIN: begin
        done_d  = 1'b1;
        state_d = ST_IDLE;
      end

      default: begin
        state_d = ST_IDLE;
      end
    endcase
    // OUT's exit, the last override of the next state: the wait on the output FIFO
    // (out_done_i, one LUT over flip-flops in memhil_array_out) is then one select in front of
    // state_q; out_q is (state_q == ST_OUT), the registered phase flag
    if (out_q && out_done_i) begin
      state_d = ST_FIN;
    end
  end

  // ------------------------------------------------------------------ next phase flags
  // the decode of state_d, written as the transitions of the state machine above
  logic wrecv_d;
  always_comb begin
    gen_d   = (start_o && gen_need_i) || (state_q == ST_GEN && !gen_done_i) ||
              (state_q == ST_PASS && pass_wend_i);
    pass_d  = (start_o && !gen_need_i) || (state_q == ST_GEN && gen_done_i) ||
              (state_q == ST_PASS && !pass_last_i && !pass_wend_i);
    out_d   = (state_q == ST_ACC && opf_q.rrng) ||
              (state_q == ST_DIV && div_cnt_q == 5'd0 && !opf_q.wcells) ||
              (state_q == ST_DRAIN && !pass_busy_i) ||
              (out_q && !out_done_i);
    busy_d  = !((state_q == ST_IDLE && !cmd_valid_i) || state_q == ST_FIN ||
                (state_q == ST_INIT && init_last_q));
    wrecv_d = (state_q == ST_ACC && opf_q.wrng) ||
              (state_q == ST_DIV && div_cnt_q == 5'd0 && opf_q.wcells) ||
              (state_q == ST_WRECV && !(in_valid_i && wbyte_q == 2'd3)) ||
              (state_q == ST_WWRITE && !rem_one_q);
    wkey_d  = ((32'(tile_d) << HASH_TILE_SHIFT) | (32'(wcell_d) << 1) | {31'd0, !wrecv_d}) ^
              cfg_fault_key_i;
  end

  // ------------------------------------------------------------------ RAM ports
  always_comb begin
    cell_raddr_o  = '0;
    cell_waddr_o  = '0;
    code_we_o     = 1'b0;
    code_wdata_o  = '0;
    rlfsr_raddr_o = '0;
    rlfsr_we_o    = 1'b0;
    rlfsr_waddr_o = '0;
    rlfsr_wdata_o = '0;
    clfsr_raddr_o = '0;
    clfsr_we_o    = 1'b0;
    clfsr_waddr_o = '0;
    clfsr_wdata_o = '0;
    x_we_o        = 1'b0;
    x_waddr_o     = '0;
    d_we_o        = 1'b0;
    d_waddr_o     = '0;
    opnd_wdata_o  = '0;
    raw_raddr_o   = '0;
    tbl_we_o      = tbl_we_i;
    tbl_waddr_o   = tbl_waddr_i;
    tbl_wdata_o   = tbl_wdata_i;
    issue_lane_o  = '0;
    issue_col_o   = 1'b0;

    unique case (state_q)
      ST_INIT: begin
        // clear codes, LFSRs to the reset state, step tables to STEP_RESET
        code_we_o     = (init_q < INIT_W'(CELL_DEPTH));
        cell_waddr_o  = CA_W'(init_q);
        rlfsr_we_o    = (init_q < INIT_W'(RR_DEPTH));
        rlfsr_waddr_o = RRA_W'(init_q);
        clfsr_we_o    = (init_q < INIT_W'(RC_DEPTH));
        clfsr_waddr_o = RCA_W'(init_q);
        for (int l = 0; l < LANES; l++) begin
          rlfsr_wdata_o[l * LFSR_W +: LFSR_W] = LFSR_RESET_STATE;
          clfsr_wdata_o[l * LFSR_W +: LFSR_W] = LFSR_RESET_STATE;
        end
        tbl_we_o    = (init_q < INIT_W'(2 * MAX_LEVELS));
        tbl_waddr_o = 9'(init_q);
        tbl_wdata_o = STEP_RESET;
      end

      ST_WREAD: begin
        cell_raddr_o  = cur_addr;
        rlfsr_raddr_o = rng_raddr;
        clfsr_raddr_o = rng_kaddr;
      end

      ST_WWRITE: begin
        // read-modify-write: the word read in WREAD with the item's lane replaced
        cell_waddr_o  = cur_addr;
        rlfsr_waddr_o = rng_raddr;
        clfsr_waddr_o = rng_kaddr;
        code_wdata_o  = code_rdata_i;
        // (the key of the first clock of WHASH was G-: its hash is out now)
        code_wdata_o[2 * G_W * int'(w_ln) +: 2 * G_W] =
            {fault_code(G_W'(witem_q[31:16]), wmix_out, cfg_fault_rate_i, cfg_fault_kind_i,
                        G_W'(cfg_cmax_i)),
             fault_code(G_W'(witem_q[15:0]), hp_q, cfg_fault_rate_i, cfg_fault_kind_i,
                        G_W'(cfg_cmax_i))};
        rlfsr_wdata_o = rlfsr_rdata_i;
        rlfsr_wdata_o[LFSR_W * int'(w_ln) +: LFSR_W] = witem_q;
        clfsr_wdata_o = clfsr_rdata_i;
        clfsr_wdata_o[LFSR_W * int'(w_ln) +: LFSR_W] = witem_q;
        code_we_o  = opf_q.wcells;
        rlfsr_we_o = opf_q.wrng && !rng_col_q;
        clfsr_we_o = opf_q.wrng && rng_col_q;
      end

      ST_LOAD: begin
        opnd_wdata_o = ld_wdata;
        x_waddr_o    = ld_xb_q + XA_W'(ld_cnt_q >> LOG_L);
        d_waddr_o    = ld_db_q + DA_W'(ld_cnt_q >> LOG_L);
        if (in_valid_i && (ld_ln == LOG_L'(LANES - 1) || ld_last_q)) begin
          x_we_o = !ld_d_q;
          d_we_o = ld_d_q;
        end
      end

      ST_OUT: begin
        // the word of the item the producer issues in this clock
        unique case (o_kind)
          K_CELLS: begin
            cell_raddr_o = cur_addr;
            issue_lane_o = cur_j_q[LOG_L-1:0];
          end
          K_RNG: begin
            rlfsr_raddr_o = rng_raddr;
            clfsr_raddr_o = rng_kaddr;
            issue_lane_o  = rng_idx_q[LOG_L-1:0];
            issue_col_o   = rng_col_q;
          end
          default: begin
            raw_raddr_o   = NWA_W'(item_q >> LOG_L);
            rlfsr_raddr_o = base_r_q + RRA_W'(item_q >> LOG_L);
            clfsr_raddr_o = base_k_q + RCA_W'(item_q >> LOG_L);
            issue_lane_o  = item_q[LOG_L-1:0];
            issue_col_o   = is_trn;
          end
        endcase
      end

      default: ;
    endcase
  end

  assign tile_o     = tile_q;
  assign apply_o    = apply_q;
  assign base_c_o   = base_c_q;
  assign base_r_o   = base_r_q;
  assign base_k_o   = base_k_q;
  assign items_o    = items_q;
  assign nsmp_o     = nsmp_q;
  assign clear_o    = clear_q;
  assign op_fwd_o   = opf_q.fwd;
  assign op_trn_o   = opf_q.trn;
  assign op_upd_o   = opf_q.upd;
  assign op_rcells_o = opf_q.rcells;
  assign op_rrng_o  = opf_q.rrng;
  assign gen_run_o  = gen_q;
  assign pass_run_o = pass_q;
  assign out_run_o  = out_q;
  assign done_o     = done_q;
  assign busy_o     = busy_q;

  // ------------------------------------------------------------------ registers
  always_ff @(posedge clk) begin
    if (!rst_n) begin
      state_q <= ST_INIT;
      init_q  <= '0;
      done_q  <= 1'b0;
      clear_q <= 1'b0;
      gen_q   <= 1'b0;
      pass_q  <= 1'b0;
      out_q   <= 1'b0;
      busy_q  <= 1'b1;
      init_last_q <= (INIT_N == 1);
    end else begin
      state_q <= state_d;
      init_q  <= init_d;
      done_q  <= done_d;
      clear_q <= clear_d;
      gen_q   <= gen_d;
      pass_q  <= pass_d;
      out_q   <= out_d;
      busy_q  <= busy_d;
      init_last_q <= (state_q == ST_INIT) ? (init_q == INIT_W'(INIT_N - 2)) : init_last_q;
    end
  end

  // command registers, cursors: no reset (set when a command is accepted)
  always_ff @(posedge clk) begin
    wkey_q    <= wkey_d;
    opf_q     <= opf_d;
    tile_q    <= tile_d;
    apply_q   <= apply_d;
    base_c_q  <= base_c_d;
    base_r_q  <= base_r_d;
    base_k_q  <= base_k_d;
    items_q   <= items_d;
    nsmp_q    <= nsmp_d;
    cstart_q  <= cstart_d;
    ccount_q  <= ccount_d;
    div_num_q <= div_num_d;
    div_rem_q <= div_rem_d;
    div_cnt_q <= div_cnt_d;
    cur_i_q   <= cur_i_d;
    cur_j_q   <= cur_j_d;
    cur_ra_q  <= cur_ra_d;
    rng_col_q <= rng_col_d;
    rng_idx_q <= rng_idx_d;
    item_q    <= item_d;
    rem_q     <= rem_d;
    rem_nz_q  <= rem_nz_d;
    rem_one_q <= rem_one_d;
    wbyte_q   <= wbyte_d;
    witem_q   <= witem_d;
    wcell_q   <= wcell_d;
    hp_q      <= hp_d;
    whash_q   <= whash_d;
    ld_cnt_q  <= ld_cnt_d;
    ld_d_q    <= ld_d_d;
    ld_word_q <= ld_word_d;
    ld_bl_q   <= ld_bl_d;
    ld_lastb_q <= ld_lastb_d;
    ld_last_q <= ld_last_d;
    ld_xb_q   <= ld_xb_d;
    ld_db_q   <= ld_db_d;
  end

endmodule : memhil_array_ctrl

`resetall
