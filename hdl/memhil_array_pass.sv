// SPDX-License-Identifier: MIT
// memhil_array_pass: the cell pass (PASS, DRAIN) of memhil_array, contract sections 5 and 6:
// one RAM word (LANES cells) per clock through a pipeline that computes the read sums of
// FORWARD / TRANSPOSE and the batch-sum-and-apply of UPDATE.
//   s0   walk (while run_i): FORWARD / UPDATE rows outer, words inner, and for an UPDATE of B
//        samples the B samples of each cell word innermost (the word is issued B clocks in a
//        row); TRANSPOSE column words outer, rows inner; read addresses of codes, x[b][w],
//        d[b][i], column / row stream bits of sample b, column / row LFSR states; last_o with
//        the last sample of the last word
//   s1   RAM words -> per lane (c+ - c-) * v, |v| * (c+ + c- + 2 * C0), x * d,
//        row bits & column bits, noise word r = R_i ^ C_j
//   s2   popcount (coincidences), S' = (sample 0 ? 0 : S of the clock before) + inc (the batch
//        sum of the cell, in lane registers: contract v3 has no per-cell accumulator RAM);
//        lane products masked, summed
//   s3   FORWARD: y_i += sum over lanes, at the row's last word into the read-sum buffer
//        (LANES rows per word); TRANSPOSE: z_j += per lane, at the last row into the buffer;
//        UPDATE: with the last sample, LANES x memhil_tile_lane (LANE_LAT = 14 clocks)
//   s17  write back codes (UPDATE, last sample), pulses_o += sum of n (pulses_up_o: of the
//        lanes whose pulses went up to a working device; pulses_stuck_o: to a stuck one)
// Latency: a word issued in clock t is written back in t + WB_STAGE (17); its read sums reach
// the buffer in t + 3. busy_o is high while any issued word is still in the pipeline.
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
  input  wire logic [7:0]             op_i,
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
  input  wire logic                   clear_i,         // a command is accepted: pulses_o = 0
  input  wire logic                   start_i,         // cursor to the tile's first word
  input  wire logic                   run_i,           // issue one word per clock
  output logic                        last_o,          // this clock issues the last word
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
  output logic [XA_W-1:0]             cbits_raddr_o,
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
  localparam int unsigned WB_STAGE   = 3 + LANE_LAT;                  // write-back stage

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
  assign is_fwd = (op_i == OP_FORWARD);
  assign is_trn = (op_i == OP_TRANSPOSE);
  assign is_upd = (op_i == OP_UPDATE);

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
  logic [15:0]       p_b_q, p_b_d;           // sample of the update (innermost)
  logic [XA_W-1:0]   p_x_q, p_x_d;           // b * WC + w: x and column-bit word
  logic [DA_W-1:0]   p_d_q, p_d_d;           // b * WR + i / LANES: d and row-bit word
  logic              p_bl;                   // the last sample of this cell word
  meta_t             m0;
  meta_t             m_q [1:WB_STAGE];

  always_comb begin
    p_i_d    = p_i_q;
    p_w_d    = p_w_q;
    p_addr_d = p_addr_q;
    p_cell_d = p_cell_q;
    p_b_d    = p_b_q;
    p_x_d    = p_x_q;
    p_d_d    = p_d_q;
    m0       = '0;
    p_bl     = (p_b_q == nsmp_i - 16'd1);
    if (start_i) begin
      p_i_d    = '0;
      p_w_d    = '0;
      p_addr_d = base_c_i;
      p_cell_d = '0;
      p_b_d    = '0;
      p_x_d    = '0;
      p_d_d    = '0;
    end else if (run_i && !p_bl) begin
      // the next sample of the same cell word (UPDATE of B > 1 samples, rows outer)
      m0.valid     = 1'b1;
      m0.addr      = p_addr_q;
      m0.i         = p_i_q;
      m0.w         = p_w_q;
      m0.cellix    = p_cell_q + CELL_W'(p_w_q << LOG_L);
      m0.lanes     = lane_mask(p_w_q);
      m0.smp_first = (p_b_q == 16'd0);
      p_b_d        = p_b_q + 16'd1;
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
      m0.row_last  = (p_w_q == IX_W'(WC - 1));
      m0.blk_first = (p_i_q == '0);
      m0.blk_last  = (p_i_q == IX_W'(ROWS - 1));
      m0.smp_first = (p_b_q == 16'd0);
      m0.smp_last  = 1'b1;
      p_b_d        = '0;
      if (is_trn) begin
        // column blocks outer, rows inner
        if (p_i_q == IX_W'(ROWS - 1)) begin
          p_i_d    = '0;
          p_w_d    = p_w_q + 1'b1;
          p_addr_d = base_c_i + CA_W'(p_w_q) + 1'b1;
        end else begin
          p_i_d    = p_i_q + 1'b1;
          p_addr_d = p_addr_q + CA_W'(WC);
        end
        p_x_d = XA_W'(p_w_d);
        p_d_d = DA_W'(p_i_d >> LOG_L);
      end else begin
        // rows outer, words inner
        p_addr_d = p_addr_q + 1'b1;
        if (p_w_q == IX_W'(WC - 1)) begin
          p_w_d    = '0;
          p_i_d    = p_i_q + 1'b1;
          p_cell_d = p_cell_q + CELL_W'(COLS);
        end else begin
          p_w_d = p_w_q + 1'b1;
        end
        p_x_d = XA_W'(p_w_d);
        p_d_d = DA_W'(p_i_d >> LOG_L);
      end
    end
  end

  assign last_o        = run_i && (p_i_q == IX_W'(ROWS - 1)) && (p_w_q == IX_W'(WC - 1)) && p_bl;
  assign cell_raddr_o  = p_addr_q;
  assign x_raddr_o     = p_x_q;
  assign cbits_raddr_o = p_x_q;
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
  logic signed [SUM_BITS-1:0] s3_acc_q [LANES];
  logic signed [SUM_BITS-1:0] s3_acc_d [LANES];
  logic [G_W-1:0]        s3_cp_q [LANES];
  logic [G_W-1:0]        s3_cm_q [LANES];
  logic [31:0]           s3_r_q [LANES];
  logic signed [Y_W-1:0] s3_prod_q [LANES];
  logic signed [Y_W-1:0] s3_prod_d [LANES];
  logic [T_W-1:0]        s3_tprod_q [LANES];
  logic [T_W-1:0]        s3_tprod_d [LANES];
  logic signed [Y_W-1:0] s3_ysum_q, s3_ysum_d;
  logic [T_W-1:0]        s3_tsum_q, s3_tsum_d;

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
      if (cfg_mode_i == MODE_COINCIDENCE) begin
        inc = s2_zero_q[l] ? 26'sd0 : (s2_neg_q[l] ? -$signed(26'(cnt)) : $signed(26'(cnt)));
      end else begin
        inc = 26'(s2_incr_q[l]);
      end
      // the batch sum: 0 before sample 0, else the previous sample's sum (the clock before:
      // the samples of one cell word are issued back to back)
      sum = (m_q[2].smp_first ? 26'sd0 : 26'(s3_acc_q[l])) + inc;
      if (sum > 26'sd8388607) begin
        s3_acc_d[l] = 24'sd8388607;
      end else if (sum < -26'sd8388608) begin
        s3_acc_d[l] = -24'sd8388608;
      end else begin
        s3_acc_d[l] = SUM_BITS'(sum);
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
    s3_acc_q   <= s3_acc_d;
    s3_cp_q    <= s2_cp_q;
    s3_cm_q    <= s2_cm_q;
    s3_r_q     <= s2_r_q;
    s3_prod_q  <= s3_prod_d;
    s3_tprod_q <= s3_tprod_d;
    s3_ysum_q  <= s3_ysum_d;
    s3_tsum_q  <= s3_tsum_d;
  end

  // ------------------------------------------------------------------ s3: read sums
  logic signed [Y_W-1:0] y_acc_q, y_acc_d;
  logic [T_W-1:0]        t_acc_q, t_acc_d;
  logic signed [Y_W-1:0] z_acc_q [LANES];
  logic signed [Y_W-1:0] z_acc_d [LANES];
  logic [T_W-1:0]        zt_acc_q [LANES];
  logic [T_W-1:0]        zt_acc_d [LANES];
  logic [LANES*RAW_W-1:0] coll_q, coll_d;    // FORWARD: the sums of the rows of one word
  logic signed [Y_W-1:0] s3_ynew;
  logic [T_W-1:0]        s3_tnew;
  always_comb begin
    y_acc_d     = y_acc_q;
    t_acc_d     = t_acc_q;
    z_acc_d     = z_acc_q;
    zt_acc_d    = zt_acc_q;
    coll_d      = coll_q;
    raw_we_o    = 1'b0;
    raw_waddr_o = '0;
    raw_wdata_o = coll_q;
    s3_ynew     = (m_q[3].row_first ? '0 : y_acc_q) + s3_ysum_q;
    s3_tnew     = (m_q[3].row_first ? '0 : t_acc_q) + s3_tsum_q;
    if (m_q[3].valid && is_fwd) begin
      y_acc_d = s3_ynew;
      t_acc_d = s3_tnew;
      if (m_q[3].row_last) begin
        coll_d[RAW_W * int'(m_q[3].i[LOG_L-1:0]) +: RAW_W] = {s3_tnew, s3_ynew};
        if (m_q[3].i[LOG_L-1:0] == LOG_L'(LANES - 1) || m_q[3].i == IX_W'(ROWS - 1)) begin
          raw_we_o    = 1'b1;
          raw_waddr_o = NWA_W'(m_q[3].i >> LOG_L);
          raw_wdata_o = coll_d;
        end
      end
    end
    if (m_q[3].valid && is_trn) begin
      for (int l = 0; l < LANES; l++) begin
        z_acc_d[l]  = (m_q[3].blk_first ? '0 : z_acc_q[l]) + s3_prod_q[l];
        zt_acc_d[l] = (m_q[3].blk_first ? '0 : zt_acc_q[l]) + s3_tprod_q[l];
        raw_wdata_o[RAW_W * l +: RAW_W] = {zt_acc_d[l], z_acc_d[l]};
      end
      if (m_q[3].blk_last) begin
        raw_we_o    = 1'b1;
        raw_waddr_o = NWA_W'(m_q[3].w);
      end
    end
  end

  // ------------------------------------------------------------------ s3 -> WB_STAGE: update lanes
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
      .in_valid    (m_q[3].valid && m_q[3].smp_last && m_q[3].lanes[l] && is_upd),
      .in_acc      (s3_acc_q[l]),
      .in_cp       (s3_cp_q[l]),
      .in_cm       (s3_cm_q[l]),
      .in_r        (s3_r_q[l]),
      .in_cell     (m_q[3].cellix + CELL_W'(l)),
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
    p_b_q    <= p_b_d;
    p_x_q    <= p_x_d;
    p_d_q    <= p_d_d;
    pulses_q <= pulses_d;
    pulses_up_q    <= pulses_up_d;
    pulses_stuck_q <= pulses_stuck_d;
    y_acc_q  <= y_acc_d;
    t_acc_q  <= t_acc_d;
    z_acc_q  <= z_acc_d;
    zt_acc_q <= zt_acc_d;
    coll_q   <= coll_d;
  end

endmodule : memhil_array_pass

`resetall
