// SPDX-License-Identifier: MIT
// memhil_wide_pass: the per-cell arithmetic of memhil_array_pass for P cells per clock (the
// "wide pass" of docs/onchip-training.md, "The array side"), with the batch sums handed to a
// narrow apply LANES cells at a time. Not yet used by memhil_array: a measured candidate.
//
// One RAM word of P cells per clock (in_valid_i): codes {c-, c+} per cell (code_i, as
// memhil_array_pass's code_rdata_i), per-cell operands x_j (x_i; FORWARD's input, UPDATE's x),
// the word row's d (d_i), the column stream bits per cell (cbits_i) and the row's (rbits_i).
// in_first_i / in_last_i mark the first and last word of a sum: FORWARD the words of one row
// (row_first / row_last), TRANSPOSE the rows of one column word (blk_first / blk_last), UPDATE
// the samples of one cell word (smp_first / smp_last). Operands are codes clamped to +-127
// (memhil_array_ctrl's LOAD clamps -128), as in memhil_array_pass.
//
// Contract sections 5 and 6, per cell (i, j) of a word, v = x_j (FORWARD) or d (TRANSPOSE,
// UPDATE), one DSP48 per cell with two products packed (they share the operand |v|):
//   A = {a1, (c+ + c-)[15:0]} = a1 * 2^16 + (c+ + c-),  B = |v|,  A * B = a1 |v| 2^16 + (c+ + c-) |v|
//   with a1 = sign(v) (c+ - c-) (FORWARD, TRANSPOSE) or sign(d) x_j (UPDATE rounding); since
//   0 <= (c+ + c-) |v| < 2^16 (G_W <= 8) the two fields come apart exactly:
//   hi = P >> 16 = (c+ - c-) v  (or x_j d),   lo = P[15:0] = |v| (c+ + c-).
//   The T term |v| (c+ + c- + 2 C0) = lo + 2 C0 |v|: its 2 C0 part is taken once per sum,
//   2 C0 * sum |v|, by one more DSP48 (FORWARD: sum over the row's x_j; TRANSPOSE: over the
//   block's d_i, the same for every column).
// Stages (a word in at clock t; the inputs come from registers: block RAM, operand buffers):
//   s1 (t+1)   A, B (DSP AREG/BREG), |v|, rowbits & colbits, the signs of the coincidence
//   s2 (t+2)   A * B (MREG); the popcount's group counts (memhil_dp_popcount)
//   s3 (t+3)   the product (PREG); the coincidence increment +-popcount (0 if x = 0 or d = 0)
//   FORWARD    s3 + l (l = 1 .. log2 P): the adder tree over the P cells of (hi, lo, |x_j|),
//              one registered level per clock; s4 + log2 P: the row sums (first: from 0);
//              s5 + log2 P: operands of 2 C0 * sum|x| (DSP48 A/B registers); s6 + log2 P:
//              the product; s7, s8 + log2 P: T_i = sum lo + 2 C0 sum|x| in two halves;
//              fwd_valid_o, fwd_y_o = y_i, fwd_t_o = T_i in s8 + log2 P
//   TRANSPOSE  s4: per column acc1 = (first ? 0 : acc1) + hi, acc2 = (first ? 0 : acc2) + lo,
//   / UPDATE   and the block's sum |d_i|; UPDATE: acc1 = sat24((first ? 0 : acc1) + inc), inc =
//              hi (x_j d, rounding) or the coincidence increment (memhil_array_pass's s4).
//              With the last word the P sums (and the word's codes) go into a bank that is read
//              out LANES cells per clock over NG = P / LANES clocks (out_grp_o = 0 .. NG - 1):
//              capture in clock c (= t + 4), group g in out_* at c + 3 + g: out_y_o z_j or S
//              (sign-extended), out_t_o T_j = acc2 + 2 C0 sum |d| (two halves, a carry between),
//              out_sum_o S (24 bits), out_cp_o / out_cm_o the codes (UPDATE: for the apply).
//              A sum must not finish while the bank is read out (the last word of the next sum
//              at least NG clocks after the last one): else overrun_o is set (sticky until reset).
// Widths and saturation as memhil_array_pass: y / z sign-extended to Y_W = 48, T zero-extended
// to T_W = 40 (the sums hold every value the contract's geometry allows, MAX_ROWS / MAX_COLS
// words of one sum), S saturated to SUM_BITS = 24 signed exactly as the pass's s4.

`resetall
`default_nettype none

module memhil_wide_pass
  import memhil_pkg::*;
#(
  parameter int unsigned P     = 16,        // cells per clock (power of two)
  parameter int unsigned LANES = 8,         // apply lanes behind the bank (P % LANES == 0)
  parameter int unsigned G_W   = 8,         // code bits (<= 8: the packed DSP fields)
  parameter int unsigned SB    = 8,
  parameter int unsigned BUILD_BL_MAX = 32,
  localparam int unsigned WB    = SB * ((BUILD_BL_MAX + SB - 1) / SB),   // stream bits per cell
  localparam int unsigned NG    = P / LANES,
  localparam int unsigned NG_W  = (NG > 1) ? $clog2(NG) : 1,
  localparam int unsigned Y_W   = 48,
  localparam int unsigned T_W   = 40
) (
  input  wire logic                    clk,
  input  wire logic                    rst_n,
  // command and configuration (stable during a pass)
  input  wire logic                    op_fwd_i,
  input  wire logic                    op_trn_i,
  input  wire logic                    op_upd_i,
  input  wire logic                    cfg_mode_i,
  input  wire logic [15:0]             cfg_c0_i,
  // one word per clock
  input  wire logic                    in_valid_i,
  input  wire logic                    in_first_i,
  input  wire logic                    in_last_i,
  input  wire logic [P*2*G_W-1:0]      code_i,
  input  wire logic [P*8-1:0]          x_i,
  input  wire logic [7:0]              d_i,
  input  wire logic [P*WB-1:0]         cbits_i,
  input  wire logic [WB-1:0]           rbits_i,
  // FORWARD: one row's read sums
  output logic                         fwd_valid_o,
  output logic [Y_W-1:0]               fwd_y_o,
  output logic [T_W-1:0]               fwd_t_o,
  // TRANSPOSE / UPDATE: the bank, LANES cells per clock
  output logic                         out_valid_o,
  output logic [NG_W-1:0]              out_grp_o,
  output logic [LANES*Y_W-1:0]         out_y_o,
  output logic [LANES*T_W-1:0]         out_t_o,
  output logic [LANES*SUM_BITS-1:0]    out_sum_o,
  output logic [LANES*G_W-1:0]         out_cp_o,
  output logic [LANES*G_W-1:0]         out_cm_o,
  output logic                         overrun_o,
  output logic                         busy_o
);

  localparam int unsigned L      = $clog2(P);                     // adder tree levels
  localparam int unsigned NMAX_W = $clog2((MAX_ROWS > MAX_COLS) ? MAX_ROWS : MAX_COLS);
  localparam int unsigned HI_W   = 16;                             // the high field: x_j d
  localparam int unsigned YC_W   = G_W + 8;                        // (c+ - c-) v, signed
  localparam int unsigned TC_W   = G_W + 8;                        // |v| (c+ + c-), unsigned
  localparam int unsigned MC_W   = 7;                              // |v|
  localparam int unsigned YA_W   = YC_W + NMAX_W;                  // a sum over <= 1024 words
  localparam int unsigned TA_W   = TC_W + NMAX_W;
  localparam int unsigned MA_W   = MC_W + NMAX_W;
  localparam int unsigned A1_W   = (YA_W > SUM_BITS) ? YA_W : SUM_BITS;
  localparam int unsigned CNT_W  = $clog2(WB + 1);
  localparam int unsigned K_W    = MA_W + 17;                      // 2 C0 sum |v|
  localparam int unsigned TT_W   = ((K_W > TA_W) ? K_W : TA_W) + 1; // T
  localparam int unsigned TLO    = TT_W / 2;                       // T's halves (carry between)
  localparam int unsigned TR_LAT = 8 + L;                          // FORWARD in -> fwd_valid_o

  if (P < 2 || (1 << L) != P || LANES < 1 || P % LANES != 0) begin : g_bad_p
    $fatal(1, "memhil_wide_pass: P (%0d) must be a power of two >= 2 and a multiple of LANES (%0d)",
           P, LANES);
  end
  if (G_W < 1 || G_W > 8) begin : g_bad_gw
    $fatal(1, "memhil_wide_pass: G_W (%0d) must be 1..8 (two products in one DSP48)", G_W);
  end
  if (TT_W > T_W || A1_W + 1 > Y_W) begin : g_bad_w
    $fatal(1, "memhil_wide_pass: sums wider than the read-sum words");
  end

  function automatic logic [6:0] mag7(input logic [7:0] b);
    mag7 = b[7] ? 7'(-b) : b[6:0];
  endfunction

  // ------------------------------------------------------------------ flags of each stage
  logic [TR_LAT:1] vld_q, lst_q;
  logic [3+L:1]    fst_q;
  always_ff @(posedge clk) begin
    if (!rst_n) begin
      vld_q <= '0;
    end else begin
      vld_q <= {vld_q[TR_LAT-1:1], in_valid_i};
    end
  end
  always_ff @(posedge clk) begin
    fst_q <= {fst_q[2+L:1], in_first_i};
    lst_q <= {lst_q[TR_LAT-1:1], in_last_i};
  end

  // ------------------------------------------------------------------ s1: DSP operands
  logic signed [24:0] a1_q [P];      // DSP A: {a1, c+ + c-}
  logic signed [24:0] a1_d [P];
  logic signed [7:0]  b1_q [P];      // DSP B: |v|
  logic signed [7:0]  b1_d [P];
  logic [MC_W-1:0]    m1_q [P];      // |x_j| (FORWARD's sum |x|)
  logic [MC_W-1:0]    m1_d [P];
  logic [WB-1:0]      and1_q [P];
  logic [WB-1:0]      and1_d [P];
  logic               neg1_q [P], zero1_q [P];
  logic               neg1_d [P], zero1_d [P];
  logic [2*G_W-1:0]   code1_q [P];
  logic [MC_W-1:0]    md1_q;         // |d| (TRANSPOSE's sum |d|)

  always_comb begin
    for (int j = 0; j < P; j++) begin
      logic [G_W-1:0]    cp, cm;
      logic [7:0]        xv, vv;
      logic signed [9:0] lhs, rhs;
      logic signed [8:0] a1;
      cp = code_i[j * 2 * G_W +: G_W];
      cm = code_i[j * 2 * G_W + G_W +: G_W];
      xv = x_i[j * 8 +: 8];
      vv = op_fwd_i ? xv : d_i;
      // a1 = lhs - rhs: sign(v) (c+ - c-), or sign(d) x_j for the update's x_j d
      if (op_upd_i) begin
        lhs = d_i[7] ? 10'sd0 : 10'($signed(xv));
        rhs = d_i[7] ? 10'($signed(xv)) : 10'sd0;
      end else begin
        lhs = vv[7] ? $signed({2'b00, 8'(cm)}) : $signed({2'b00, 8'(cp)});
        rhs = vv[7] ? $signed({2'b00, 8'(cp)}) : $signed({2'b00, 8'(cm)});
      end
      a1 = 9'(lhs - rhs);        // |a1| <= 255
      a1_d[j]    = $signed({a1, 16'(17'(cp) + 17'(cm))});
      b1_d[j]    = $signed({1'b0, mag7(vv)});
      m1_d[j]    = mag7(xv);
      and1_d[j]  = rbits_i & cbits_i[j * WB +: WB];
      neg1_d[j]  = xv[7] ^ d_i[7];
      zero1_d[j] = (xv == 8'd0) || (d_i == 8'd0);
    end
  end

  always_ff @(posedge clk) begin
    a1_q    <= a1_d;
    b1_q    <= b1_d;
    m1_q    <= m1_d;
    and1_q  <= and1_d;
    neg1_q  <= neg1_d;
    zero1_q <= zero1_d;
    md1_q   <= mag7(d_i);
    for (int j = 0; j < P; j++) begin
      code1_q[j] <= code_i[j * 2 * G_W +: 2 * G_W];
    end
  end

  // ------------------------------------------------------------------ s2, s3: products, popcount
  logic signed [31:0] m2_q [P];      // MREG (|A B| < 2^31)
  logic signed [31:0] p3_q [P];      // PREG
  logic [MC_W-1:0]    m2m_q [P], m3m_q [P];
  logic               neg2_q [P], zero2_q [P];
  logic [CNT_W-1:0]   cnt2 [P];
  logic signed [CNT_W:0] inc3_q [P];  // the coincidence increment
  logic [2*G_W-1:0]   code2_q [P], code3_q [P];
  logic [MC_W-1:0]    md2_q, md3_q;

  for (genvar j = 0; j < P; j++) begin : g_pop
    memhil_dp_popcount #(.N(WB), .CNT_W(CNT_W)) u_pop (
      .clk(clk), .in_bits(and1_q[j]), .count(cnt2[j]));
  end

  always_ff @(posedge clk) begin
    for (int j = 0; j < P; j++) begin
      m2_q[j]    <= a1_q[j] * b1_q[j];
      p3_q[j]    <= m2_q[j];
      inc3_q[j]  <= zero2_q[j] ? '0 :
                    (neg2_q[j] ? -$signed({1'b0, cnt2[j]}) : $signed({1'b0, cnt2[j]}));
    end
    m2m_q   <= m1_q;
    m3m_q   <= m2m_q;
    neg2_q  <= neg1_q;
    zero2_q <= zero1_q;
    code2_q <= code1_q;
    code3_q <= code2_q;
    md2_q   <= md1_q;
    md3_q   <= md2_q;
  end

  // the two fields of each product
  logic signed [HI_W-1:0] hi3 [P];
  logic [TC_W-1:0]        lo3 [P];
  always_comb begin
    for (int j = 0; j < P; j++) begin
      hi3[j] = p3_q[j][31:16];
      lo3[j] = TC_W'(p3_q[j][15:0]);
    end
  end

  // ------------------------------------------------------------------ FORWARD: adder tree, row sums
  for (genvar l = 1; l <= L; l++) begin : g_lvl
    localparam int unsigned N = P >> l;
    logic signed [YC_W+l-1:0] y_q [N];
    logic [TC_W+l-1:0]        t_q [N];
    logic [MC_W+l-1:0]        m_q [N];
    for (genvar k = 0; k < N; k++) begin : g_node
      if (l == 1) begin : g_leaf
        always_ff @(posedge clk) begin
          y_q[k] <= (YC_W + 1)'(hi3[2 * k]) + (YC_W + 1)'(hi3[2 * k + 1]);
          t_q[k] <= (TC_W + 1)'(lo3[2 * k]) + (TC_W + 1)'(lo3[2 * k + 1]);
          m_q[k] <= (MC_W + 1)'(m3m_q[2 * k]) + (MC_W + 1)'(m3m_q[2 * k + 1]);
        end
      end else begin : g_inner
        always_ff @(posedge clk) begin
          y_q[k] <= (YC_W + l)'(g_lvl[l - 1].y_q[2 * k]) + (YC_W + l)'(g_lvl[l - 1].y_q[2 * k + 1]);
          t_q[k] <= (TC_W + l)'(g_lvl[l - 1].t_q[2 * k]) + (TC_W + l)'(g_lvl[l - 1].t_q[2 * k + 1]);
          m_q[k] <= (MC_W + l)'(g_lvl[l - 1].m_q[2 * k]) + (MC_W + l)'(g_lvl[l - 1].m_q[2 * k + 1]);
        end
      end
    end
  end

  // s4 + L: the row's sums (first word: from 0)
  logic signed [YA_W-1:0] ya_q;
  logic [TA_W-1:0]        ta_q;
  logic [MA_W-1:0]        ma_q;
  always_ff @(posedge clk) begin
    if (vld_q[3 + L]) begin
      ya_q <= (fst_q[3 + L] ? YA_W'(0) : ya_q) + YA_W'(g_lvl[L].y_q[0]);
      ta_q <= (fst_q[3 + L] ? TA_W'(0) : ta_q) + TA_W'(g_lvl[L].t_q[0]);
      ma_q <= (fst_q[3 + L] ? MA_W'(0) : ma_q) + MA_W'(g_lvl[L].m_q[0]);
    end
  end

  // s5 + L: DSP48 operands (A/B registers); s6 + L: 2 C0 sum|x| (MREG); s7 + L: T's low half
  // and its carry; s8 + L: the high half (no carry chain over T's full width)
  localparam int unsigned THI = TT_W - TLO;
  logic [16:0]            c0x2_q;
  logic [MA_W-1:0]        fm_q;
  logic [K_W-1:0]         fk_q;
  logic [TA_W-1:0]        ft5_q, ft6_q;
  logic signed [YA_W-1:0] fy5_q, fy6_q, fy7_q, fy8_q;
  logic [TT_W-1:0]        fa6, fk6;
  logic [TLO-1:0]         ftl7_q, ftl8_q;
  logic                   fcy7_q;
  logic [THI-1:0]         fah7_q, fkh7_q, fth8_q;
  always_comb begin
    fa6 = TT_W'(ft6_q);
    fk6 = TT_W'(fk_q);
  end
  always_ff @(posedge clk) begin
    c0x2_q <= {cfg_c0_i, 1'b0};
    fm_q   <= ma_q;
    ft5_q  <= ta_q;
    fy5_q  <= ya_q;
    fk_q   <= K_W'(c0x2_q) * K_W'(fm_q);
    ft6_q  <= ft5_q;
    fy6_q  <= fy5_q;
    {fcy7_q, ftl7_q} <= (TLO + 1)'(fa6[TLO-1:0]) + (TLO + 1)'(fk6[TLO-1:0]);
    fah7_q <= fa6[TT_W-1:TLO];
    fkh7_q <= fk6[TT_W-1:TLO];
    fy7_q  <= fy6_q;
    // the carry as the carry-in of one adder: ({a, c} + {b, c}) >> 1 = a + b + c
    fth8_q <= THI'(({fah7_q, fcy7_q} + {fkh7_q, fcy7_q}) >> 1);
    ftl8_q <= ftl7_q;
    fy8_q  <= fy7_q;
  end
  assign fwd_valid_o = vld_q[TR_LAT] && lst_q[TR_LAT] && op_fwd_i;
  assign fwd_y_o     = Y_W'(fy8_q);
  assign fwd_t_o     = T_W'({fth8_q, ftl8_q});

  // ------------------------------------------------------------------ TRANSPOSE / UPDATE: per cell
  logic signed [A1_W-1:0] acc1_q [P];
  logic signed [A1_W-1:0] acc1_d [P];
  logic [TA_W-1:0]        acc2_q [P];
  logic [TA_W-1:0]        acc2_d [P];
  logic [MA_W-1:0]        sd_q, sd_d;       // the block's sum |d_i|
  logic                   cap;              // the last word's sums into the bank
  assign cap = vld_q[3] && lst_q[3] && (op_trn_i || op_upd_i);

  always_comb begin
    sd_d = (fst_q[3] ? MA_W'(0) : sd_q) + MA_W'(md3_q);
    for (int j = 0; j < P; j++) begin
      logic signed [A1_W:0] sum;
      logic signed [A1_W:0] inc;
      inc = (op_upd_i && cfg_mode_i == MODE_COINCIDENCE) ? (A1_W + 1)'(inc3_q[j]) :
                                                           (A1_W + 1)'(hi3[j]);
      sum = (fst_q[3] ? (A1_W + 1)'(0) : (A1_W + 1)'(acc1_q[j])) + inc;
      if (op_upd_i && sum > (A1_W + 1)'(8388607)) begin
        acc1_d[j] = A1_W'(8388607);
      end else if (op_upd_i && sum < -(A1_W + 1)'(8388608)) begin
        acc1_d[j] = -A1_W'(8388608);
      end else begin
        acc1_d[j] = A1_W'(sum);
      end
      acc2_d[j] = (fst_q[3] ? TA_W'(0) : acc2_q[j]) + TA_W'(lo3[j]);
    end
  end

  always_ff @(posedge clk) begin
    if (vld_q[3]) begin
      acc1_q <= acc1_d;
      acc2_q <= acc2_d;
      sd_q   <= sd_d;
    end
  end

  // the bank: loaded with the last word's sums, read out LANES cells per clock
  logic signed [A1_W-1:0] bk1_q [P];
  logic [TA_W-1:0]        bk2_q [P];
  logic [2*G_W-1:0]       bkc_q [P];
  logic [MA_W-1:0]        bks_q;
  always_ff @(posedge clk) begin
    if (cap) begin
      bk1_q <= acc1_d;
      bk2_q <= acc2_d;
      bkc_q <= code3_q;
      bks_q <= sd_d;
    end
  end

  logic            rd_q, rd_d;            // the bank is being read out
  logic [NG_W-1:0] grp_q, grp_d;
  logic            ovr_q, ovr_d;
  always_comb begin
    rd_d  = rd_q;
    grp_d = grp_q;
    ovr_d = ovr_q;
    if (rd_q) begin
      grp_d = grp_q + 1'b1;
      if (grp_q == NG_W'(NG - 1)) begin
        rd_d = 1'b0;
      end
    end
    if (cap) begin
      if (rd_q && grp_q != NG_W'(NG - 1)) begin
        ovr_d = 1'b1;
      end
      rd_d  = 1'b1;
      grp_d = '0;
    end
  end
  always_ff @(posedge clk) begin
    if (!rst_n) begin
      rd_q  <= 1'b0;
      grp_q <= '0;
      ovr_q <= 1'b0;
    end else begin
      rd_q  <= rd_d;
      grp_q <= grp_d;
      ovr_q <= ovr_d;
    end
  end
  assign overrun_o = ovr_q;

  // o1: the group's LANES cells; K = 2 C0 sum|d| (DSP48, PREG) from the bank
  logic signed [A1_W-1:0] o1y_q [LANES];
  logic [TA_W-1:0]        o1t_q [LANES];
  logic [2*G_W-1:0]       o1c_q [LANES];
  logic                   o1v_q, o2v_q, o3v_q;
  logic [NG_W-1:0]        o1g_q, o2g_q, o3g_q;
  logic [K_W-1:0]         k_q;
  always_ff @(posedge clk) begin
    for (int l = 0; l < LANES; l++) begin
      o1y_q[l] <= bk1_q[int'(grp_q) * LANES + l];
      o1t_q[l] <= bk2_q[int'(grp_q) * LANES + l];
      o1c_q[l] <= bkc_q[int'(grp_q) * LANES + l];
    end
    o1g_q <= grp_q;
    k_q   <= K_W'(c0x2_q) * K_W'(bks_q);
    o2g_q <= o1g_q;
    o3g_q <= o2g_q;
  end
  always_ff @(posedge clk) begin
    if (!rst_n) begin
      o1v_q <= 1'b0;
      o2v_q <= 1'b0;
      o3v_q <= 1'b0;
    end else begin
      o1v_q <= rd_q;
      o2v_q <= o1v_q;
      o3v_q <= o2v_q;
    end
  end

  // o2: T's low half and its carry; o3: the high half
  logic signed [A1_W-1:0] o2y_q [LANES], o3y_q [LANES];
  logic [2*G_W-1:0]       o2c_q [LANES], o3c_q [LANES];
  logic [TLO-1:0]         o2tl_q [LANES], o3tl_q [LANES];
  logic                   o2cy_q [LANES];
  logic [THI-1:0]         o2ah_q [LANES], o2kh_q [LANES], o3th_q [LANES];
  logic [TT_W-1:0] o1ta [LANES];
  logic [TT_W-1:0] o1k;
  always_comb begin
    o1k = TT_W'(k_q);
    for (int l = 0; l < LANES; l++) begin
      o1ta[l] = TT_W'(o1t_q[l]);
    end
  end
  always_ff @(posedge clk) begin
    for (int l = 0; l < LANES; l++) begin
      {o2cy_q[l], o2tl_q[l]} <= (TLO + 1)'(o1ta[l][TLO-1:0]) + (TLO + 1)'(o1k[TLO-1:0]);
      o2ah_q[l] <= o1ta[l][TT_W-1:TLO];
      o2kh_q[l] <= o1k[TT_W-1:TLO];
      o2y_q[l]  <= o1y_q[l];
      o2c_q[l]  <= o1c_q[l];
      // the carry as the carry-in of one adder: ({a, c} + {b, c}) >> 1 = a + b + c
      o3th_q[l] <= THI'(({o2ah_q[l], o2cy_q[l]} + {o2kh_q[l], o2cy_q[l]}) >> 1);
      o3tl_q[l] <= o2tl_q[l];
      o3y_q[l]  <= o2y_q[l];
      o3c_q[l]  <= o2c_q[l];
    end
  end

  assign out_valid_o = o3v_q;
  assign out_grp_o   = o3g_q;
  always_comb begin
    for (int l = 0; l < LANES; l++) begin
      out_y_o[l * Y_W +: Y_W]                = Y_W'(o3y_q[l]);
      out_t_o[l * T_W +: T_W]                = T_W'({o3th_q[l], o3tl_q[l]});
      out_sum_o[l * SUM_BITS +: SUM_BITS]    = SUM_BITS'(o3y_q[l]);
      out_cp_o[l * G_W +: G_W]               = o3c_q[l][G_W-1:0];
      out_cm_o[l * G_W +: G_W]               = o3c_q[l][2*G_W-1:G_W];
    end
  end

  assign busy_o = (|vld_q) || rd_q || o1v_q || o2v_q || o3v_q;

endmodule : memhil_wide_pass

`resetall
