// SPDX-License-Identifier: MIT
// memhil_array: TILES crossbar tiles of ROWS x COLS cells (contract sections 2-6) with their
// command engine. docs/rtl-datapath.md describes the block diagram, the RAM organization, the
// pipelines and the cycle counts.
//
// RAM organization (one word = LANES cells / states / operands, rows padded to WC words):
//   codes   TILES*ROWS*WC  x LANES*(2*G_W)   {c-, c+} per lane          block RAM
//   acc     TILES*ROWS*WC  x LANES*24        signed accumulators        block RAM
//   rlfsr   TILES*WR       x LANES*32        row LFSR states            LUT RAM (block if > 128)
//   clfsr   TILES*WC       x LANES*32        column LFSR states         LUT RAM (block if > 128)
//   xbuf/dbuf  WC / WR     x LANES*8         operand codes (clamped)    LUT RAM
//   rbits/cbits WR / WC    x LANES*WB        stream bits of one sample  LUT RAM
//   raw     max(WR,WC)     x LANES*(Y_W+T_W) read sums before noise/ADC LUT RAM
//   tables  per lane + 1   512 x 16          {dir, k} step tables       block RAM
// A command runs through: [DIV] -> [LOAD] -> [GEN] -> [PASS -> DRAIN] -> [OUT | WRITE].

`resetall
`default_nettype none

module memhil_array
  import memhil_pkg::*;
#(
  parameter int unsigned ROWS  = 8,
  parameter int unsigned COLS  = 8,
  parameter int unsigned TILES = 1,
  parameter int unsigned LANES = 4,
  parameter int unsigned G_W   = 8,
  parameter int unsigned SB    = 8      // stream bits generated per LFSR per clock
) (
  input  wire logic        clk,
  input  wire logic        rst_n,
  // configuration (from the register file; stable while busy)
  input  wire logic [15:0] cfg_cmax,
  input  wire logic [15:0] cfg_c0,
  input  wire logic [3:0]  cfg_sub_bits,
  input  wire logic        cfg_mode,
  input  wire logic [7:0]  cfg_bl,
  input  wire logic [31:0] cfg_lr_q,
  input  wire logic [31:0] cfg_d2d_key,
  input  wire logic [13:0] cfg_c2c_q,
  input  wire logic [13:0] cfg_d2d_q,
  input  wire logic [15:0] cfg_rn_q,
  input  wire logic [4:0]  cfg_adc_shift,
  input  wire logic [4:0]  cfg_adc_bits,
  // step-table port: dir 0 = UP, 1 = DN; rdata one cycle after the address
  input  wire logic        tbl_we,
  input  wire logic        tbl_dir,
  input  wire logic [7:0]  tbl_addr,
  input  wire logic [15:0] tbl_wdata,
  output logic      [15:0] tbl_rdata,
  // command
  input  wire logic        cmd_valid,
  output logic             cmd_ready,
  input  wire logic [7:0]  cmd_op,
  input  wire logic [7:0]  cmd_tile,
  input  wire logic [31:0] cmd_start,
  input  wire logic [15:0] cmd_count,
  input  wire logic        cmd_apply,
  // command payload bytes
  input  wire logic        in_valid,
  output logic             in_ready,
  input  wire logic [7:0]  in_data,
  // response payload bytes
  output logic             out_valid,
  input  wire logic        out_ready,
  output logic      [7:0]  out_data,
  output logic             out_last,
  output logic             done,
  output logic      [31:0] pulses_applied,
  output logic             busy
);

  // ------------------------------------------------------------------ geometry
  localparam int unsigned LOG_L      = $clog2(LANES);
  localparam int unsigned WC         = (COLS + LANES - 1) / LANES;   // words per row
  localparam int unsigned WR         = (ROWS + LANES - 1) / LANES;   // words of row states
  localparam int unsigned TILE_WORDS = ROWS * WC;
  localparam int unsigned CELL_DEPTH = TILES * TILE_WORDS;
  localparam int unsigned RR_DEPTH   = TILES * WR;
  localparam int unsigned RC_DEPTH   = TILES * WC;
  localparam int unsigned NW_MAX     = (WR > WC) ? WR : WC;
  localparam int unsigned CA_W       = (CELL_DEPTH > 1) ? $clog2(CELL_DEPTH) : 1;
  localparam int unsigned RRA_W      = (RR_DEPTH > 1) ? $clog2(RR_DEPTH) : 1;
  localparam int unsigned RCA_W      = (RC_DEPTH > 1) ? $clog2(RC_DEPTH) : 1;
  localparam int unsigned WRA_W      = (WR > 1) ? $clog2(WR) : 1;
  localparam int unsigned WCA_W      = (WC > 1) ? $clog2(WC) : 1;
  localparam int unsigned NWA_W      = (NW_MAX > 1) ? $clog2(NW_MAX) : 1;
  localparam int unsigned CELL_W     = 20;                            // flat cell index
  localparam int unsigned IX_W       = 16;                            // row / column / word
  localparam int unsigned WB         = SB * ((MAX_BL + SB - 1) / SB); // stream bits per LFSR
  localparam int unsigned CNT_W      = $clog2(WB + 1);
  localparam int unsigned Y_W        = 48;                            // read sum (+ noise)
  localparam int unsigned T_W        = 40;                            // read total current
  localparam int unsigned RAW_W      = Y_W + T_W;
  localparam int unsigned CW_W       = LANES * 2 * G_W;
  localparam int unsigned AW_W       = LANES * ACC_BITS;
  localparam int unsigned SW_W       = LANES * LFSR_W;
  localparam int unsigned LAST_LANES = COLS - (WC - 1) * LANES;       // valid lanes of word WC-1
  localparam int unsigned INIT_N0    = (CELL_DEPTH > RR_DEPTH) ? CELL_DEPTH : RR_DEPTH;
  localparam int unsigned INIT_N1    = (INIT_N0 > RC_DEPTH) ? INIT_N0 : RC_DEPTH;
  localparam int unsigned INIT_N     = (INIT_N1 > 2 * MAX_LEVELS) ? INIT_N1 : 2 * MAX_LEVELS;
  localparam int unsigned INIT_W     = $clog2(INIT_N + 1);
  localparam int unsigned LANE_LAT   = 7;                              // memhil_tile_lane
  localparam int unsigned WB_STAGE   = 3 + LANE_LAT;                   // write-back stage
  localparam int unsigned DRAIN_N    = WB_STAGE + 1;
  localparam int unsigned FIFO_D     = 8;

  if (ROWS < 1 || ROWS > MAX_ROWS || COLS < 1 || COLS > MAX_COLS) begin : g_bad_geom
    $fatal(1, "memhil_array: ROWS (%0d) and COLS (%0d) must be in [1, %0d]", ROWS, COLS, MAX_ROWS);
  end
  if (TILES < 1 || TILES > MAX_TILES) begin : g_bad_tiles
    $fatal(1, "memhil_array: TILES (%0d) must be in [1, %0d]", TILES, MAX_TILES);
  end
  if (LANES < 2 || LANES > 32 || (1 << LOG_L) != LANES) begin : g_bad_lanes
    $fatal(1, "memhil_array: LANES (%0d) must be a power of two in [2, 32]", LANES);
  end
  if (G_W < 1 || G_W > MAX_CODE_BITS) begin : g_bad_gw
    $fatal(1, "memhil_array: G_W (%0d) must be in [1, %0d]", G_W, MAX_CODE_BITS);
  end
  if (SB < 1 || SB > 32) begin : g_bad_sb
    $fatal(1, "memhil_array: SB (%0d) must be in [1, 32]", SB);
  end

  // ------------------------------------------------------------------ states
  typedef enum logic [3:0] {
    ST_INIT, ST_IDLE, ST_DIV, ST_WRECV, ST_WREAD, ST_WWRITE,
    ST_LOAD, ST_GEN, ST_PASS, ST_DRAIN, ST_OUT, ST_FIN
  } state_e;

  typedef enum logic [2:0] {G_READ, G_LOAD, G_STREAM, G_EXTRA, G_WRITE} gen_e;

  state_e state_q, state_d;
  gen_e   gph_q, gph_d;

  // command registers
  logic [7:0]      op_q, op_d;
  logic [7:0]      tile_q, tile_d;
  logic            apply_q, apply_d;
  logic [15:0]     count_q, count_d;
  logic [CA_W-1:0] base_c_q, base_c_d;      // first cell word of the tile
  logic [RRA_W-1:0] base_r_q, base_r_d;     // first row-state word of the tile
  logic [RCA_W-1:0] base_k_q, base_k_d;     // first column-state word of the tile
  // division start / COLS
  logic [CELL_W-1:0] div_num_q, div_num_d;
  logic [IX_W-1:0]   div_rem_q, div_rem_d;
  logic [4:0]        div_cnt_q, div_cnt_d;
  // cursors: cells (i, j, row word address) and LFSR states (col?, index)
  logic [IX_W-1:0] cur_i_q, cur_i_d, cur_j_q, cur_j_d;
  logic [CA_W-1:0] cur_ra_q, cur_ra_d;
  logic            rng_col_q, rng_col_d;
  logic [IX_W-1:0] rng_idx_q, rng_idx_d;
  logic [15:0]     item_q, item_d;          // items written / issued
  // write items
  logic [1:0]      wbyte_q, wbyte_d;
  logic [31:0]     witem_q, witem_d;
  // operand load
  logic [IX_W-1:0] ld_cnt_q, ld_cnt_d;
  logic            ld_d_q, ld_d_d;           // 0: loading x, 1: loading d
  logic [LANES*8-1:0] ld_word_q, ld_word_d;
  // generation plan and state
  logic            g_rows_q, g_rows_d, g_cols_q, g_cols_d, g_stream_q, g_stream_d;
  logic            g_extra_q, g_extra_d, g_rd_q, g_rd_d;
  logic            g_sel_q, g_sel_d;         // 0 rows, 1 columns
  logic [IX_W-1:0] g_word_q, g_word_d;
  logic [8:0]      g_t_q, g_t_d;
  logic [LFSR_W-1:0] g_st_q [LANES];
  logic [LFSR_W-1:0] g_st_d [LANES];
  logic [6:0]      g_mag_q [LANES];
  logic [6:0]      g_mag_d [LANES];
  logic [WB-1:0]   g_bits_q [LANES];
  logic [WB-1:0]   g_bits_d [LANES];
  // pass
  logic [IX_W-1:0] p_i_q, p_i_d, p_w_q, p_w_d;
  logic [CA_W-1:0] p_addr_q, p_addr_d, p_ra_q, p_ra_d;
  logic [CELL_W-1:0] p_cell_q, p_cell_d;     // i * COLS
  logic [4:0]      drain_q, drain_d;
  logic [31:0]     pulses_q, pulses_d;
  // output producer and serializer
  logic [15:0]     o_n_q, o_n_d;             // items of the response
  logic [3:0]      credit_q, credit_d;
  logic [15:0]     o_sent_q, o_sent_d;
  logic [1:0]      o_byte_q, o_byte_d;
  logic            o_four_q, o_four_d;       // 4-byte items (else 2)
  logic            done_q, done_d;
  // init sweep
  logic [INIT_W-1:0] init_q, init_d;

  // ------------------------------------------------------------------ RAMs
  logic            cw_we, aw_we, rw_we, kw_we, xw_we, dw_we, rbw_we, cbw_we, raw_we;
  logic [CA_W-1:0] cw_waddr, cw_raddr, aw_waddr, aw_raddr;
  logic [CW_W-1:0] cw_wdata, cw_rdata;
  logic [AW_W-1:0] aw_wdata, aw_rdata;
  logic [RRA_W-1:0] rw_waddr, rw_raddr;
  logic [RCA_W-1:0] kw_waddr, kw_raddr;
  logic [SW_W-1:0] rw_wdata, rw_rdata, kw_wdata, kw_rdata;
  logic [WCA_W-1:0] xw_waddr, xw_raddr, cbw_waddr, cbw_raddr;
  logic [WRA_W-1:0] dw_waddr, dw_raddr, rbw_waddr, rbw_raddr;
  logic [LANES*8-1:0] xw_wdata, xw_rdata, dw_wdata, dw_rdata;
  logic [LANES*WB-1:0] rbw_wdata, rbw_rdata, cbw_wdata, cbw_rdata;
  logic [NWA_W-1:0] raw_waddr, raw_raddr;
  logic [LANES*RAW_W-1:0] raw_wdata, raw_rdata;
  logic            tb_we;
  logic [8:0]      tb_waddr;
  logic [15:0]     tb_wdata;

  memhil_dp_ram #(.DEPTH(CELL_DEPTH), .WIDTH(CW_W), .DISTR(1'b0)) u_codes (
    .clk(clk), .we(cw_we), .waddr(cw_waddr), .wdata(cw_wdata), .raddr(cw_raddr), .rdata(cw_rdata));
  memhil_dp_ram #(.DEPTH(CELL_DEPTH), .WIDTH(AW_W), .DISTR(1'b0)) u_acc (
    .clk(clk), .we(aw_we), .waddr(aw_waddr), .wdata(aw_wdata), .raddr(aw_raddr), .rdata(aw_rdata));
  // LFSR states: small (TILES * ROWS / LANES words), so LUT RAM unless there are many tiles
  memhil_dp_ram #(.DEPTH(RR_DEPTH), .WIDTH(SW_W), .DISTR(RR_DEPTH <= 128)) u_rlfsr (
    .clk(clk), .we(rw_we), .waddr(rw_waddr), .wdata(rw_wdata), .raddr(rw_raddr), .rdata(rw_rdata));
  memhil_dp_ram #(.DEPTH(RC_DEPTH), .WIDTH(SW_W), .DISTR(RC_DEPTH <= 128)) u_clfsr (
    .clk(clk), .we(kw_we), .waddr(kw_waddr), .wdata(kw_wdata), .raddr(kw_raddr), .rdata(kw_rdata));
  memhil_dp_ram #(.DEPTH(WC), .WIDTH(LANES * 8), .DISTR(1'b1)) u_xbuf (
    .clk(clk), .we(xw_we), .waddr(xw_waddr), .wdata(xw_wdata), .raddr(xw_raddr), .rdata(xw_rdata));
  memhil_dp_ram #(.DEPTH(WR), .WIDTH(LANES * 8), .DISTR(1'b1)) u_dbuf (
    .clk(clk), .we(dw_we), .waddr(dw_waddr), .wdata(dw_wdata), .raddr(dw_raddr), .rdata(dw_rdata));
  memhil_dp_ram #(.DEPTH(WR), .WIDTH(LANES * WB), .DISTR(1'b1)) u_rbits (
    .clk(clk), .we(rbw_we), .waddr(rbw_waddr), .wdata(rbw_wdata), .raddr(rbw_raddr), .rdata(rbw_rdata));
  memhil_dp_ram #(.DEPTH(WC), .WIDTH(LANES * WB), .DISTR(1'b1)) u_cbits (
    .clk(clk), .we(cbw_we), .waddr(cbw_waddr), .wdata(cbw_wdata), .raddr(cbw_raddr), .rdata(cbw_rdata));
  memhil_dp_ram #(.DEPTH(NW_MAX), .WIDTH(LANES * RAW_W), .DISTR(1'b1)) u_raw (
    .clk(clk), .we(raw_we), .waddr(raw_waddr), .wdata(raw_wdata), .raddr(raw_raddr), .rdata(raw_rdata));
  // the register file's copy of the step tables
  memhil_dp_ram #(.DEPTH(2 * MAX_LEVELS), .WIDTH(16), .DISTR(1'b0)) u_tbl_rd (
    .clk(clk), .we(tb_we), .waddr(tb_waddr), .wdata(tb_wdata), .raddr({tbl_dir, tbl_addr}),
    .rdata(tbl_rdata));

  // ------------------------------------------------------------------ helpers
  function automatic logic [7:0] clamp_code(input logic [7:0] b);
    clamp_code = (b == 8'h80) ? 8'h81 : b;
  endfunction

  function automatic logic [6:0] mag7(input logic [7:0] b);
    mag7 = b[7] ? 7'(-b) : b[6:0];
  endfunction

  function automatic logic [LANES-1:0] lane_mask(input logic [IX_W-1:0] w);
    lane_mask = (w == IX_W'(WC - 1)) ? LANES'((1 << LAST_LANES) - 1) : '1;
  endfunction

  // ------------------------------------------------------------------ LFSR leaps (generation)
  logic [SB-1:0][LFSR_W-1:0] g_leap [LANES];
  logic [LFSR_W-1:0]         g_adv_apply [LANES];
  logic [LFSR_W-1:0]         g_adv_read [LANES];
  for (genvar l = 0; l < LANES; l++) begin : g_gen_lane
    memhil_lfsr #(.STEPS(LFSR_STREAM_STEPS), .OUTS(SB)) u_leap (
      .in_state(g_st_q[l]), .out_states(g_leap[l]));
    memhil_lfsr #(.STEPS(LFSR_APPLY_STEPS), .OUTS(1)) u_adv_apply (
      .in_state(g_st_q[l]), .out_states(g_adv_apply[l]));
    memhil_lfsr #(.STEPS(LFSR_READ_STEPS), .OUTS(1)) u_adv_read (
      .in_state(g_st_q[l]), .out_states(g_adv_read[l]));
  end

  // ------------------------------------------------------------------ pass pipeline
  typedef struct packed {
    logic              valid;
    logic [CA_W-1:0]   addr;
    logic [IX_W-1:0]   i;
    logic [IX_W-1:0]   w;
    logic [CELL_W-1:0] cellix;      // flat index of lane 0
    logic [LANES-1:0]  lanes;
    logic              row_first;
    logic              row_last;
    logic              blk_first;
    logic              blk_last;
  } meta_t;

  meta_t m0;
  meta_t m_q [1:WB_STAGE];

  // stage 1 -> 2 per-lane registers
  logic signed [31:0] s2_prod_q [LANES];
  logic [31:0]        s2_tprod_q [LANES];
  logic signed [15:0] s2_incr_q [LANES];
  logic [WB-1:0]      s2_and_q [LANES];
  logic               s2_neg_q [LANES];
  logic               s2_zero_q [LANES];
  logic signed [ACC_BITS-1:0] s2_acc_q [LANES];
  logic [G_W-1:0]     s2_cp_q [LANES];
  logic [G_W-1:0]     s2_cm_q [LANES];
  logic [31:0]        s2_r_q [LANES];
  // stage 2 -> 3
  logic signed [ACC_BITS-1:0] s3_acc_q [LANES];
  logic [G_W-1:0]     s3_cp_q [LANES];
  logic [G_W-1:0]     s3_cm_q [LANES];
  logic [31:0]        s3_r_q [LANES];
  logic signed [Y_W-1:0] s3_prod_q [LANES];
  logic [T_W-1:0]     s3_tprod_q [LANES];
  logic signed [Y_W-1:0] s3_ysum_q;
  logic [T_W-1:0]     s3_tsum_q;
  // read accumulators
  logic signed [Y_W-1:0] y_acc_q, y_acc_d;
  logic [T_W-1:0]     t_acc_q, t_acc_d;
  logic signed [Y_W-1:0] z_acc_q [LANES];
  logic signed [Y_W-1:0] z_acc_d [LANES];
  logic [T_W-1:0]     zt_acc_q [LANES];
  logic [T_W-1:0]     zt_acc_d [LANES];
  logic [LANES*RAW_W-1:0] coll_q, coll_d;
  // lane outputs (stage WB_STAGE)
  logic [G_W-1:0]     l_cp [LANES];
  logic [G_W-1:0]     l_cm [LANES];
  logic signed [ACC_BITS-1:0] l_acc [LANES];
  logic [7:0]         l_n [LANES];

  logic is_fwd, is_trn, is_upd;
  assign is_fwd = (op_q == OP_FORWARD);
  assign is_trn = (op_q == OP_TRANSPOSE);
  assign is_upd = (op_q == OP_UPDATE);

  // stage 1: RAM words of m_q[1] are on the read ports
  logic [7:0]       s1_d;
  logic [31:0]      s1_ri;
  logic [WB-1:0]    s1_rb;
  logic signed [31:0] s2_prod_d [LANES];
  logic [31:0]        s2_tprod_d [LANES];
  logic signed [15:0] s2_incr_d [LANES];
  logic [WB-1:0]      s2_and_d [LANES];
  logic               s2_neg_d [LANES];
  logic               s2_zero_d [LANES];
  logic signed [ACC_BITS-1:0] s2_acc_d [LANES];
  logic [G_W-1:0]     s2_cp_d [LANES];
  logic [G_W-1:0]     s2_cm_d [LANES];
  logic [31:0]        s2_r_d [LANES];
  always_comb begin
    s1_d  = dw_rdata[8 * int'(m_q[1].i[LOG_L-1:0]) +: 8];
    s1_ri = rw_rdata[LFSR_W * int'(m_q[1].i[LOG_L-1:0]) +: LFSR_W];
    s1_rb = rbw_rdata[WB * int'(m_q[1].i[LOG_L-1:0]) +: WB];
    for (int l = 0; l < LANES; l++) begin
      logic [G_W-1:0] cp, cm;
      logic [7:0]     xv, vv;
      cp = cw_rdata[l * 2 * G_W +: G_W];
      cm = cw_rdata[l * 2 * G_W + G_W +: G_W];
      xv = xw_rdata[l * 8 +: 8];
      vv = is_fwd ? xv : s1_d;
      s2_prod_d[l]  = ($signed({15'd0, 17'(cp)}) - $signed({15'd0, 17'(cm)})) * 32'($signed(vv));
      s2_tprod_d[l] = 32'(mag7(vv)) * (32'(cp) + 32'(cm) + 32'(cfg_c0) + 32'(cfg_c0));
      s2_incr_d[l]  = 16'($signed(xv)) * 16'($signed(s1_d));
      s2_and_d[l]   = s1_rb & cbw_rdata[l * WB +: WB];
      s2_neg_d[l]   = xv[7] ^ s1_d[7];
      s2_zero_d[l]  = (xv == 8'd0) || (s1_d == 8'd0);
      s2_acc_d[l]   = aw_rdata[l * ACC_BITS +: ACC_BITS];
      s2_cp_d[l]    = cp;
      s2_cm_d[l]    = cm;
      s2_r_d[l]     = s1_ri ^ kw_rdata[l * LFSR_W +: LFSR_W];
    end
  end

  // stage 2: coincidences, accumulate, lane sums
  logic signed [ACC_BITS-1:0] s3_acc_d [LANES];
  logic signed [Y_W-1:0] s3_prod_d [LANES];
  logic [T_W-1:0]        s3_tprod_d [LANES];
  logic signed [Y_W-1:0] s3_ysum_d;
  logic [T_W-1:0]        s3_tsum_d;
  logic [CNT_W-1:0] s2_cnt [LANES];
  for (genvar l = 0; l < LANES; l++) begin : g_pop
    memhil_dp_popcount #(.N(WB), .CNT_W(CNT_W)) u_pop (.in_bits(s2_and_q[l]), .count(s2_cnt[l]));
  end

  always_comb begin
    s3_ysum_d = '0;
    s3_tsum_d = '0;
    for (int l = 0; l < LANES; l++) begin
      logic [CNT_W-1:0] cnt;
      logic signed [25:0] inc, sum;
      cnt = s2_cnt[l];
      if (cfg_mode == MODE_COINCIDENCE) begin
        inc = s2_zero_q[l] ? 26'sd0 : (s2_neg_q[l] ? -$signed(26'(cnt)) : $signed(26'(cnt)));
      end else begin
        inc = 26'(s2_incr_q[l]);
      end
      sum = 26'(s2_acc_q[l]) + inc;
      if (sum > 26'sd8388607) begin
        s3_acc_d[l] = 24'sd8388607;
      end else if (sum < -26'sd8388608) begin
        s3_acc_d[l] = -24'sd8388608;
      end else begin
        s3_acc_d[l] = ACC_BITS'(sum);
      end
      if (m_q[2].lanes[l]) begin
        s3_prod_d[l]  = Y_W'(s2_prod_q[l]);
        s3_tprod_d[l] = T_W'(s2_tprod_q[l]);
      end else begin
        s3_prod_d[l]  = '0;
        s3_tprod_d[l] = '0;
      end
      s3_ysum_d = s3_ysum_d + s3_prod_d[l];
      s3_tsum_d = s3_tsum_d + s3_tprod_d[l];
    end
  end

  always_ff @(posedge clk) begin
    s2_prod_q  <= s2_prod_d;
    s2_tprod_q <= s2_tprod_d;
    s2_incr_q  <= s2_incr_d;
    s2_and_q   <= s2_and_d;
    s2_neg_q   <= s2_neg_d;
    s2_zero_q  <= s2_zero_d;
    s2_acc_q   <= s2_acc_d;
    s2_cp_q    <= s2_cp_d;
    s2_cm_q    <= s2_cm_d;
    s2_r_q     <= s2_r_d;
    s3_acc_q   <= s3_acc_d;
    s3_cp_q    <= s2_cp_q;
    s3_cm_q    <= s2_cm_q;
    s3_r_q     <= s2_r_q;
    s3_prod_q  <= s3_prod_d;
    s3_tprod_q <= s3_tprod_d;
    s3_ysum_q  <= s3_ysum_d;
    s3_tsum_q  <= s3_tsum_d;
  end

  // stage 3: read accumulators and raw-sum buffer
  logic signed [Y_W-1:0] s3_ynew;
  logic [T_W-1:0]        s3_tnew;
  always_comb begin
    y_acc_d  = y_acc_q;
    t_acc_d  = t_acc_q;
    z_acc_d  = z_acc_q;
    zt_acc_d = zt_acc_q;
    coll_d   = coll_q;
    raw_we   = 1'b0;
    raw_waddr = '0;
    raw_wdata = coll_q;
    s3_ynew  = (m_q[3].row_first ? '0 : y_acc_q) + s3_ysum_q;
    s3_tnew  = (m_q[3].row_first ? '0 : t_acc_q) + s3_tsum_q;
    if (m_q[3].valid && is_fwd) begin
      y_acc_d = s3_ynew;
      t_acc_d = s3_tnew;
      if (m_q[3].row_last) begin
        coll_d[RAW_W * int'(m_q[3].i[LOG_L-1:0]) +: RAW_W] = {s3_tnew, s3_ynew};
        if (m_q[3].i[LOG_L-1:0] == LOG_L'(LANES - 1) || m_q[3].i == IX_W'(ROWS - 1)) begin
          raw_we    = 1'b1;
          raw_waddr = NWA_W'(m_q[3].i >> LOG_L);
          raw_wdata = coll_d;
        end
      end
    end
    if (m_q[3].valid && is_trn) begin
      for (int l = 0; l < LANES; l++) begin
        z_acc_d[l]  = (m_q[3].blk_first ? '0 : z_acc_q[l]) + s3_prod_q[l];
        zt_acc_d[l] = (m_q[3].blk_first ? '0 : zt_acc_q[l]) + s3_tprod_q[l];
        raw_wdata[RAW_W * l +: RAW_W] = {zt_acc_d[l], z_acc_d[l]};
      end
      if (m_q[3].blk_last) begin
        raw_we    = 1'b1;
        raw_waddr = NWA_W'(m_q[3].w);
      end
    end
  end

  // stage 3 -> WB_STAGE: update lanes
  for (genvar l = 0; l < LANES; l++) begin : g_lane
    memhil_tile_lane #(.G_W(G_W), .CELL_W(CELL_W)) u_lane (
      .clk         (clk),
      .tbl_we      (tb_we),
      .tbl_waddr   (tb_waddr),
      .tbl_wdata   (tb_wdata),
      .cfg_cmax    (cfg_cmax),
      .cfg_sub_bits(cfg_sub_bits),
      .cfg_mode    (cfg_mode),
      .cfg_lr_q    (cfg_lr_q),
      .cfg_d2d_key (cfg_d2d_key),
      .cfg_c2c_q   (cfg_c2c_q),
      .cfg_d2d_q   (cfg_d2d_q),
      .tile        (tile_q),
      .apply       (apply_q),
      .in_valid    (m_q[3].valid && m_q[3].lanes[l] && is_upd),
      .in_acc      (s3_acc_q[l]),
      .in_cp       (s3_cp_q[l]),
      .in_cm       (s3_cm_q[l]),
      .in_r        (s3_r_q[l]),
      .in_cell     (m_q[3].cellix + CELL_W'(l)),
      .out_cp      (l_cp[l]),
      .out_cm      (l_cm[l]),
      .out_acc     (l_acc[l]),
      .out_n       (l_n[l])
    );
  end

  logic [9 + LOG_L:0] wb_n;
  logic [CW_W-1:0]    wb_codes;
  logic [AW_W-1:0]    wb_acc;
  logic               wb_we;
  always_comb begin
    wb_n = '0;
    for (int l = 0; l < LANES; l++) begin
      wb_n = wb_n + (10 + LOG_L)'(l_n[l]);
      wb_codes[l * 2 * G_W +: 2 * G_W] = {l_cm[l], l_cp[l]};
      wb_acc[l * ACC_BITS +: ACC_BITS] = l_acc[l];
    end
    wb_we = m_q[WB_STAGE].valid && is_upd;
  end

  // ------------------------------------------------------------------ output producer
  typedef enum logic [1:0] {K_READ, K_CELLS, K_ACC, K_RNG} okind_e;
  typedef struct packed {
    logic             valid;
    logic [LOG_L-1:0] lane;
    logic             col;
  } ometa_t;

  ometa_t o0;
  ometa_t o1_q;
  logic [31:0]           o_item0;                // item known at issue (UPDATE pulses)
  logic [31:0]           o1_item0_q;
  logic                  o_issue;
  okind_e                o_kind;

  // o1: lane select, p = RN_Q * T
  logic [31:0]           o1_item;
  logic signed [Y_W-1:0] o1_y;
  logic [T_W-1:0]        o1_t;
  logic [7:0]            o1_s;
  logic [39:0]           o1_p;      // (RN_Q * T) >> 16
  always_comb begin
    logic [RAW_W-1:0] raw;
    logic [31:0]      st;
    raw  = raw_rdata[RAW_W * int'(o1_q.lane) +: RAW_W];
    o1_y = raw[Y_W-1:0];
    o1_t = raw[Y_W +: T_W];
    st   = o1_q.col ? kw_rdata[LFSR_W * int'(o1_q.lane) +: LFSR_W]
                    : rw_rdata[LFSR_W * int'(o1_q.lane) +: LFSR_W];
    o1_s = st[7:0];
    o1_p = 40'((56'(cfg_rn_q) * 56'(o1_t)) >> RN_FRAC);
    unique case (o_kind)
      K_CELLS: o1_item = {16'(cw_rdata[2 * G_W * int'(o1_q.lane) + G_W +: G_W]),
                          16'(cw_rdata[2 * G_W * int'(o1_q.lane) +: G_W])};
      K_ACC:   o1_item = 32'($signed(aw_rdata[ACC_BITS * int'(o1_q.lane) +: ACC_BITS]));
      K_RNG:   o1_item = st;
      default: o1_item = o1_item0_q;
    endcase
  end

  logic                  o2_valid_q, o3_valid_q, o4_valid_q;
  logic [31:0]           o2_item_q, o3_item_q, o4_item_q;
  logic signed [Y_W-1:0] o2_y_q, o3_y_q;
  logic [39:0]           o2_p_q;
  logic signed [10:0]    o2_g_q;
  logic signed [51:0]    o3_nz_q;

  logic signed [Y_W-1:0] o3_yn, o3_ys;
  logic signed [Y_W-1:0] o3_lo, o3_hi;
  logic [15:0]           o3_adc;
  always_comb begin
    o3_yn = o3_y_q + Y_W'(o3_nz_q >>> 8);
    o3_ys = (o3_yn + $signed(Y_W'((64'd1 << cfg_adc_shift) >> 1))) >>> cfg_adc_shift;
    o3_hi = Y_W'((64'sd1 <<< (cfg_adc_bits - 5'd1)) - 64'sd1);
    o3_lo = -Y_W'(64'sd1 <<< (cfg_adc_bits - 5'd1));
    if (o3_ys > o3_hi) begin
      o3_adc = 16'(o3_hi);
    end else if (o3_ys < o3_lo) begin
      o3_adc = 16'(o3_lo);
    end else begin
      o3_adc = 16'(o3_ys);
    end
  end

  always_ff @(posedge clk) begin
    o1_item0_q <= o_item0;
    o2_item_q  <= o1_item;
    o2_y_q     <= o1_y;
    o2_p_q     <= o1_p;
    o2_g_q     <= gauss_lut(o1_s);
    o3_item_q  <= o2_item_q;
    o3_y_q     <= o2_y_q;
    o3_nz_q    <= 52'($signed({1'b0, o2_p_q})) * 52'(o2_g_q);
    o4_item_q  <= (o_kind == K_READ && !is_upd) ? {16'd0, o3_adc} : o3_item_q;
  end

  // FIFO of response items
  logic [31:0]  fifo_q [FIFO_D];
  logic [2:0]   f_wp_q, f_rp_q;
  logic [3:0]   f_cnt_q;
  logic         f_push, f_pop;
  logic [31:0]  f_head;
  assign f_push = o4_valid_q;
  assign f_head = fifo_q[f_rp_q];

  always_ff @(posedge clk) begin
    if (f_push) begin
      fifo_q[f_wp_q] <= o4_item_q;
    end
  end

  // ------------------------------------------------------------------ control
  // values the state machine derives from registers (kept outside it: no block-local variables)
  logic [IX_W:0]      div_rem2;
  logic [LOG_L-1:0]   w_ln, ld_ln;
  logic               ld_last;
  logic [8:0]         g_rem;
  logic [SB-1:0]      g_fire [LANES];
  always_comb begin
    div_rem2 = {div_rem_q, div_num_q[CELL_W-1]};
    w_ln     = (op_q == OP_WRITE_RNG) ? rng_idx_q[LOG_L-1:0] : cur_j_q[LOG_L-1:0];
    ld_ln    = ld_cnt_q[LOG_L-1:0];
    ld_last  = ld_d_q ? (ld_cnt_q == IX_W'(ROWS - 1)) : (ld_cnt_q == IX_W'(COLS - 1));
    g_rem    = 9'(cfg_bl) - g_t_q;
    for (int l = 0; l < LANES; l++) begin
      for (int b = 0; b < SB; b++) begin
        g_fire[l][b] = (9'(b) < g_rem) && (g_leap[l][b][6:0] < g_mag_q[l]);
      end
    end
  end

  always_comb begin
    state_d   = state_q;
    gph_d     = gph_q;
    op_d      = op_q;
    tile_d    = tile_q;
    apply_d   = apply_q;
    count_d   = count_q;
    base_c_d  = base_c_q;
    base_r_d  = base_r_q;
    base_k_d  = base_k_q;
    div_num_d = div_num_q;
    div_rem_d = div_rem_q;
    div_cnt_d = div_cnt_q;
    cur_i_d   = cur_i_q;
    cur_j_d   = cur_j_q;
    cur_ra_d  = cur_ra_q;
    rng_col_d = rng_col_q;
    rng_idx_d = rng_idx_q;
    item_d    = item_q;
    wbyte_d   = wbyte_q;
    witem_d   = witem_q;
    ld_cnt_d  = ld_cnt_q;
    ld_d_d    = ld_d_q;
    ld_word_d = ld_word_q;
    g_rows_d  = g_rows_q;
    g_cols_d  = g_cols_q;
    g_stream_d = g_stream_q;
    g_extra_d = g_extra_q;
    g_rd_d    = g_rd_q;
    g_sel_d   = g_sel_q;
    g_word_d  = g_word_q;
    g_t_d     = g_t_q;
    g_st_d    = g_st_q;
    g_mag_d   = g_mag_q;
    g_bits_d  = g_bits_q;
    p_i_d     = p_i_q;
    p_w_d     = p_w_q;
    p_addr_d  = p_addr_q;
    p_ra_d    = p_ra_q;
    p_cell_d  = p_cell_q;
    drain_d   = drain_q;
    pulses_d  = pulses_q;
    o_n_d     = o_n_q;
    credit_d  = credit_q;
    o_sent_d  = o_sent_q;
    o_byte_d  = o_byte_q;
    o_four_d  = o_four_q;
    done_d    = 1'b0;
    init_d    = init_q;

    cmd_ready = 1'b0;
    in_ready  = 1'b0;

    // RAM port defaults
    cw_we = 1'b0; cw_waddr = '0; cw_wdata = '0; cw_raddr = '0;
    aw_we = 1'b0; aw_waddr = '0; aw_wdata = '0; aw_raddr = '0;
    rw_we = 1'b0; rw_waddr = '0; rw_wdata = '0; rw_raddr = '0;
    kw_we = 1'b0; kw_waddr = '0; kw_wdata = '0; kw_raddr = '0;
    xw_we = 1'b0; xw_waddr = '0; xw_wdata = '0; xw_raddr = '0;
    dw_we = 1'b0; dw_waddr = '0; dw_wdata = '0; dw_raddr = '0;
    rbw_we = 1'b0; rbw_waddr = '0; rbw_raddr = '0;
    cbw_we = 1'b0; cbw_waddr = '0; cbw_raddr = '0;
    raw_raddr = '0;
    tb_we = tbl_we; tb_waddr = {tbl_dir, tbl_addr}; tb_wdata = tbl_wdata;
    for (int l = 0; l < LANES; l++) begin
      rbw_wdata[l * WB +: WB] = g_bits_q[l];
      cbw_wdata[l * WB +: WB] = g_bits_q[l];
    end

    m0 = '0;
    o0 = '0;
    o_issue = 1'b0;
    o_item0 = pulses_q;
    o_kind  = K_READ;
    unique case (op_q)
      OP_READ_CELLS: o_kind = K_CELLS;
      OP_READ_ACC:   o_kind = K_ACC;
      OP_READ_RNG:   o_kind = K_RNG;
      default:       o_kind = K_READ;
    endcase

    // pass write-back (runs through PASS and DRAIN)
    if (wb_we) begin
      cw_we    = 1'b1;
      cw_waddr = m_q[WB_STAGE].addr;
      cw_wdata = wb_codes;
      aw_we    = 1'b1;
      aw_waddr = m_q[WB_STAGE].addr;
      aw_wdata = wb_acc;
      pulses_d = pulses_q + 32'(wb_n);
    end

    unique case (state_q)
      ST_INIT: begin
        // clear codes and accumulators, LFSRs to the reset state, step tables to STEP_RESET
        cw_we = (init_q < INIT_W'(CELL_DEPTH));
        cw_waddr = CA_W'(init_q);
        aw_we = cw_we;
        aw_waddr = CA_W'(init_q);
        rw_we = (init_q < INIT_W'(RR_DEPTH));
        rw_waddr = RRA_W'(init_q);
        kw_we = (init_q < INIT_W'(RC_DEPTH));
        kw_waddr = RCA_W'(init_q);
        for (int l = 0; l < LANES; l++) begin
          rw_wdata[l * LFSR_W +: LFSR_W] = LFSR_RESET_STATE;
          kw_wdata[l * LFSR_W +: LFSR_W] = LFSR_RESET_STATE;
        end
        tb_we = (init_q < INIT_W'(2 * MAX_LEVELS));
        tb_waddr = 9'(init_q);
        tb_wdata = STEP_RESET;
        init_d = init_q + 1'b1;
        if (init_q == INIT_W'(INIT_N - 1)) begin
          state_d = ST_IDLE;
        end
      end

      ST_IDLE: begin
        cmd_ready = 1'b1;
        if (cmd_valid) begin
          op_d     = cmd_op;
          tile_d   = cmd_tile;
          apply_d  = cmd_apply;
          count_d  = cmd_count;
          base_c_d = CA_W'(32'(cmd_tile) * 32'(TILE_WORDS));
          base_r_d = RRA_W'(32'(cmd_tile) * 32'(WR));
          base_k_d = RCA_W'(32'(cmd_tile) * 32'(WC));
          item_d   = '0;
          wbyte_d  = '0;
          pulses_d = '0;
          div_num_d = CELL_W'(cmd_start);
          div_rem_d = '0;
          div_cnt_d = 5'(CELL_W - 1);
          rng_col_d = (cmd_start >= 32'(ROWS));
          rng_idx_d = (cmd_start >= 32'(ROWS)) ? IX_W'(cmd_start - 32'(ROWS)) : IX_W'(cmd_start);
          ld_cnt_d = '0;
          ld_d_d   = (cmd_op == OP_TRANSPOSE);
          o_sent_d = '0;
          o_byte_d = '0;
          credit_d = 4'(FIFO_D);
          o_four_d = !(cmd_op == OP_FORWARD || cmd_op == OP_TRANSPOSE);
          o_n_d    = (cmd_op == OP_FORWARD) ? 16'(ROWS) :
                     (cmd_op == OP_TRANSPOSE) ? 16'(COLS) :
                     (cmd_op == OP_UPDATE) ? 16'd1 : cmd_count;
          unique case (cmd_op)
            OP_WRITE_CELLS, OP_READ_CELLS, OP_READ_ACC, OP_WRITE_ACC: state_d = ST_DIV;
            OP_WRITE_RNG:                                 state_d = ST_WRECV;
            OP_READ_RNG:                                  state_d = ST_OUT;
            OP_FORWARD, OP_TRANSPOSE, OP_UPDATE:          state_d = ST_LOAD;
            default:                                      state_d = ST_FIN;
          endcase
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
          state_d  = (op_q == OP_WRITE_CELLS || op_q == OP_WRITE_ACC) ? ST_WRECV : ST_OUT;
        end
      end

      ST_WRECV: begin
        in_ready = 1'b1;
        if (in_valid) begin
          witem_d[8 * int'(wbyte_q) +: 8] = in_data;
          wbyte_d = wbyte_q + 2'd1;
          if (wbyte_q == 2'd3) begin
            state_d = ST_WREAD;
          end
        end
      end

      ST_WREAD: begin
        cw_raddr = cur_ra_q + CA_W'(cur_j_q >> LOG_L);
        aw_raddr = cw_raddr;
        rw_raddr = base_r_q + RRA_W'(rng_idx_q >> LOG_L);
        kw_raddr = base_k_q + RCA_W'(rng_idx_q >> LOG_L);
        state_d = ST_WWRITE;
      end

      ST_WWRITE: begin
        cw_waddr = cur_ra_q + CA_W'(cur_j_q >> LOG_L);
        aw_waddr = cw_waddr;
        rw_waddr = base_r_q + RRA_W'(rng_idx_q >> LOG_L);
        kw_waddr = base_k_q + RCA_W'(rng_idx_q >> LOG_L);
        cw_wdata = cw_rdata;
        cw_wdata[2 * G_W * int'(w_ln) +: 2 * G_W] = {G_W'(witem_q[31:16]), G_W'(witem_q[15:0])};
        aw_wdata = aw_rdata;
        aw_wdata[ACC_BITS * int'(w_ln) +: ACC_BITS] = witem_q[ACC_BITS-1:0];
        rw_wdata = rw_rdata;
        rw_wdata[LFSR_W * int'(w_ln) +: LFSR_W] = witem_q;
        kw_wdata = kw_rdata;
        kw_wdata[LFSR_W * int'(w_ln) +: LFSR_W] = witem_q;
        cw_we = (op_q == OP_WRITE_CELLS);
        aw_we = (op_q == OP_WRITE_ACC);
        rw_we = (op_q == OP_WRITE_RNG) && !rng_col_q;
        kw_we = (op_q == OP_WRITE_RNG) && rng_col_q;
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
        item_d = item_q + 16'd1;
        state_d = (item_q + 16'd1 == count_q) ? ST_FIN : ST_WRECV;
      end

      ST_LOAD: begin
        in_ready = 1'b1;
        xw_wdata = ld_word_q;
        xw_wdata[8 * int'(ld_ln) +: 8] = clamp_code(in_data);
        dw_wdata = xw_wdata;
        xw_waddr = WCA_W'(ld_cnt_q >> LOG_L);
        dw_waddr = WRA_W'(ld_cnt_q >> LOG_L);
        if (in_valid) begin
          ld_word_d = xw_wdata;
          ld_cnt_d  = ld_cnt_q + 1'b1;
          if (ld_ln == LOG_L'(LANES - 1) || ld_last) begin
            xw_we = !ld_d_q;
            dw_we = ld_d_q;
          end
          if (ld_last) begin
            ld_cnt_d = '0;
            if (is_upd && !ld_d_q) begin
              ld_d_d = 1'b1;
            end else begin
              // plan the LFSR work of this command
              g_stream_d = is_upd && (cfg_mode == MODE_COINCIDENCE);
              g_extra_d  = (is_upd && apply_q) || (!is_upd && cfg_rn_q != 16'd0);
              g_rd_d     = !is_upd;
              g_rows_d   = is_upd ? (g_stream_d || g_extra_d) : (is_fwd && cfg_rn_q != 16'd0);
              g_cols_d   = is_upd ? (g_stream_d || g_extra_d) : (is_trn && cfg_rn_q != 16'd0);
              g_sel_d    = !g_rows_d;
              g_word_d   = '0;
              gph_d      = G_READ;
              p_i_d      = '0;
              p_w_d      = '0;
              p_addr_d   = base_c_q;
              p_ra_d     = base_c_q;
              p_cell_d   = '0;
              state_d    = (g_rows_d || g_cols_d) ? ST_GEN : ST_PASS;
            end
          end
        end
      end

      ST_GEN: begin
        rw_raddr = base_r_q + RRA_W'(g_word_q);
        kw_raddr = base_k_q + RCA_W'(g_word_q);
        dw_raddr = WRA_W'(g_word_q);
        xw_raddr = WCA_W'(g_word_q);
        unique case (gph_q)
          G_READ: gph_d = G_LOAD;
          G_LOAD: begin
            for (int l = 0; l < LANES; l++) begin
              g_st_d[l]   = g_sel_q ? kw_rdata[l * LFSR_W +: LFSR_W] : rw_rdata[l * LFSR_W +: LFSR_W];
              g_mag_d[l]  = mag7(g_sel_q ? xw_rdata[l * 8 +: 8] : dw_rdata[l * 8 +: 8]);
              g_bits_d[l] = '0;
            end
            g_t_d = '0;
            gph_d = g_stream_q ? G_STREAM : G_EXTRA;
          end
          G_STREAM: begin
            // SB stream bits per cycle; the last group may be shorter (BL not a multiple of SB)
            for (int l = 0; l < LANES; l++) begin
              g_bits_d[l] = {g_fire[l], g_bits_q[l][WB-1:SB]};
              g_st_d[l]   = g_leap[l][SB-1];
              for (int b = 0; b < SB; b++) begin
                if (9'(b + 1) == g_rem) begin
                  g_st_d[l] = g_leap[l][b];
                end
              end
            end
            g_t_d = g_t_q + 9'(SB);
            if (g_rem <= 9'(SB)) begin
              gph_d = g_extra_q ? G_EXTRA : G_WRITE;
            end
          end
          G_EXTRA: begin
            for (int l = 0; l < LANES; l++) begin
              g_st_d[l] = g_rd_q ? g_adv_read[l] : g_adv_apply[l];
            end
            gph_d = G_WRITE;
          end
          default: begin // G_WRITE
            for (int l = 0; l < LANES; l++) begin
              rw_wdata[l * LFSR_W +: LFSR_W] = g_st_q[l];
              kw_wdata[l * LFSR_W +: LFSR_W] = g_st_q[l];
            end
            rw_waddr  = base_r_q + RRA_W'(g_word_q);
            kw_waddr  = base_k_q + RCA_W'(g_word_q);
            rbw_waddr = WRA_W'(g_word_q);
            cbw_waddr = WCA_W'(g_word_q);
            rw_we  = !g_sel_q;
            kw_we  = g_sel_q;
            rbw_we = !g_sel_q && g_stream_q;
            cbw_we = g_sel_q && g_stream_q;
            gph_d  = G_READ;
            g_word_d = g_word_q + 1'b1;
            if (g_word_q == (g_sel_q ? IX_W'(WC - 1) : IX_W'(WR - 1))) begin
              g_word_d = '0;
              if (!g_sel_q && g_cols_q) begin
                g_sel_d = 1'b1;
              end else begin
                state_d = ST_PASS;
              end
            end
          end
        endcase
      end

      ST_PASS: begin
        m0.valid     = 1'b1;
        m0.addr      = p_addr_q;
        m0.i         = p_i_q;
        m0.w         = p_w_q;
        m0.cellix    = p_cell_q + CELL_W'(p_w_q << LOG_L);
        m0.lanes     = lane_mask(p_w_q);
        m0.row_first = (p_w_q == '0);
        m0.row_last  = (p_w_q == IX_W'(WC - 1));
        m0.blk_first = (p_i_q == '0);
        m0.blk_last  = (p_i_q == IX_W'(ROWS - 1));
        cw_raddr  = p_addr_q;
        aw_raddr  = p_addr_q;
        xw_raddr  = WCA_W'(p_w_q);
        cbw_raddr = WCA_W'(p_w_q);
        kw_raddr  = base_k_q + RCA_W'(p_w_q);
        dw_raddr  = WRA_W'(p_i_q >> LOG_L);
        rbw_raddr = WRA_W'(p_i_q >> LOG_L);
        rw_raddr  = base_r_q + RRA_W'(p_i_q >> LOG_L);
        if (is_trn) begin
          // column blocks outer, rows inner
          if (p_i_q == IX_W'(ROWS - 1)) begin
            p_i_d    = '0;
            p_w_d    = p_w_q + 1'b1;
            p_addr_d = base_c_q + CA_W'(p_w_q) + 1'b1;
            if (p_w_q == IX_W'(WC - 1)) begin
              state_d = ST_DRAIN;
              drain_d = 5'(DRAIN_N);
            end
          end else begin
            p_i_d    = p_i_q + 1'b1;
            p_addr_d = p_addr_q + CA_W'(WC);
          end
        end else begin
          // rows outer, words inner
          p_addr_d = p_addr_q + 1'b1;
          if (p_w_q == IX_W'(WC - 1)) begin
            p_w_d    = '0;
            p_i_d    = p_i_q + 1'b1;
            p_cell_d = p_cell_q + CELL_W'(COLS);
            if (p_i_q == IX_W'(ROWS - 1)) begin
              state_d = ST_DRAIN;
              drain_d = 5'(DRAIN_N);
            end
          end else begin
            p_w_d = p_w_q + 1'b1;
          end
        end
      end

      ST_DRAIN: begin
        drain_d = drain_q - 5'd1;
        if (drain_q == 5'd1) begin
          state_d = ST_OUT;
          item_d  = '0;
        end
      end

      ST_OUT: begin
        // producer: one item per cycle while credits last
        if (item_q != o_n_q && credit_q != 4'd0) begin
          o_issue = 1'b1;
          item_d  = item_q + 16'd1;
        end
        o0.valid = o_issue;
        unique case (o_kind)
          K_CELLS, K_ACC: begin
            cw_raddr = cur_ra_q + CA_W'(cur_j_q >> LOG_L);
            aw_raddr = cw_raddr;
            o0.lane  = cur_j_q[LOG_L-1:0];
            if (o_issue) begin
              if (cur_j_q == IX_W'(COLS - 1)) begin
                cur_j_d  = '0;
                cur_i_d  = cur_i_q + 1'b1;
                cur_ra_d = cur_ra_q + CA_W'(WC);
              end else begin
                cur_j_d = cur_j_q + 1'b1;
              end
            end
          end
          K_RNG: begin
            rw_raddr = base_r_q + RRA_W'(rng_idx_q >> LOG_L);
            kw_raddr = base_k_q + RCA_W'(rng_idx_q >> LOG_L);
            o0.lane  = rng_idx_q[LOG_L-1:0];
            o0.col   = rng_col_q;
            if (o_issue) begin
              if (!rng_col_q && rng_idx_q == IX_W'(ROWS - 1)) begin
                rng_col_d = 1'b1;
                rng_idx_d = '0;
              end else begin
                rng_idx_d = rng_idx_q + 1'b1;
              end
            end
          end
          default: begin
            raw_raddr = NWA_W'(item_q >> LOG_L);
            rw_raddr  = base_r_q + RRA_W'(item_q >> LOG_L);
            kw_raddr  = base_k_q + RCA_W'(item_q >> LOG_L);
            o0.lane   = item_q[LOG_L-1:0];
            o0.col    = is_trn;
          end
        endcase
        // serializer
        if (f_cnt_q != 4'd0 && out_ready) begin
          o_byte_d = o_byte_q + 2'd1;
          if (o_byte_q == (o_four_q ? 2'd3 : 2'd1)) begin
            o_byte_d = '0;
            o_sent_d = o_sent_q + 16'd1;
            if (o_sent_q + 16'd1 == o_n_q) begin
              state_d = ST_FIN;
            end
          end
        end
        credit_d = credit_q - (o_issue ? 4'd1 : 4'd0) + (f_pop ? 4'd1 : 4'd0);
      end

      ST_FIN: begin
        done_d  = 1'b1;
        state_d = ST_IDLE;
      end

      default: begin
        state_d = ST_IDLE;
      end
    endcase
  end

  assign f_pop     = (state_q == ST_OUT) && (f_cnt_q != 4'd0) && out_ready &&
                     (o_byte_q == (o_four_q ? 2'd3 : 2'd1));
  assign out_valid = (state_q == ST_OUT) && (f_cnt_q != 4'd0);
  assign out_data  = f_head[8 * int'(o_byte_q) +: 8];
  assign out_last  = (o_sent_q + 16'd1 == o_n_q) && (o_byte_q == (o_four_q ? 2'd3 : 2'd1));
  assign done      = done_q;
  assign pulses_applied = pulses_q;
  assign busy      = (state_q != ST_IDLE);

  // ------------------------------------------------------------------ registers
  always_ff @(posedge clk) begin
    if (!rst_n) begin
      state_q  <= ST_INIT;
      init_q   <= '0;
      done_q   <= 1'b0;
      o1_q     <= '0;
      o2_valid_q <= 1'b0;
      o3_valid_q <= 1'b0;
      o4_valid_q <= 1'b0;
      f_wp_q   <= '0;
      f_rp_q   <= '0;
      f_cnt_q  <= '0;
    end else begin
      state_q  <= state_d;
      init_q   <= init_d;
      done_q   <= done_d;
      o1_q     <= o0;
      o2_valid_q <= o1_q.valid;
      o3_valid_q <= o2_valid_q;
      o4_valid_q <= o3_valid_q;
      if (f_push) f_wp_q <= f_wp_q + 3'd1;
      if (f_pop)  f_rp_q <= f_rp_q + 3'd1;
      f_cnt_q  <= f_cnt_q + (f_push ? 4'd1 : 4'd0) - (f_pop ? 4'd1 : 4'd0);
    end
  end

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      for (int s = 1; s <= WB_STAGE; s++) begin
        m_q[s] <= '0;
      end
    end else begin
      m_q[1] <= m0;
      for (int s = 2; s <= WB_STAGE; s++) begin
        m_q[s] <= m_q[s - 1];
      end
    end
  end

  always_ff @(posedge clk) begin
    gph_q     <= gph_d;
    op_q      <= op_d;
    tile_q    <= tile_d;
    apply_q   <= apply_d;
    count_q   <= count_d;
    base_c_q  <= base_c_d;
    base_r_q  <= base_r_d;
    base_k_q  <= base_k_d;
    div_num_q <= div_num_d;
    div_rem_q <= div_rem_d;
    div_cnt_q <= div_cnt_d;
    cur_i_q   <= cur_i_d;
    cur_j_q   <= cur_j_d;
    cur_ra_q  <= cur_ra_d;
    rng_col_q <= rng_col_d;
    rng_idx_q <= rng_idx_d;
    item_q    <= item_d;
    wbyte_q   <= wbyte_d;
    witem_q   <= witem_d;
    ld_cnt_q  <= ld_cnt_d;
    ld_d_q    <= ld_d_d;
    ld_word_q <= ld_word_d;
    g_rows_q  <= g_rows_d;
    g_cols_q  <= g_cols_d;
    g_stream_q <= g_stream_d;
    g_extra_q <= g_extra_d;
    g_rd_q    <= g_rd_d;
    g_sel_q   <= g_sel_d;
    g_word_q  <= g_word_d;
    g_t_q     <= g_t_d;
    g_st_q    <= g_st_d;
    g_mag_q   <= g_mag_d;
    g_bits_q  <= g_bits_d;
    p_i_q     <= p_i_d;
    p_w_q     <= p_w_d;
    p_addr_q  <= p_addr_d;
    p_ra_q    <= p_ra_d;
    p_cell_q  <= p_cell_d;
    drain_q   <= drain_d;
    pulses_q  <= pulses_d;
    o_n_q     <= o_n_d;
    credit_q  <= credit_d;
    o_sent_q  <= o_sent_d;
    o_byte_q  <= o_byte_d;
    o_four_q  <= o_four_d;
    y_acc_q   <= y_acc_d;
    t_acc_q   <= t_acc_d;
    z_acc_q   <= z_acc_d;
    zt_acc_q  <= zt_acc_d;
    coll_q    <= coll_d;
  end

endmodule : memhil_array

`resetall
