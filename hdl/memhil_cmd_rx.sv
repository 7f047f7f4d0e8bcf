// SPDX-License-Identifier: MIT
// memhil_cmd_rx: command frame parser (docs/hardware-contract.md section 8).
//
// Hunts for SOF_CMD (other bytes are dropped), reads SEQ, OP and LEN, stores the payload in the
// command buffer (one byte per cycle, through wr_*), then checks the frame in the contract's
// order: CRC (BAD_CRC), opcode (BAD_OP), LEN for the opcode (BAD_LEN). The argument checks
// (tile, index ranges, counts, UPDATE/UPDATE_B flags == APPLY, batch 1 <= B <= BATCH_MAX with
// the answer within MAX_PAYLOAD, and the element values, checked on the fly while the payload
// streams in) give desc_arg_bad_o: the executor reports BAD_ARG only after the replay
// check (a replayed command is not checked again). The descriptor (desc_*) is held until the
// executor pulses desc_done_i; s_axis_tready is low meanwhile, so the buffer is never
// overwritten under the executor. A TLAST on any byte of a frame but its last CRC byte ends it
// with TRUNCATED (SEQ/OP echoed if received, else 0); TLAST elsewhere means nothing. LEN >
// MAX_PAYLOAD (2^PAYLOAD_LOG2, a build parameter) is answered with BAD_LEN as soon as the 3-byte
// LEN is complete. After every frame, good or
// bad, the parser hunts for the next SOF_CMD. Contract v3: READ_ACC / WRITE_ACC (0x14, 0x15) are
// unknown opcodes (BAD_OP).
//
// Timing (100 MHz): the opcode is decoded once, as it arrives, into registered one-hot flags
// (opf_q, also on desc_is_*_o and desc_arr_op_o for the executor), and the frame checks take
// two clocks: stage 1 (ck_*_q, every clock) forms the LEN each opcode needs and the argument
// checks from the fixed fields (each layout's apart from the opcode flags), stage 2 (in
// S_CRC1) selects and compares them; the CRC's low byte is compared as it arrives (S_CRC0). The fields are final from
// the clock after the payload's last byte (S_CRC0), and S_CRC1 always follows at least one
// S_CRC0 clock, so stage 1 has settled when S_CRC1 uses it: the descriptor still appears in
// the clock after the last CRC byte, as before. The descriptor's derived fields (start,
// count, var_off) are stage-1 registers too: exact for every frame that reaches S_CRC1 (the
// only ones the executor reads them for).

`resetall
`default_nettype none

module memhil_cmd_rx
  import memhil_pkg::*;
#(
  parameter int unsigned ROWS  = 8,
  parameter int unsigned COLS  = 8,
  parameter int unsigned TILES = 1,
  parameter int unsigned PAYLOAD_LOG2 = PAYLOAD_LOG2_DEFAULT,   // MAX_PAYLOAD of this build
  parameter int unsigned BATCH_MAX = BATCH_MAX_DEFAULT,         // largest B of this build
  localparam int unsigned BUF_AW = PAYLOAD_LOG2
) (
  input  wire logic              clk,
  input  wire logic              rst_n,

  input  wire logic [7:0]        s_axis_tdata,
  input  wire logic              s_axis_tvalid,
  output logic                   s_axis_tready,
  input  wire logic              s_axis_tlast,

  input  wire logic [15:0]       cfg_cmax_i,

  // command buffer write port
  output logic                   buf_we_o,
  output logic [BUF_AW-1:0]      buf_waddr_o,
  output logic [7:0]             buf_wdata_o,

  // descriptor of the received command, valid until desc_done_i (all registered)
  output logic                   desc_valid_o,
  input  wire logic              desc_done_i,
  output logic [7:0]             desc_status_o,
  output logic                   desc_ok_o,        // desc_status_o == ST_OK
  output logic [7:0]             desc_seq_o,
  output logic [7:0]             desc_op_o,
  output logic [BUF_AW:0]        desc_len_o,
  output logic [7:0]             desc_tile_o,
  output logic [31:0]            desc_start_o,
  output logic [15:0]            desc_count_o,     // COUNT; B of the batched ops; 1 for UPDATE
  output logic [15:0]            desc_addr_o,
  output logic [31:0]            desc_value_o,
  output logic [7:0]             desc_flags_o,
  output logic [BUF_AW:0]        desc_var_off_o,
  output logic                   desc_arg_bad_o,
  // the opcode, decoded (one-hot flags; SEQ and OP, and so these, are final from the clock
  // after the OP byte, several clocks before desc_valid_o rises on a good frame)
  output logic                   desc_is_ping_o,
  output logic                   desc_is_wreg_o,   // WRITE_REG
  output logic                   desc_is_rreg_o,   // READ_REG
  output logic                   desc_is_batch_o,  // FORWARD_B, TRANSPOSE_B (sample by sample)
  output logic                   desc_is_upd_o,    // UPDATE, UPDATE_B
  output logic                   desc_is_read_o,   // FORWARD, TRANSPOSE and their _B forms
  output logic                   desc_is_trn_o,    // TRANSPOSE, TRANSPOSE_B
  output logic [7:0]             desc_arr_op_o,    // the array's opcode (the _B forms' single)
  output logic                   in_frame_o      // a frame is being received (a register:
                                                   // exact rise, falls a clock after the frame)
);

  if (ROWS < 1 || ROWS > MAX_ROWS || COLS < 1 || COLS > MAX_COLS || TILES < 1 ||
      TILES > MAX_TILES) begin : g_bad_param
    $fatal(1, "memhil_cmd_rx: ROWS=%0d COLS=%0d TILES=%0d outside the contract", ROWS, COLS, TILES);
  end
  if (PAYLOAD_LOG2 < PAYLOAD_LOG2_MIN || PAYLOAD_LOG2 > PAYLOAD_LOG2_MAX) begin : g_bad_payload
    $fatal(1, "memhil_cmd_rx: PAYLOAD_LOG2=%0d outside [%0d, %0d]", PAYLOAD_LOG2,
           PAYLOAD_LOG2_MIN, PAYLOAD_LOG2_MAX);
  end
  if (BATCH_MAX < 1 || BATCH_MAX > MAX_BATCH) begin : g_bad_batch
    $fatal(1, "memhil_cmd_rx: BATCH_MAX=%0d outside [1, %0d]", BATCH_MAX, MAX_BATCH);
  end

  localparam int unsigned MAXP = 1 << PAYLOAD_LOG2; // this build's MAX_PAYLOAD
  localparam int unsigned LEN_W = BUF_AW + 1;       // 0 .. MAX_PAYLOAD
  localparam int unsigned NCELLS = ROWS * COLS;
  localparam int unsigned NRNG = ROWS + COLS;
  localparam int unsigned FIX_N = 7;                // fixed payload bytes captured at most
  // the argument checks without multiplies: COUNT * 4 > MAX_PAYLOAD <=> COUNT > MAXP / 4, and
  // B * 2 * ROWS > MAX_PAYLOAD <=> B > floor(MAXP / (2 * ROWS)) (likewise for COLS)
  localparam int unsigned CNT4_MAX = MAXP / 4;
  localparam int unsigned BFWD_MAX = MAXP / (2 * ROWS);
  localparam int unsigned BTRN_MAX = MAXP / (2 * COLS);
  // START + COUNT > LIM <=> START > LIM, or START's low bits (START <= LIM < 2^SW_x) plus COUNT
  // over LIM: a short sum instead of the 33-bit one
  localparam int unsigned SW_C = $clog2(NCELLS + 1);
  localparam int unsigned SW_R = $clog2(NRNG + 1);
  localparam int unsigned SUM_C_W = ((SW_C > 16) ? SW_C : 16) + 1;
  localparam int unsigned SUM_R_W = ((SW_R > 16) ? SW_R : 16) + 1;

  typedef enum logic [3:0] {
    S_HUNT, S_SEQ, S_OP, S_LEN0, S_LEN1, S_LEN2, S_PAY, S_CRC0, S_CRC1, S_DESC
  } state_e;

  // the opcode, decoded as it arrives
  typedef struct packed {
    logic       known;
    logic       ping, wreg, rreg, wcells, rcells, wrng, rrng;
    logic       fwd, trn, fwd_b, trn_b, upd, upd_b;
    logic       batch;      // FORWARD_B, TRANSPOSE_B
    logic       upd_any;    // UPDATE, UPDATE_B
    logic       read;       // FORWARD, TRANSPOSE, FORWARD_B, TRANSPOSE_B
    logic       trn_any;    // TRANSPOSE, TRANSPOSE_B
    logic       cells;      // WRITE_CELLS, READ_CELLS: (tile, u32 start, u16 count) layout
    logic       rng;        // WRITE_RNG, READ_RNG: (tile, u16 start, u16 count) layout
    logic       has_tile;
    logic [7:0] arr_op;
  } opf_t;

  function automatic opf_t decode_op(input logic [7:0] op);
    opf_t f;
    f.ping     = (op == OP_PING);
    f.wreg     = (op == OP_WRITE_REG);
    f.rreg     = (op == OP_READ_REG);
    f.wcells   = (op == OP_WRITE_CELLS);
    f.rcells   = (op == OP_READ_CELLS);
    f.wrng     = (op == OP_WRITE_RNG);
    f.rrng     = (op == OP_READ_RNG);
    f.fwd      = (op == OP_FORWARD);
    f.trn      = (op == OP_TRANSPOSE);
    f.fwd_b    = (op == OP_FORWARD_B);
    f.trn_b    = (op == OP_TRANSPOSE_B);
    f.upd      = (op == OP_UPDATE);
    f.upd_b    = (op == OP_UPDATE_B);
    f.batch    = f.fwd_b || f.trn_b;
    f.upd_any  = f.upd || f.upd_b;
    f.read     = f.fwd || f.trn || f.fwd_b || f.trn_b;
    f.trn_any  = f.trn || f.trn_b;
    f.cells    = f.wcells || f.rcells;
    f.rng      = f.wrng || f.rrng;
    f.has_tile = f.cells || f.rng || f.read || f.upd_any;
    f.known    = f.ping || f.wreg || f.rreg || f.has_tile;
    unique case (op)
      OP_FORWARD_B:   f.arr_op = OP_FORWARD;
      OP_TRANSPOSE_B: f.arr_op = OP_TRANSPOSE;
      OP_UPDATE_B:    f.arr_op = OP_UPDATE;
      default:        f.arr_op = op;
    endcase
    return f;
  endfunction

  state_e            state_q, state_d;
  logic [7:0]        seq_q, seq_d;
  logic [7:0]        op_q, op_d;
  opf_t              opf_q, opf_d;           // op_q decoded
  logic [15:0]       len_lo_q, len_lo_d;     // LEN bytes 0 and 1
  logic [LEN_W-1:0]  len_q, len_d;
  logic [LEN_W-1:0]  cnt_q, cnt_d;           // payload bytes received
  logic [LEN_W-1:0]  left_q, left_d;         // payload bytes still to come
  logic [15:0]       crc_q, crc_d;
  logic              crc_lo_q, crc_lo_d;     // the CRC's low byte (S_CRC0) matched
  logic [7:0]        fix_q [FIX_N];
  logic [7:0]        fix_d [FIX_N];
  logic [FIX_N-1:0]  fix_sel_q, fix_sel_d;   // one-hot: the fixed byte the next payload byte is
  logic [7:0]        prev_q, prev_d;
  logic              nz_q, nz_d;
  logic              elem_bad_q, elem_bad_d;
  logic [7:0]        status_q, status_d;
  logic              ok_q, ok_d;             // status_q == ST_OK
  logic              arg_bad_q, arg_bad_d;

  logic              fire;
  logic              in_frame_q;
  logic [15:0]       crc_next;

  // a byte moves in every state but S_DESC (s_axis_tready low); `fire` is used only in the
  // states where s_axis_tready is high, so it is s_axis_tvalid alone there (no decode of the
  // state on the captures' enables)
  assign fire = s_axis_tvalid;
  assign s_axis_tready = (state_q != S_DESC);

  memhil_crc16 u_crc (
    .crc_i  (crc_q),
    .data_i (s_axis_tdata),
    .crc_o  (crc_next)
  );

  // ---------------------------------------------------------------- fields of the payload
  logic [7:0]        f_tile;
  logic [31:0]       f_start_c;        // READ_CELLS / WRITE_CELLS layout (u32 start, u16 count)
  logic [15:0]       f_count_c;
  logic [15:0]       f_start_r;        // WRITE_RNG / READ_RNG layout (u16 start, u16 count)
  logic [15:0]       f_count_r;
  logic [15:0]       f_batch_rd;       // B of FORWARD_B / TRANSPOSE_B
  logic [15:0]       f_batch_up;       // B of UPDATE_B (after the flags byte)

  assign f_tile     = fix_q[0];
  assign f_start_c  = {fix_q[4], fix_q[3], fix_q[2], fix_q[1]};
  assign f_count_c  = {fix_q[6], fix_q[5]};
  assign f_start_r  = {fix_q[2], fix_q[1]};
  assign f_count_r  = {fix_q[4], fix_q[3]};
  assign f_batch_rd = {fix_q[2], fix_q[1]};
  assign f_batch_up = {fix_q[3], fix_q[2]};

  // ---------------------------------------------------------------- check stage 1 (every clock)
  // The LEN each opcode needs (one-hot AND-OR over the flags), the argument checks that need
  // no sum, the two short range sums, and the descriptor's derived fields.
  logic [31:0]         ck_need_q, ck_need_d;
  // the argument checks but the range sums, in groups: tile and flags, the cells and RNG
  // layouts' counts and starts, the batch sizes
  logic                ck_bad_tf_q, ck_bad_tf_d;
  // the layouts' checks are registered apart from the opcode flags (stage 2 selects them):
  // cells, RNG, FORWARD_B, TRANSPOSE_B, UPDATE_B
  logic                ck_bad_c_q, ck_bad_c_d;
  logic                ck_bad_r_q, ck_bad_r_d;
  logic                ck_bad_fb_q, ck_bad_fb_d;
  logic                ck_bad_tb_q, ck_bad_tb_d;
  logic                ck_bad_ub_q, ck_bad_ub_d;
  logic [SUM_C_W-1:0]  ck_sum_c_q, ck_sum_c_d;       // START (low bits) + COUNT, cells layout
  logic [SUM_R_W-1:0]  ck_sum_r_q, ck_sum_r_d;       // the same, RNG layout
  logic [31:0]         start_q, start_d;
  logic [15:0]         count_q, count_d;
  logic [LEN_W-1:0]    var_off_q, var_off_d;

  always_comb begin
    ck_need_d = ({32{opf_q.wreg}}   & 32'd6) |
                ({32{opf_q.rreg}}   & 32'd2) |
                ({32{opf_q.wcells}} & (32'd7 + {14'h0000, f_count_c, 2'b00})) |
                ({32{opf_q.rcells}} & 32'd7) |
                ({32{opf_q.wrng}}   & (32'd5 + {14'h0000, f_count_r, 2'b00})) |
                ({32{opf_q.rrng}}   & 32'd5) |
                ({32{opf_q.fwd}}    & 32'(1 + COLS)) |
                ({32{opf_q.trn}}    & 32'(1 + ROWS)) |
                ({32{opf_q.upd}}    & 32'(2 + ROWS + COLS)) |
                ({32{opf_q.fwd_b}}  & (32'd3 + 32'(f_batch_rd) * 32'(COLS))) |
                ({32{opf_q.trn_b}}  & (32'd3 + 32'(f_batch_rd) * 32'(ROWS))) |
                ({32{opf_q.upd_b}}  & (32'd4 + 32'(f_batch_up) * 32'(ROWS + COLS)));
    // COUNT 0, START beyond the index space, COUNT * 4 over MAX_PAYLOAD
    ck_bad_c_d  = (f_count_c == 16'h0000) || (f_start_c > 32'(NCELLS)) ||
                  (f_count_c > 16'(CNT4_MAX));
    ck_bad_r_d  = (f_count_r == 16'h0000) || (f_start_r > 16'(NRNG)) ||
                  (f_count_r > 16'(CNT4_MAX));
    // B 0, above BATCH_MAX, or an answer over MAX_PAYLOAD
    ck_bad_fb_d = (f_batch_rd == 16'h0000) || (f_batch_rd > 16'(BATCH_MAX)) ||
                  (32'(f_batch_rd) > 32'(BFWD_MAX));
    ck_bad_tb_d = (f_batch_rd == 16'h0000) || (f_batch_rd > 16'(BATCH_MAX)) ||
                  (32'(f_batch_rd) > 32'(BTRN_MAX));
    ck_bad_ub_d = (f_batch_up == 16'h0000) || (f_batch_up > 16'(BATCH_MAX));
    ck_bad_tf_d = (opf_q.has_tile && (f_tile >= 8'(TILES))) ||
                  // every update applies (contract v3): flags must be exactly APPLY
                  (opf_q.upd_any && (fix_q[1] != 8'h01));
    ck_sum_c_d = SUM_C_W'(f_start_c[SW_C-1:0]) + SUM_C_W'(f_count_c);
    ck_sum_r_d = SUM_R_W'(f_start_r[SW_R-1:0]) + SUM_R_W'(f_count_r);

    // descriptor fields
    start_d = opf_q.rng ? {16'h0000, f_start_r} : f_start_c;
    if (opf_q.upd) begin
      count_d = 16'd1;                     // UPDATE: one sample
    end else if (opf_q.batch) begin
      count_d = f_batch_rd;
    end else if (opf_q.upd_b) begin
      count_d = f_batch_up;
    end else if (opf_q.rng) begin
      count_d = f_count_r;
    end else begin
      count_d = f_count_c;
    end
    // first byte of the variable part
    var_off_d = ({LEN_W{opf_q.wcells}}                & LEN_W'(7)) |
                ({LEN_W{opf_q.wrng}}                  & LEN_W'(5)) |
                ({LEN_W{opf_q.fwd || opf_q.trn}}      & LEN_W'(1)) |
                ({LEN_W{opf_q.upd}}                   & LEN_W'(2)) |
                ({LEN_W{opf_q.batch}}                 & LEN_W'(3)) |
                ({LEN_W{opf_q.upd_b}}                 & LEN_W'(4)) |
                ({LEN_W{!(opf_q.wcells || opf_q.wrng || opf_q.read || opf_q.upd_any)}} & len_q);
  end

  // ---------------------------------------------------------------- check stage 2 (S_CRC1)
  logic        crc_good;
  logic [7:0]  val_status;
  logic        val_ok;
  logic        val_arg_bad;

  always_comb begin
    logic len_good;
    crc_good = crc_lo_q && (s_axis_tdata == crc_q[15:8]);
    len_good = (32'(len_q) == ck_need_q);
    val_ok   = opf_q.known && len_good;
    if (!opf_q.known) begin
      val_status = ST_BAD_OP;
    end else if (!len_good) begin
      val_status = ST_BAD_LEN;
    end else begin
      val_status = ST_OK;
    end
    // BAD_ARG cases (meaningful once the LEN is right)
    val_arg_bad = ck_bad_tf_q ||
                  (opf_q.cells && ck_bad_c_q) || (opf_q.rng && ck_bad_r_q) ||
                  (opf_q.fwd_b && ck_bad_fb_q) || (opf_q.trn_b && ck_bad_tb_q) ||
                  (opf_q.upd_b && ck_bad_ub_q) ||
                  (opf_q.cells && (ck_sum_c_q > SUM_C_W'(NCELLS))) ||
                  (opf_q.rng && (ck_sum_r_q > SUM_R_W'(NRNG))) ||
                  elem_bad_q;
  end

  // ---------------------------------------------------------------- element checks, on the fly
  // WRITE_CELLS: each code (u16 at payload bytes 7 + 2k, 8 + 2k) <= CMAX, judged at its high
  // byte (an even byte index); WRITE_RNG: each state (u32 from byte 5 + 4k) nonzero, judged at
  // its last byte (an index 4k). nz_q: the element's bytes so far are not all zero (RNG layout).
  logic             elem_bad_now;

  always_comb begin
    logic past_c, past_r;
    past_c = (cnt_q[LEN_W-1:3] != '0) || (cnt_q[2:0] == 3'd7);                  // cnt >= 7
    past_r = (cnt_q[LEN_W-1:3] != '0) || (cnt_q[2] && (cnt_q[1:0] != 2'd0));    // cnt >= 5
    elem_bad_now = (opf_q.wcells && past_c && !cnt_q[0] &&
                    ({s_axis_tdata, prev_q} > cfg_cmax_i)) ||
                   (opf_q.wrng && past_r && (cnt_q[1:0] == 2'd0) && !nz_q &&
                    (s_axis_tdata == 8'h00));
  end

  // ---------------------------------------------------------------- state machine
  always_comb begin
    state_d    = state_q;
    seq_d      = seq_q;
    op_d       = op_q;
    opf_d      = opf_q;
    len_lo_d   = len_lo_q;
    len_d      = len_q;
    cnt_d      = cnt_q;
    left_d     = left_q;
    crc_d      = crc_q;
    crc_lo_d   = crc_lo_q;
    fix_d      = fix_q;
    fix_sel_d  = fix_sel_q;
    prev_d     = prev_q;
    nz_d       = nz_q;
    elem_bad_d = elem_bad_q;
    status_d   = status_q;
    ok_d       = ok_q;
    arg_bad_d  = arg_bad_q;
    buf_we_o    = 1'b0;
    buf_waddr_o = cnt_q[BUF_AW-1:0];
    buf_wdata_o = s_axis_tdata;

    unique case (state_q)
      S_HUNT: begin
        if (fire && (s_axis_tdata == SOF_CMD)) begin
          crc_d      = CRC_INIT;
          seq_d      = 8'h00;
          op_d       = 8'h00;
          opf_d      = decode_op(8'h00);
          cnt_d      = '0;
          elem_bad_d = 1'b0;
          arg_bad_d  = 1'b0;
          nz_d       = 1'b0;
          for (int unsigned k = 0; k < FIX_N; k++) fix_d[k] = 8'h00;
          fix_sel_d  = FIX_N'(1);
          if (s_axis_tlast) begin
            status_d = ST_TRUNCATED;
            ok_d     = 1'b0;
            state_d  = S_DESC;
          end else begin
            state_d = S_SEQ;
          end
        end
      end
      S_SEQ, S_OP, S_LEN0: begin
        if (fire) begin
          crc_d = crc_next;
          unique case (state_q)
            S_SEQ:   begin seq_d = s_axis_tdata;    state_d = S_OP;   end
            S_OP:    begin
              op_d    = s_axis_tdata;
              opf_d   = decode_op(s_axis_tdata);
              state_d = S_LEN0;
            end
            default: begin len_lo_d = {8'h00, s_axis_tdata}; state_d = S_LEN1; end
          endcase
          if (s_axis_tlast) begin
            status_d = ST_TRUNCATED;
            ok_d     = 1'b0;
            state_d  = S_DESC;
          end
        end
      end
      S_LEN1: begin
        if (fire) begin
          crc_d = crc_next;
          len_lo_d = {s_axis_tdata, len_lo_q[7:0]};
          state_d = S_LEN2;
          if (s_axis_tlast) begin
            status_d = ST_TRUNCATED;
            ok_d     = 1'b0;
            state_d  = S_DESC;
          end
        end
      end
      S_LEN2: begin
        if (fire) begin
          crc_d = crc_next;
          left_d = LEN_W'({s_axis_tdata, len_lo_q});
          if ({s_axis_tdata, len_lo_q} > 24'(MAXP)) begin
            len_d    = '0;
            status_d = ST_BAD_LEN;
            ok_d     = 1'b0;
            state_d  = S_DESC;
          end else begin
            len_d = LEN_W'({s_axis_tdata, len_lo_q});
            if (s_axis_tlast) begin
              status_d = ST_TRUNCATED;
              ok_d     = 1'b0;
              state_d  = S_DESC;
            end else if ({s_axis_tdata, len_lo_q} == 24'h000000) begin
              state_d = S_CRC0;
            end else begin
              state_d = S_PAY;
            end
          end
        end
      end
      S_PAY: begin
        if (fire) begin
          crc_d    = crc_next;
          buf_we_o = 1'b1;
          // the fixed fields: payload byte cnt_q < FIX_N (fix_sel_q[cnt_q], one-hot)
          for (int unsigned k = 0; k < FIX_N; k++) begin
            if (fix_sel_q[k]) fix_d[k] = s_axis_tdata;
          end
          fix_sel_d = fix_sel_q << 1;
          prev_d = s_axis_tdata;
          nz_d   = (cnt_q[1:0] == 2'd1) ? (s_axis_tdata != 8'h00) :
                                          (nz_q || (s_axis_tdata != 8'h00));
          if (elem_bad_now) elem_bad_d = 1'b1;
          cnt_d  = cnt_q + 1'b1;
          left_d = left_q - 1'b1;
          if (s_axis_tlast) begin
            status_d = ST_TRUNCATED;
            ok_d     = 1'b0;
            state_d  = S_DESC;
          end else if (left_q == LEN_W'(1)) begin
            state_d = S_CRC0;
          end
        end
      end
      S_CRC0: begin
        if (fire) begin
          crc_lo_d = (s_axis_tdata == crc_q[7:0]);   // crc_q is final in S_CRC0
          if (s_axis_tlast) begin
            status_d = ST_TRUNCATED;
            ok_d     = 1'b0;
            state_d  = S_DESC;
          end else begin
            state_d = S_CRC1;
          end
        end
      end
      S_CRC1: begin
        // check stage 2: stage 1 has seen the complete frame in S_CRC0
        if (fire) begin
          status_d  = crc_good ? val_status : ST_BAD_CRC;
          ok_d      = crc_good && val_ok;
          arg_bad_d = val_arg_bad;
          state_d   = S_DESC;
        end
      end
      S_DESC: begin
        if (desc_done_i) state_d = S_HUNT;
      end
      default: state_d = S_HUNT;
    endcase
  end

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      state_q      <= S_HUNT;
      seq_q        <= 8'h00;
      op_q         <= 8'h00;
      opf_q        <= decode_op(8'h00);
      len_lo_q     <= 16'h0000;
      len_q        <= '0;
      cnt_q        <= '0;
      left_q       <= '0;
      crc_q        <= CRC_INIT;
      crc_lo_q     <= 1'b0;
      fix_q        <= '{default: 8'h00};
      fix_sel_q    <= '0;
      prev_q       <= 8'h00;
      nz_q         <= 1'b0;
      elem_bad_q   <= 1'b0;
      status_q     <= ST_OK;
      ok_q         <= 1'b1;
      arg_bad_q    <= 1'b0;
      ck_need_q    <= 32'd0;
      ck_bad_tf_q  <= 1'b0;
      ck_bad_c_q   <= 1'b0;
      ck_bad_r_q   <= 1'b0;
      ck_bad_fb_q  <= 1'b0;
      ck_bad_tb_q  <= 1'b0;
      ck_bad_ub_q  <= 1'b0;
      ck_sum_c_q   <= '0;
      ck_sum_r_q   <= '0;
      start_q      <= 32'd0;
      count_q      <= 16'd0;
      var_off_q    <= '0;
    end else begin
      state_q      <= state_d;
      seq_q        <= seq_d;
      op_q         <= op_d;
      opf_q        <= opf_d;
      len_lo_q     <= len_lo_d;
      len_q        <= len_d;
      cnt_q        <= cnt_d;
      left_q       <= left_d;
      crc_q        <= crc_d;
      crc_lo_q     <= crc_lo_d;
      fix_q        <= fix_d;
      fix_sel_q    <= fix_sel_d;
      prev_q       <= prev_d;
      nz_q         <= nz_d;
      elem_bad_q   <= elem_bad_d;
      status_q     <= status_d;
      ok_q         <= ok_d;
      arg_bad_q    <= arg_bad_d;
      ck_need_q    <= ck_need_d;
      ck_bad_tf_q  <= ck_bad_tf_d;
      ck_bad_c_q   <= ck_bad_c_d;
      ck_bad_r_q   <= ck_bad_r_d;
      ck_bad_fb_q  <= ck_bad_fb_d;
      ck_bad_tb_q  <= ck_bad_tb_d;
      ck_bad_ub_q  <= ck_bad_ub_d;
      ck_sum_c_q   <= ck_sum_c_d;
      ck_sum_r_q   <= ck_sum_r_d;
      start_q      <= start_d;
      count_q      <= count_d;
      var_off_q    <= var_off_d;
    end
  end

  // ---------------------------------------------------------------- descriptor
  assign desc_valid_o    = (state_q == S_DESC);
  assign desc_status_o   = status_q;
  assign desc_ok_o       = ok_q;
  assign desc_seq_o      = seq_q;
  assign desc_op_o       = op_q;
  assign desc_len_o      = len_q;
  assign desc_tile_o     = f_tile;
  assign desc_start_o    = start_q;
  assign desc_count_o    = count_q;
  assign desc_addr_o     = {fix_q[1], fix_q[0]};
  assign desc_value_o    = {fix_q[5], fix_q[4], fix_q[3], fix_q[2]};
  assign desc_flags_o    = fix_q[1];
  assign desc_var_off_o  = var_off_q;
  assign desc_arg_bad_o  = arg_bad_q;
  assign desc_is_ping_o  = opf_q.ping;
  assign desc_is_wreg_o  = opf_q.wreg;
  assign desc_is_rreg_o  = opf_q.rreg;
  assign desc_is_batch_o = opf_q.batch;
  assign desc_is_upd_o   = opf_q.upd_any;
  assign desc_is_read_o  = opf_q.read;
  assign desc_is_trn_o   = opf_q.trn_any;
  assign desc_arr_op_o   = opf_q.arr_op;
  assign in_frame_o      = in_frame_q;

  // in_frame_o as a register (it gates the register file's AXI4-Lite grant): high from the
  // clock the state leaves S_HUNT (exact, from the SOF byte), low from the clock after the
  // state reaches S_DESC (a frame always ends there), so the lock only lasts a clock longer
  always_ff @(posedge clk) begin
    if (!rst_n) begin
      in_frame_q <= 1'b0;
    end else if (state_q == S_HUNT) begin
      in_frame_q <= fire && (s_axis_tdata == SOF_CMD) && !s_axis_tlast;
    end else begin
      in_frame_q <= (state_q != S_DESC);
    end
  end

endmodule

`resetall
