// SPDX-License-Identifier: MIT
// memhil_array_pass: the cell pass (PASS, DRAIN) of memhil_array, contract sections 5 and 6:
// one RAM word (LANES cells) per clock through a pipeline that computes the read sums of
// FORWARD / TRANSPOSE and the batch-sum-and-apply of UPDATE.
//   s0   walk (while run_i): FORWARD rows outer, words inner; TRANSPOSE and UPDATE column
//        words outer, rows inner, and for an UPDATE of B samples the B samples of each cell
//        word innermost (the word is issued B clocks in a row); read addresses of codes,
//        x[b][w], d[b][i], column stream bits of sample b (the current column word's: word
//        B - 1 - b), row stream bits of sample b, column / row LFSR states; last_o with the
//        last sample of the last word. In a coincidence UPDATE (colw_i) wend_o marks the last
//        issue of every column word but the last: memhil_array_ctrl then lowers run_i while
//        memhil_array_gen streams the next column word's bits, and the walk holds
//   s1   RAM words -> per lane (c+ - c-) * v, |v| * (c+ + c- + 2 * C0), x * d,
//        row bits & column bits, noise word r = R_i ^ C_j
//   s2   popcount part 1 (memhil_dp_popcount: the counts of 32-bit groups, registered); lane
//        products masked, summed
//   s3   popcount part 2 (the sum of the groups) and the sign: the batch sum's increment;
//        FORWARD / TRANSPOSE read sums, low halves: y_i (LANES words' sum) / z_j (per lane)
//   s4   S' = sat((sample 0 ? 0 : S of the clock before) + inc) (the batch sum of the cell, in
//        lane registers: contract v3 has no per-cell accumulator RAM; the samples of one cell
//        word are issued back to back); read sums, high halves plus the registered carries: at
//        the row's last word (FORWARD: LANES rows per word) / the block's last row (TRANSPOSE)
//        into the read-sum buffer
//   s5   UPDATE: with the last sample, LANES x memhil_tile_lane (LANE_LAT = 14 clocks)
//   s5 + LANE_LAT  write back codes (UPDATE, last sample), pulses_o += sum of n (pulses_up_o:
//        of the lanes whose pulses went up to a working device; pulses_stuck_o: to a stuck one)
// Latency: a word issued in clock t is written back in t + WB_STAGE (ACC_STAGE + LANE_LAT = 5 + 14 = 19);
// its read sums reach the buffer in t + 4. busy_o is high while any issued word is still in the
// pipeline.
// pulses_o (UPDATE's pulses applied) is cleared by clear_i.

`resetall
`default_nettype none

module memhil_array_pass
  import memhil_pkg::*;
#(
  parameter int unsigned ROWS  = 8,
  parameter int unsigned COLS  = 8,
  parameter int unsigned TILES = 1,
  parameter int unsigned LANES = 4,
  parameter int unsigned G_W   = 8,
  parameter int unsigned SB    = 8,
  parameter int unsigned BUILD_BL_MAX = BL_MAX_DEFAULT,   // the build's BL_MAX (<= MAX_BL)
  parameter int unsigned BATCH_MAX = BATCH_MAX_DEFAULT,    // samples of one update, at most
  localparam int unsigned LOG_L = $clog2(LANES),
  localparam int unsigned WC    = (COLS + LANES - 1) / LANES,
  localparam int unsigned WR    = (ROWS + LANES - 1) / LANES,
  localparam int unsigned CELL_DEPTH = TILES * ROWS * WC,
  localparam int unsigned RR_DEPTH   = TILES * WR,
  localparam int unsigned RC_DEPTH   = TILES * WC,
  localparam int unsigned NW_MAX = (WR > WC) ? WR : WC,
  localparam int unsigned CA_W  = (CELL_DEPTH > 1) ? $clog2(CELL_DEPTH) : 1,
  localparam int unsigned RRA_W = (RR_DEPTH > 1) ? $clog2(RR_DEPTH) : 1,
  localparam int unsigned RCA_W = (RC_DEPTH > 1) ? $clog2(RC_DEPTH) : 1,
  localparam int unsigned NWA_W = (NW_MAX > 1) ? $clog2(NW_MAX) : 1,
  localparam int unsigned XD    = BATCH_MAX * WC,              // x / column-bit words, all samples
  localparam int unsigned DD    = BATCH_MAX * WR,              // d / row-bit words, all samples
  localparam int unsigned XA_W  = (XD > 1) ? $clog2(XD) : 1,
  localparam int unsigned DA_W  = (DD > 1) ? $clog2(DD) : 1,
  localparam int unsigned CBA_W = (BATCH_MAX > 1) ? $clog2(BATCH_MAX) : 1,   // column-bit words
  localparam int unsigned CW_W  = LANES * 2 * G_W,
  localparam int unsigned SW_W  = LANES * LFSR_W,
  localparam int unsigned WB    = SB * ((BUILD_BL_MAX + SB - 1) / SB),  // stream bits per LFSR
  localparam int unsigned Y_W   = 48,                             // read sum (+ noise)
  localparam int unsigned T_W   = 40,                             // read total current
  localparam int unsigned RAW_W = Y_W + T_W
) (
  input  wire logic                   clk,
  input  wire logic                   rst_n,
  // command and configuration (stable during the pass)
  input  wire logic                   op_fwd_i,        // the command's one-hot opcode flags
  input  wire logic                   op_trn_i,        // (memhil_array_ctrl's, registered)
  input  wire logic                   op_upd_i,
  input  wire logic [7:0]             tile_i,
  input  wire logic                   apply_i,
  input  wire logic [15:0]            nsmp_i,          // samples B of the command (1 but UPDATE)
  input  wire logic [CA_W-1:0]        base_c_i,
  input  wire logic [RRA_W-1:0]       base_r_i,
  input  wire logic [RCA_W-1:0]       base_k_i,
  input  wire logic [15:0]            cfg_cmax_i,
  input  wire logic [15:0]            cfg_c0_i,
  input  wire logic [3:0]             cfg_sub_bits_i,
  input  wire logic                   cfg_mode_i,
  input  wire logic [31:0]            cfg_lr_q_i,
  input  wire logic [31:0]            cfg_d2d_key_i,
  input  wire logic [13:0]            cfg_c2c_q_i,
  input  wire logic [13:0]            cfg_d2d_q_i,
  input  wire logic [15:0]            cfg_fault_rate_i,
  input  wire logic [31:0]            cfg_fault_key_i,
  // step-table write port (to every lane's copy)
  input  wire logic                   tbl_we_i,
  input  wire logic [8:0]             tbl_waddr_i,
  input  wire logic [15:0]            tbl_wdata_i,
  // control
  input  wire logic                   clear_i,         // a command was accepted: pulses_o = 0
  input  wire logic                   start_i,         // cursor to the tile's first word
  input  wire logic                   run_i,           // issue one word per clock
  output logic                        last_o,          // this clock issues the last word
  input  wire logic                   colw_i,          // coincidence UPDATE: stop per column word
  output logic                        wend_o,          // this clock ends a column word (not the last)
  output logic                        busy_o,          // words in the pipeline
  output logic [31:0]                 pulses_o,
  output logic [31:0]                 pulses_up_o,
  output logic [31:0]                 pulses_stuck_o,
  // read ports (addresses valid while run_i; data one clock later)
  output logic [CA_W-1:0]             cell_raddr_o,
  input  wire logic [CW_W-1:0]        code_rdata_i,
  output logic [XA_W-1:0]             x_raddr_o,
  input  wire logic [LANES*8-1:0]     x_rdata_i,
  output logic [DA_W-1:0]             d_raddr_o,
  input  wire logic [LANES*8-1:0]     d_rdata_i,
  output logic [CBA_W-1:0]            cbits_raddr_o,
  input  wire logic [LANES*WB-1:0]    cbits_rdata_i,
  output logic [DA_W-1:0]             rbits_raddr_o,
  input  wire logic [LANES*WB-1:0]    rbits_rdata_i,
  output logic [RCA_W-1:0]            clfsr_raddr_o,
  input  wire logic [SW_W-1:0]        clfsr_rdata_i,
  output logic [RRA_W-1:0]            rlfsr_raddr_o,
  input  wire logic [SW_W-1:0]        rlfsr_rdata_i,
  // write-back of codes
  output logic                        wb_we_o,
  output logic [CA_W-1:0]             wb_addr_o,
  output logic [CW_W-1:0]             wb_code_o,
  // read sums {T, y} per lane into the read-sum buffer
  output logic                        raw_we_o,
  output logic [NWA_W-1:0]            raw_waddr_o,
  output logic [LANES*RAW_W-1:0]      raw_wdata_o
);

  localparam int unsigned CELL_W     = 20;                            // flat cell index
  localparam int unsigned IX_W       = 16;                            // row / column / word
  localparam int unsigned CNT_W      = $clog2(WB + 1);
  localparam int unsigned LAST_LANES = COLS - (WC - 1) * LANES;       // valid lanes of word WC-1
  localparam int unsigned LANE_LAT   = 14;                            // memhil_tile_lane
  localparam int unsigned ACC_STAGE  = 5;                             // batch sums into the lanes
  localparam int unsigned WB_STAGE   = ACC_STAGE + LANE_LAT;          // write-back stage

  if (LANES < 2 || (1 << LOG_L) != LANES) begin : g_bad_lanes
    $fatal(1, "memhil_array_pass: LANES (%0d) must be a power of two >= 2", LANES);
  end

  function automatic logic [6:0] mag7(input logic [7:0] b);
    mag7 = b[7] ? 7'(-b) : b[6:0];
  endfunction

  function automatic logic [LANES-1:0] lane_mask(input logic [IX_W-1:0] w);
    lane_mask = (w == IX_W'(WC - 1)) ? LANES'((1 << LAST_LANES) - 1) : '1;
  endfunction

  logic is_fwd, is_trn, is_upd;
  assign is_fwd = op_fwd_i;
  assign is_trn = op_trn_i;
  assign is_upd = op_upd_i;

  // ------------------------------------------------------------------ s0: walk
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
    logic              smp_first;   // sample 0 of the update: the batch sum starts at 0
    logic              smp_last;    // sample B - 1: the sum is complete, apply and write back
  } meta_t;

  logic [IX_W-1:0]   p_i_q, p_i_d, p_w_q, p_w_d;
  logic [CA_W-1:0]   p_addr_q, p_addr_d;
  logic [CELL_W-1:0] p_cell_q, p_cell_d;     // i * COLS
  logic [15:0]       p_bleft_q, p_bleft_d;   // samples of the word after this one (innermost)
  logic [XA_W-1:0]   p_x_q, p_x_d;           // b * WC + w: x word
  logic [DA_W-1:0]   p_d_q, p_d_d;           // b * WR + i / LANES: d and row-bit word
  // registered compares of the cursor, kept with it: i == ROWS - 1, w == WC - 1, sample 0, the
  // last sample of this cell word (p_bleft_q == 0)
  logic              p_il_q, p_il_d, p_wl_q, p_wl_d, p_bf_q, p_bf_d, p_bl_q, p_bl_d;
  meta_t             m0;
  meta_t             m_q [1:WB_STAGE];

  always_comb begin
    p_i_d     = p_i_q;
    p_w_d     = p_w_q;
    p_addr_d  = p_addr_q;
    p_cell_d  = p_cell_q;
    p_bleft_d = p_bleft_q;
    p_x_d     = p_x_q;
    p_d_d     = p_d_q;
    p_il_d    = p_il_q;
    p_wl_d    = p_wl_q;
    p_bf_d    = p_bf_q;
    p_bl_d    = p_bl_q;
    m0        = '0;
    // start_i (memhil_array_ctrl's LOAD) and run_i (its PASS, registered) are never high in
    // the same clock: the issued word does not wait for start_i, which only resets the cursor
    // (after the walk below)
    if (run_i && !p_bl_q) begin
      // the next sample of the same cell word (UPDATE of B > 1 samples)
      m0.valid     = 1'b1;
      m0.addr      = p_addr_q;
      m0.i         = p_i_q;
      m0.w         = p_w_q;
      m0.cellix    = p_cell_q + CELL_W'(p_w_q << LOG_L);
      m0.lanes     = lane_mask(p_w_q);
      m0.smp_first = p_bf_q;
      p_bleft_d    = p_bleft_q - 16'd1;
      p_bf_d       = 1'b0;
      p_bl_d       = (p_bleft_q == 16'd1);
      p_x_d        = p_x_q + XA_W'(WC);
      p_d_d        = p_d_q + DA_W'(WR);
    end else if (run_i) begin
      m0.valid     = 1'b1;
      m0.addr      = p_addr_q;
      m0.i         = p_i_q;
      m0.w         = p_w_q;
      m0.cellix    = p_cell_q + CELL_W'(p_w_q << LOG_L);
      m0.lanes     = lane_mask(p_w_q);
      m0.row_first = (p_w_q == '0);
      m0.row_last  = p_wl_q;
      m0.blk_first = (p_i_q == '0);
      m0.blk_last  = p_il_q;
      m0.smp_first = p_bf_q;
      m0.smp_last  = 1'b1;
      p_bleft_d    = nsmp_i - 16'd1;
      p_bf_d       = 1'b1;
      p_bl_d       = (nsmp_i == 16'd1);
      if (!is_fwd) begin
        // TRANSPOSE, UPDATE: column words (blocks) outer, rows inner
        if (p_il_q) begin
          p_i_d    = '0;
          p_w_d    = p_w_q + 1'b1;
          p_addr_d = base_c_i + CA_W'(p_w_q) + 1'b1;
          p_il_d   = (ROWS == 1);
          p_wl_d   = (p_w_q == IX_W'(WC - 2));
        end else begin
          p_i_d    = p_i_q + 1'b1;
          p_addr_d = p_addr_q + CA_W'(WC);
          p_il_d   = (p_i_q == IX_W'(ROWS - 2));
        end
        p_x_d = XA_W'(p_w_d);
        p_d_d = DA_W'(p_i_d >> LOG_L);
      end else begin
        // rows outer, words inner
        p_addr_d = p_addr_q + 1'b1;
        if (p_wl_q) begin
          p_w_d    = '0;
          p_i_d    = p_i_q + 1'b1;
          p_wl_d   = (WC == 1);
          p_il_d   = (p_i_q == IX_W'(ROWS - 2));
        end else begin
          p_w_d  = p_w_q + 1'b1;
          p_wl_d = (p_w_q == IX_W'(WC - 2));
        end
        p_x_d = XA_W'(p_w_d);
        p_d_d = DA_W'(p_i_d >> LOG_L);
      end
    end
    // p_cell = i * COLS: +COLS with each new row, 0 with a new column word (TRANSPOSE, UPDATE)
    if (run_i && p_bl_q && !is_fwd && p_il_q) begin
      p_cell_d = '0;
    end else if (run_i && p_bl_q && (is_fwd ? p_wl_q : 1'b1)) begin
      p_cell_d = p_cell_q + CELL_W'(COLS);
    end
    if (start_i) begin
      p_i_d     = '0;
      p_w_d     = '0;
      p_addr_d  = base_c_i;
      p_cell_d  = '0;
      p_bleft_d = nsmp_i - 16'd1;
      p_x_d     = '0;
      p_d_d     = '0;
      p_il_d    = (ROWS == 1);
      p_wl_d    = (WC == 1);
      p_bf_d    = 1'b1;
      p_bl_d    = (nsmp_i == 16'd1);
    end
  end

  assign last_o        = run_i && p_il_q && p_wl_q && p_bl_q;
  assign wend_o        = run_i && colw_i && p_il_q && !p_wl_q && p_bl_q;
  assign cell_raddr_o  = p_addr_q;
  assign x_raddr_o     = p_x_q;
  // sample b of the column word at word B - 1 - b (p_bleft_q: memhil_array_gen's sleft_q)
  assign cbits_raddr_o = CBA_W'(p_bleft_q);
  assign clfsr_raddr_o = base_k_i + RCA_W'(p_w_q);
  assign d_raddr_o     = p_d_q;
  assign rbits_raddr_o = p_d_q;
  assign rlfsr_raddr_o = base_r_i + RRA_W'(p_i_q >> LOG_L);

  // ------------------------------------------------------------------ s1: RAM words of m_q[1]
  logic signed [31:0] s2_prod_q [LANES];
  logic signed [31:0] s2_prod_d [LANES];
  logic [31:0]        s2_tprod_q [LANES];
  logic [31:0]        s2_tprod_d [LANES];
  logic signed [15:0] s2_incr_q [LANES];
  logic signed [15:0] s2_incr_d [LANES];
  logic [WB-1:0]      s2_and_q [LANES];
  logic [WB-1:0]      s2_and_d [LANES];
  logic               s2_neg_q [LANES];
  logic               s2_neg_d [LANES];
  logic               s2_zero_q [LANES];
  logic               s2_zero_d [LANES];
  logic [G_W-1:0]     s2_cp_q [LANES];
  logic [G_W-1:0]     s2_cp_d [LANES];
  logic [G_W-1:0]     s2_cm_q [LANES];
  logic [G_W-1:0]     s2_cm_d [LANES];
  logic [31:0]        s2_r_q [LANES];
  logic [31:0]        s2_r_d [LANES];

  logic [7:0]    s1_d;
  logic [31:0]   s1_ri;
  logic [WB-1:0] s1_rb;
  always_comb begin
    s1_d  = d_rdata_i[8 * int'(m_q[1].i[LOG_L-1:0]) +: 8];
    s1_ri = rlfsr_rdata_i[LFSR_W * int'(m_q[1].i[LOG_L-1:0]) +: LFSR_W];
    s1_rb = rbits_rdata_i[WB * int'(m_q[1].i[LOG_L-1:0]) +: WB];
    for (int l = 0; l < LANES; l++) begin
      logic [G_W-1:0] cp, cm;
      logic [7:0]     xv, vv;
      cp = code_rdata_i[l * 2 * G_W +: G_W];
      cm = code_rdata_i[l * 2 * G_W + G_W +: G_W];
      xv = x_rdata_i[l * 8 +: 8];
      vv = is_fwd ? xv : s1_d;
      s2_prod_d[l]  = ($signed({15'd0, 17'(cp)}) - $signed({15'd0, 17'(cm)})) * 32'($signed(vv));
      s2_tprod_d[l] = 32'(mag7(vv)) * (32'(cp) + 32'(cm) + 32'(cfg_c0_i) + 32'(cfg_c0_i));
      s2_incr_d[l]  = 16'($signed(xv)) * 16'($signed(s1_d));
      s2_and_d[l]   = s1_rb & cbits_rdata_i[l * WB +: WB];
      s2_neg_d[l]   = xv[7] ^ s1_d[7];
      s2_zero_d[l]  = (xv == 8'd0) || (s1_d == 8'd0);
      s2_cp_d[l]    = cp;
      s2_cm_d[l]    = cm;
      s2_r_d[l]     = s1_ri ^ clfsr_rdata_i[l * LFSR_W +: LFSR_W];
    end
  end

  // ------------------------------------------------------------------ s2: coincidences, accumulate
  logic [G_W-1:0]        s3_cp_q [LANES];
  logic [G_W-1:0]        s3_cm_q [LANES];
  logic [31:0]           s3_r_q [LANES];
  logic signed [Y_W-1:0] s3_prod_q [LANES];
  logic signed [Y_W-1:0] s3_prod_d [LANES];
  logic [T_W-1:0]        s3_tprod_q [LANES];
  logic [T_W-1:0]        s3_tprod_d [LANES];
  logic signed [Y_W-1:0] s3_ysum_q, s3_ysum_d;
  logic [T_W-1:0]        s3_tsum_q, s3_tsum_d;

  // s2 -> s3: the popcount's group counts (memhil_dp_popcount's first clock); s3: their sum
  logic [CNT_W-1:0] s3_cnt [LANES];
  for (genvar l = 0; l < LANES; l++) begin : g_pop
    memhil_dp_popcount #(.N(WB), .CNT_W(CNT_W)) u_pop (
      .clk(clk), .in_bits(s2_and_q[l]), .count(s3_cnt[l]));
  end

  // s3: the signed increment of the batch sum; s4: the batch sum, saturated
  logic                 s3_neg_q [LANES];
  logic                 s3_zero_q [LANES];
  logic signed [15:0]   s3_incr_q [LANES];
  logic signed [25:0]   s4_inc_q [LANES];
  logic signed [25:0]   s4_inc_d [LANES];
  logic [G_W-1:0]       s4_cp_q [LANES];
  logic [G_W-1:0]       s4_cm_q [LANES];
  logic [31:0]          s4_r_q [LANES];
  logic signed [SUM_BITS-1:0] s5_acc_q [LANES];
  logic signed [SUM_BITS-1:0] s5_acc_d [LANES];
  logic [G_W-1:0]       s5_cp_q [LANES];
  logic [G_W-1:0]       s5_cm_q [LANES];
  logic [31:0]          s5_r_q [LANES];
  always_comb begin
    for (int l = 0; l < LANES; l++) begin
      if (cfg_mode_i == MODE_COINCIDENCE) begin
        s4_inc_d[l] = s3_zero_q[l] ? 26'sd0 :
                      (s3_neg_q[l] ? -$signed(26'(s3_cnt[l])) : $signed(26'(s3_cnt[l])));
      end else begin
        s4_inc_d[l] = 26'(s3_incr_q[l]);
      end
    end
  end

  always_comb begin
    for (int l = 0; l < LANES; l++) begin
      logic signed [25:0] sum;
      // the batch sum: 0 before sample 0, else the previous sample's sum (the clock before:
      // the samples of one cell word are issued back to back)
      sum = (m_q[4].smp_first ? 26'sd0 : 26'(s5_acc_q[l])) + s4_inc_q[l];
      if (sum > 26'sd8388607) begin
        s5_acc_d[l] = 24'sd8388607;
      end else if (sum < -26'sd8388608) begin
        s5_acc_d[l] = -24'sd8388608;
      end else begin
        s5_acc_d[l] = SUM_BITS'(sum);
      end
    end
  end

  always_ff @(posedge clk) begin
    s3_neg_q  <= s2_neg_q;
    s3_zero_q <= s2_zero_q;
    s3_incr_q <= s2_incr_q;
    s4_inc_q  <= s4_inc_d;
    s4_cp_q   <= s3_cp_q;
    s4_cm_q   <= s3_cm_q;
    s4_r_q    <= s3_r_q;
    s5_acc_q  <= s5_acc_d;
    s5_cp_q   <= s4_cp_q;
    s5_cm_q   <= s4_cm_q;
    s5_r_q    <= s4_r_q;
  end

  always_comb begin
    s3_ysum_d = '0;
    s3_tsum_d = '0;
    for (int l = 0; l < LANES; l++) begin
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

  // datapath registers: no reset, every stage always loads
  always_ff @(posedge clk) begin
    s2_prod_q  <= s2_prod_d;
    s2_tprod_q <= s2_tprod_d;
    s2_incr_q  <= s2_incr_d;
    s2_and_q   <= s2_and_d;
    s2_neg_q   <= s2_neg_d;
    s2_zero_q  <= s2_zero_d;
    s2_cp_q    <= s2_cp_d;
    s2_cm_q    <= s2_cm_d;
    s2_r_q     <= s2_r_d;
    s3_cp_q    <= s2_cp_q;
    s3_cm_q    <= s2_cm_q;
    s3_r_q     <= s2_r_q;
    s3_prod_q  <= s3_prod_d;
    s3_tprod_q <= s3_tprod_d;
    s3_ysum_q  <= s3_ysum_d;
    s3_tsum_q  <= s3_tsum_d;
  end

  // ------------------------------------------------------------------ s3, s4: read sums
  // Every accumulation is split in two halves with a registered carry (no carry chain over the
  // full width): s3 adds the low halves (YL / TL bits) and registers their carries and the high
  // halves of the addends; s4 adds the high halves plus the carries and writes the finished sums
  // (low half from its register) to the read-sum buffer. A word's sums reach the buffer in t + 4.
  localparam int unsigned YL = Y_W / 2;
  localparam int unsigned TL = T_W / 2;
  localparam int unsigned YH = Y_W - YL;
  localparam int unsigned TH = T_W - TL;

  // FORWARD: y_i, T_i of the row (the lanes' sum of every word)
  logic [YL-1:0]          ylo_q, ylo_d;
  logic [TL-1:0]          tlo_q, tlo_d;
  logic                   yc_q, yc_d, tc_q, tc_d;             // carries out of the low halves
  logic [YH-1:0]          yadd_q, yhi_q, yhi_d;               // high half: addend, sum
  logic [TH-1:0]          tadd_q, thi_q, thi_d;
  // TRANSPOSE: z_j, T_j per lane (the sum over the rows of the block)
  logic [YL-1:0]          zlo_q [LANES];
  logic [YL-1:0]          zlo_d [LANES];
  logic [TL-1:0]          ztlo_q [LANES];
  logic [TL-1:0]          ztlo_d [LANES];
  logic                   zc_q [LANES];
  logic                   zc_d [LANES];
  logic                   ztc_q [LANES];
  logic                   ztc_d [LANES];
  logic [YH-1:0]          zadd_q [LANES];
  logic [YH-1:0]          zhi_q [LANES];
  logic [YH-1:0]          zhi_d [LANES];
  logic [TH-1:0]          ztadd_q [LANES];
  logic [TH-1:0]          zthi_q [LANES];
  logic [TH-1:0]          zthi_d [LANES];
  logic [LANES*RAW_W-1:0] coll_q, coll_d;    // FORWARD: the sums of the rows of one word

  // s3: low halves
  always_comb begin
    ylo_d  = ylo_q;
    yc_d   = yc_q;
    tlo_d  = tlo_q;
    tc_d   = tc_q;
    zlo_d  = zlo_q;
    zc_d   = zc_q;
    ztlo_d = ztlo_q;
    ztc_d  = ztc_q;
    if (m_q[3].valid && is_fwd) begin
      {yc_d, ylo_d} = (m_q[3].row_first ? (YL + 1)'(0) : (YL + 1)'(ylo_q)) +
                      (YL + 1)'(s3_ysum_q[YL-1:0]);
      {tc_d, tlo_d} = (m_q[3].row_first ? (TL + 1)'(0) : (TL + 1)'(tlo_q)) +
                      (TL + 1)'(s3_tsum_q[TL-1:0]);
    end
    if (m_q[3].valid && is_trn) begin
      for (int l = 0; l < LANES; l++) begin
        {zc_d[l], zlo_d[l]}   = (m_q[3].blk_first ? (YL + 1)'(0) : (YL + 1)'(zlo_q[l])) +
                                (YL + 1)'(s3_prod_q[l][YL-1:0]);
        {ztc_d[l], ztlo_d[l]} = (m_q[3].blk_first ? (TL + 1)'(0) : (TL + 1)'(ztlo_q[l])) +
                                (TL + 1)'(s3_tprod_q[l][TL-1:0]);
      end
    end
  end

  // s3 -> s4: the write decisions of the word, registered (s4 only adds and selects)
  logic             s4_fwd_q, s4_trn_q;     // a FORWARD / TRANSPOSE word in s4
  logic [LANES-1:0] s4_cen_q;               // FORWARD: the row's sums into this lane of coll
  logic             s4_we_q;                // the buffer write
  logic [NWA_W-1:0] s4_waddr_q;
  always_ff @(posedge clk) begin
    s4_fwd_q <= m_q[3].valid && is_fwd;
    s4_trn_q <= m_q[3].valid && is_trn;
    for (int l = 0; l < LANES; l++) begin
      s4_cen_q[l] <= m_q[3].valid && is_fwd && m_q[3].row_last &&
                     (m_q[3].i[LOG_L-1:0] == LOG_L'(l));
    end
    s4_we_q <= m_q[3].valid &&
               ((is_fwd && m_q[3].row_last &&
                 (m_q[3].i[LOG_L-1:0] == LOG_L'(LANES - 1) || m_q[3].i == IX_W'(ROWS - 1))) ||
                (is_trn && m_q[3].blk_last));
    s4_waddr_q <= is_trn ? NWA_W'(m_q[3].w) : NWA_W'(m_q[3].i >> LOG_L);
  end

  // s4: high halves (the carry as the carry-in of one adder: ({a, c} + {b, c}) >> 1 =
  // a + b + c), the buffer write
  always_comb begin
    yhi_d       = yhi_q;
    thi_d       = thi_q;
    zhi_d       = zhi_q;
    zthi_d      = zthi_q;
    coll_d      = coll_q;
    raw_we_o    = s4_we_q;
    raw_waddr_o = s4_waddr_q;
    if (s4_fwd_q) begin
      yhi_d = YH'(({(m_q[4].row_first ? YH'(0) : yhi_q), yc_q} + {yadd_q, yc_q}) >> 1);
      thi_d = TH'(({(m_q[4].row_first ? TH'(0) : thi_q), tc_q} + {tadd_q, tc_q}) >> 1);
    end
    for (int l = 0; l < LANES; l++) begin
      if (s4_cen_q[l]) begin
        coll_d[RAW_W * l +: RAW_W] = {thi_d, tlo_q, yhi_d, ylo_q};
      end
    end
    raw_wdata_o = coll_d;
    if (s4_trn_q) begin
      for (int l = 0; l < LANES; l++) begin
        zhi_d[l]  = YH'(({(m_q[4].blk_first ? YH'(0) : zhi_q[l]), zc_q[l]} +
                         {zadd_q[l], zc_q[l]}) >> 1);
        zthi_d[l] = TH'(({(m_q[4].blk_first ? TH'(0) : zthi_q[l]), ztc_q[l]} +
                         {ztadd_q[l], ztc_q[l]}) >> 1);
        raw_wdata_o[RAW_W * l +: RAW_W] = {zthi_d[l], ztlo_q[l], zhi_d[l], zlo_q[l]};
      end
    end
  end

  always_ff @(posedge clk) begin
    ylo_q  <= ylo_d;
    yc_q   <= yc_d;
    tlo_q  <= tlo_d;
    tc_q   <= tc_d;
    yadd_q <= s3_ysum_q[Y_W-1:YL];
    tadd_q <= s3_tsum_q[T_W-1:TL];
    yhi_q  <= yhi_d;
    thi_q  <= thi_d;
    coll_q <= coll_d;
    for (int l = 0; l < LANES; l++) begin
      zlo_q[l]   <= zlo_d[l];
      zc_q[l]    <= zc_d[l];
      ztlo_q[l]  <= ztlo_d[l];
      ztc_q[l]   <= ztc_d[l];
      zadd_q[l]  <= s3_prod_q[l][Y_W-1:YL];
      ztadd_q[l] <= s3_tprod_q[l][T_W-1:TL];
      zhi_q[l]   <= zhi_d[l];
      zthi_q[l]  <= zthi_d[l];
    end
  end

  // ------------------------------------------------------------------ s5 -> WB_STAGE: update lanes
  logic [G_W-1:0]             l_cp [LANES];
  logic [G_W-1:0]             l_cm [LANES];
  logic signed [SUM_BITS-1:0] l_acc [LANES];
  logic [7:0]                 l_n [LANES];
  logic                       l_up [LANES];
  logic                       l_stuck [LANES];
  for (genvar l = 0; l < LANES; l++) begin : g_lane
    memhil_tile_lane #(.G_W(G_W), .CELL_W(CELL_W)) u_lane (
      .clk         (clk),
      .tbl_we      (tbl_we_i),
      .tbl_waddr   (tbl_waddr_i),
      .tbl_wdata   (tbl_wdata_i),
      .cfg_cmax    (cfg_cmax_i),
      .cfg_sub_bits(cfg_sub_bits_i),
      .cfg_mode    (cfg_mode_i),
      .cfg_lr_q    (cfg_lr_q_i),
      .cfg_d2d_key (cfg_d2d_key_i),
      .cfg_c2c_q   (cfg_c2c_q_i),
      .cfg_d2d_q   (cfg_d2d_q_i),
      .cfg_fault_rate(cfg_fault_rate_i),
      .cfg_fault_key(cfg_fault_key_i),
      .tile        (tile_i),
      .apply       (apply_i),
      .in_valid    (m_q[ACC_STAGE].valid && m_q[ACC_STAGE].smp_last &&
                    m_q[ACC_STAGE].lanes[l] && is_upd),
      .in_acc      (s5_acc_q[l]),
      .in_cp       (s5_cp_q[l]),
      .in_cm       (s5_cm_q[l]),
      .in_r        (s5_r_q[l]),
      .in_cell     (m_q[ACC_STAGE].cellix + CELL_W'(l)),
      .out_cp      (l_cp[l]),
      .out_cm      (l_cm[l]),
      .out_acc     (l_acc[l]),
      .out_n       (l_n[l]),
      .out_up      (l_up[l]),
      .out_stuck   (l_stuck[l])
    );
  end

  // ------------------------------------------------------------------ WB_STAGE: write back
  logic [9 + LOG_L:0] wb_n, wb_up, wb_stuck;
  logic [31:0]        pulses_q, pulses_d, pulses_up_q, pulses_up_d, pulses_stuck_q, pulses_stuck_d;
  always_comb begin
    wb_n     = '0;
    wb_up    = '0;
    wb_stuck = '0;
    for (int l = 0; l < LANES; l++) begin
      wb_n     = wb_n + (10 + LOG_L)'(l_n[l]);
      wb_up    = wb_up + ((l_up[l] && !l_stuck[l]) ? (10 + LOG_L)'(l_n[l]) : '0);
      wb_stuck = wb_stuck + (l_stuck[l] ? (10 + LOG_L)'(l_n[l]) : '0);
      wb_code_o[l * 2 * G_W +: 2 * G_W]    = {l_cm[l], l_cp[l]};
    end
    wb_we_o   = m_q[WB_STAGE].valid && m_q[WB_STAGE].smp_last && is_upd;
    wb_addr_o = m_q[WB_STAGE].addr;
    pulses_d       = pulses_q;
    pulses_up_d    = pulses_up_q;
    pulses_stuck_d = pulses_stuck_q;
    if (clear_i) begin
      pulses_d       = '0;
      pulses_up_d    = '0;
      pulses_stuck_d = '0;
    end else if (wb_we_o) begin
      pulses_d       = pulses_q + 32'(wb_n);
      pulses_up_d    = pulses_up_q + 32'(wb_up);
      pulses_stuck_d = pulses_stuck_q + 32'(wb_stuck);
    end
  end

  assign pulses_o       = pulses_q;
  assign pulses_up_o    = pulses_up_q;
  assign pulses_stuck_o = pulses_stuck_q;

  // the lanes' sum after an apply (0) is not kept: there is no sum RAM (contract v3)
  logic unused_pass;
  always_comb begin
    unused_pass = 1'b0;
    for (int l = 0; l < LANES; l++) unused_pass = unused_pass ^ (^l_acc[l]);
  end

  always_comb begin
    busy_o = 1'b0;
    for (int s = 1; s <= WB_STAGE; s++) begin
      busy_o = busy_o | m_q[s].valid;
    end
  end

  // ------------------------------------------------------------------ registers
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
    p_i_q    <= p_i_d;
    p_w_q    <= p_w_d;
    p_addr_q <= p_addr_d;
    p_cell_q <= p_cell_d;
    p_bleft_q <= p_bleft_d;
    p_il_q   <= p_il_d;
    p_wl_q   <= p_wl_d;
    p_bf_q   <= p_bf_d;
    p_bl_q   <= p_bl_d;
    p_x_q    <= p_x_d;
    p_d_q    <= p_d_d;
    pulses_q <= pulses_d;
    pulses_up_q    <= pulses_up_d;
    pulses_stuck_q <= pulses_stuck_d;
  end

endmodule : memhil_array_pass

`resetall
