// SPDX-License-Identifier: MIT
// memhil_tile_lane: one lane of the tile's update engine (contract sections 3 and 6, "Apply").
// It receives one cell with its freshly accumulated value acc' and returns, LATENCY = 14 cycles
// later, the cell's new codes, the accumulator value to store (0 after an apply, else acc'),
// the pulse count n it applied, its direction and whether the chosen device is stuck. Every
// stage fits the timing budget of docs/rtl.md ("Timing proxy": 6 LUT levels, 32 carry bits, every
// DSP48E1 registered, 100 MHz); the d2d hash (mix32, 4 clocks) sets the length. Stages:
//   A0  |acc|, device choice (common-mode rule), d2d / fault hash keys (registered into both
//       mix32), m * LR_Q (DSP, MREG), GAUSS[r] of the noise word (registered)
//   A1  n (rounding: floor + stochastic bit; coincidence: m); mix32 s1
//   A2 .. A4  mix32 s2 .. s4
//   A5  GAUSS[h] of the d2d hash h as two registered 128-entry halves (h[7] = 0, 1); the stuck
//       bit of the fault hash: (h >> 16) < FAULT_RATE
//   A6  GAUSS[h] (the half that h[7] selects) * D2D_Q (DSP); step-table index (table read,
//       the word arrives in A7)
//   A7  d2d factor F = clamp(4096 + (GAUSS[h] * D2D_Q >> 8), 0, FACTOR_MAX); ROOT[n]
//   A8  step1 = (S * F) >> 12 (DSP); ROOT[n] one register further (so that the product's
//       B input has a register of its own that Yosys can take into the DSP48E1)
//   A9  n * step1, ROOT[n] * step1, C2C_Q * GAUSS[r] (DSPs)
//   A10 the c2c product (C2C_Q * GAUSS[r]) * (ROOT[n] * step1), the low 17 bits of the second
//       factor (DSP); n * step1 + the rounding byte r[15:8]
//   A11 the high 13 bits times C2C_Q * GAUSS[r], plus (DSP post-adder) the low part >> 17 and
//       the rounding sum << 11: v = total + r[15:8], total = n * step1 + (c2c >> 28)
//   A12 delta = max(v, 0) >> 8 (saturated at 2^16, where every code clamps), c +- delta
//   A13 clamp to [0, CMAX] (a stuck device keeps its code); registered outputs
// The c2c product is the contract's (step1 * GAUSS[r]) * (C2C_Q * ROOT[n]) regrouped (exact
// integers, the same value) so that it needs two DSP48E1 instead of four.
// The lane holds its own copy of both step tables (512 x 16: {dir, k}, dir 0 = UP) so that
// every lane reads its table word in the same cycle; the write port is shared by all copies.

`resetall
`default_nettype none

module memhil_tile_lane
  import memhil_pkg::*;
#(
  parameter int unsigned G_W    = 8,
  parameter int unsigned CELL_W = 20
) (
  input  wire logic                  clk,
  // step-table copy: write port shared by all lanes
  input  wire logic                  tbl_we,
  input  wire logic [8:0]            tbl_waddr,
  input  wire logic [15:0]           tbl_wdata,
  // configuration (stable during a pass)
  input  wire logic [15:0]           cfg_cmax,
  input  wire logic [3:0]            cfg_sub_bits,
  input  wire logic                  cfg_mode,
  input  wire logic [31:0]           cfg_lr_q,
  input  wire logic [31:0]           cfg_d2d_key,
  input  wire logic [13:0]           cfg_c2c_q,
  input  wire logic [13:0]           cfg_d2d_q,
  input  wire logic [15:0]           cfg_fault_rate,
  input  wire logic [31:0]           cfg_fault_key,
  input  wire logic [7:0]            tile,
  input  wire logic                  apply,
  // A0: one cell
  input  wire logic                  in_valid,     // a real cell of an UPDATE pass
  input  wire logic signed [SUM_BITS-1:0] in_acc,  // acc' (after this sample's accumulate)
  input  wire logic [G_W-1:0]        in_cp,
  input  wire logic [G_W-1:0]        in_cm,
  input  wire logic [31:0]           in_r,         // noise word R_i ^ C_j
  input  wire logic [CELL_W-1:0]     in_cell,      // flat cell index i * COLS + j
  // A14 (LATENCY clocks after A0): results
  output logic [G_W-1:0]             out_cp,
  output logic [G_W-1:0]             out_cm,
  output logic signed [SUM_BITS-1:0] out_acc,
  output logic [7:0]                 out_n,
  output logic                       out_up,       // the n pulses went up (else down)
  output logic                       out_stuck     // ... to a stuck device (code unchanged)
);

  localparam int unsigned STEP1_W = 18;   // (65535 * 16383) >> 12 < 2^18

  if (G_W < 1 || G_W > MAX_CODE_BITS) begin : g_bad_gw
    $fatal(1, "memhil_tile_lane: G_W (%0d) must be in [1, %0d]", G_W, MAX_CODE_BITS);
  end
  if (CELL_W + 1 > HASH_TILE_SHIFT) begin : g_bad_cell
    $fatal(1, "memhil_tile_lane: CELL_W (%0d) overlaps the tile field of the d2d key", CELL_W);
  end

  // ---------------------------------------------------------------- A0
  logic                 a0_pos, a0_low, a0_plus;
  logic [SUM_BITS-1:0]  a0_m;
  logic [16:0]          a0_sum;
  logic [G_W-1:0]       a0_c;
  logic [31:0]          a0_key;
  logic [39:0]          a0_ql;     // m * LR_Q[15:0]
  logic [23:0]          a0_qh;     // m[7:0] * LR_Q[31:16]

  always_comb begin
    a0_pos  = (in_acc > 0);
    a0_m    = in_acc[SUM_BITS-1] ? SUM_BITS'(-in_acc) : SUM_BITS'(in_acc);
    a0_sum  = 17'(in_cp) + 17'(in_cm);
    a0_low  = (a0_sum < {1'b0, cfg_cmax});
    a0_plus = (a0_pos == a0_low);
    a0_c    = a0_plus ? in_cp : in_cm;
    a0_key  = (32'(tile) << HASH_TILE_SHIFT) | (32'(in_cell) << 1) | {31'd0, ~a0_plus};
    // q = m * LR_Q = m * LR_Q[31:16] * 2^16 + m * LR_Q[15:0]; only q[15:0] and
    // min(q >> 16, NMAX) matter, so the 24 x 32 product splits into 24 x 16 and 8 x 16
    a0_ql   = 40'(a0_m) * 40'(cfg_lr_q[15:0]);
    a0_qh   = 24'(a0_m[7:0]) * 24'(cfg_lr_q[31:16]);
  end

  // pipeline registers (datapath: no reset, every stage always loads); index = stage that
  // reads them
  typedef struct packed {
    logic                       valid;   // apply this cell
    logic signed [SUM_BITS-1:0] acc;
    logic [G_W-1:0]             cp;
    logic [G_W-1:0]             cm;
    logic [7:0]                 rb;      // rounding byte r[15:8]
    logic [G_W-1:0]             c;
    logic                       up;
    logic                       plus;
  } carry_t;

  carry_t            c0;
  carry_t [13:1]     c_q;     // packed (flip-flops, SRL delay lines), not a memory

  always_comb begin
    c0.valid = in_valid & apply;
    c0.acc   = in_acc;
    c0.cp    = in_cp;
    c0.cm    = in_cm;
    c0.rb    = in_r[15:8];
    c0.c     = a0_c;
    c0.up    = a0_low;
    c0.plus  = a0_plus;
  end

  logic [SUM_BITS-1:0] a1_m_q;
  logic [39:0]         a1_ql_q;
  logic [23:0]         a1_qh_q;
  logic [31:0]         a1_mkey_q, a1_fkey_q;   // mix32 inputs
  logic [15:0]         a1_rh_q;                // r[31:16]: the stochastic rounding word

  // ---------------------------------------------------------------- A1: pulse count
  logic [7:0]  a1_n;
  logic [24:0] a1_nf;      // q >> 16 unless a1_big
  logic        a1_big;     // m * LR_Q[31:16] >= 256 for sure
  always_comb begin
    a1_big = (a1_m_q[SUM_BITS-1:8] != '0) && (cfg_lr_q[31:16] != 16'd0);
    a1_nf  = 25'(a1_qh_q) + 25'(a1_ql_q[39:16]);
    if (cfg_mode == MODE_COINCIDENCE) begin
      a1_n = (a1_m_q > SUM_BITS'(NMAX)) ? 8'(NMAX) : a1_m_q[7:0];
    end else if (a1_big || a1_nf >= 25'(NMAX)) begin
      a1_n = 8'(NMAX);
    end else begin
      a1_n = a1_nf[7:0] + ((a1_rh_q < a1_ql_q[15:0]) ? 8'd1 : 8'd0);
    end
    if (!c_q[1].valid) begin
      a1_n = 8'd0;
    end
  end

  // ---------------------------------------------------------------- A6: step-table read
  logic [15:0] a6_k;
  logic [7:0]  a6_k8;
  always_comb begin
    // a code whose level index exceeds the 256-entry table reads the last entry
    a6_k  = 16'(c_q[6].c) >> cfg_sub_bits;
    a6_k8 = (a6_k > 16'd255) ? 8'd255 : a6_k[7:0];
  end

  logic [15:0] tbl_rdata;
  memhil_dp_ram #(
    .DEPTH(2 * MAX_LEVELS),
    .WIDTH(16),
    .DISTR(1'b0)
  ) u_tbl (
    .clk  (clk),
    .we   (tbl_we),
    .waddr(tbl_waddr),
    .wdata(tbl_wdata),
    .raddr({~c_q[6].up, a6_k8}),
    .rdata(tbl_rdata)
  );

  logic [31:0] mix_out;
  logic        unused_mix;
  assign unused_mix = ^mix_out[31:GAUSS_BITS];   // the factor uses the low byte of the hash
  memhil_mix32 u_mix (
    .clk     (clk),
    .in_data (a1_mkey_q),
    .out_data(mix_out)
  );

  // the stuck bit of the chosen device: a second mix32 of the key, aligned with the first
  logic [31:0] fmix_out;
  logic        unused_fmix;
  assign unused_fmix = ^fmix_out[15:0];          // the rate compares the high half
  memhil_mix32 u_fmix (
    .clk     (clk),
    .in_data (a1_fkey_q),
    .out_data(fmix_out)
  );

  // per-stage values: n (A2..A13), GAUSS[r] (A1..A9), the stuck bit (A6..A13)
  // (packed: flip-flops that Yosys can pull into the DSP48E1 input registers)
  logic [13:2][7:0]  n_q;
  logic [9:1][10:0]  gr_q;
  logic [13:6]       stuck_q;

  // ---------------------------------------------------------------- A5: hash lookups
  // GAUSS[h] as two 128-entry halves (7-input functions), registered, then a 2:1 mux in A6:
  // a 256-entry lookup maps at 6 or 7 LUT levels, each half at fewer
  logic signed [10:0] a5_g_lo, a5_g_hi;
  logic               a5_stuck;
  always_comb begin
    a5_g_lo  = gauss_lut({1'b0, mix_out[6:0]});
    a5_g_hi  = gauss_lut({1'b1, mix_out[6:0]});
    a5_stuck = (fmix_out[31:16] < cfg_fault_rate);
  end

  logic signed [10:0] a6_g_lo_q, a6_g_hi_q;
  logic               a6_g_sel_q;

  // ---------------------------------------------------------------- A6: GAUSS[h] * D2D_Q
  logic signed [10:0] a6_g;
  logic signed [24:0] a6_fp;
  always_comb begin
    a6_g  = a6_g_sel_q ? a6_g_hi_q : a6_g_lo_q;
    a6_fp = 25'(a6_g) * $signed({11'd0, cfg_d2d_q});
  end

  logic signed [24:0] a7_fp_q;

  // ---------------------------------------------------------------- A7: d2d factor F
  logic signed [26:0] a7_f;
  logic [13:0]        a7_fc;
  always_comb begin
    a7_f = 27'sd4096 + 27'(a7_fp_q >>> 8);
    if (a7_f < 0) begin
      a7_fc = 14'd0;
    end else if (a7_f > 27'(FACTOR_MAX)) begin
      a7_fc = 14'(FACTOR_MAX);
    end else begin
      a7_fc = a7_f[13:0];
    end
  end

  logic [13:0] a8_f_q;
  logic [15:0] a8_s_q;       // the step-table word S (read in A6)

  // ---------------------------------------------------------------- A8: one nominal pulse
  logic [STEP1_W-1:0] a8_step1;
  always_comb begin
    a8_step1 = STEP1_W'((30'(a8_s_q) * 30'(a8_f_q)) >> FACTOR_FRAC);
  end

  // A product register that feeds another DSP48E1 is kept (* keep *): Yosys's xilinx_dsp then
  // packs it as the producing DSP's MREG/PREG and never as the consuming DSP's input register,
  // which would leave the producer without any register (in the flattened top the order of the
  // packing decided it: a9_root_q -> ROOT[n] * step1 -> A10's B was one such path)
  (* keep *) logic [STEP1_W-1:0] a9_step1_q;
  logic [ROOT_W-1:0]  a8_root_q;      // ROOT[n] (looked up in A7)
  logic [ROOT_W-1:0]  a9_root_q;      // ... a register further: the product's B input
  logic [13:0]        a9_c2c_q;       // C2C_Q (a copy: the DSP48E1's A register)

  // ---------------------------------------------------------------- A9: products
  logic [25:0]        a9_tot0;     // n * step1 < 2^26
  logic [29:0]        a9_rs;       // ROOT[n] * step1 < 2^30
  logic signed [24:0] a9_gq;       // C2C_Q * GAUSS[r]: |GAUSS| < 2^10, C2C_Q < 2^14
  always_comb begin
    a9_tot0 = 26'(a9_step1_q) * 26'(n_q[9]);
    a9_rs   = 30'(a9_step1_q) * 30'(a9_root_q);
    a9_gq   = 25'($signed(gr_q[9])) * $signed({11'd0, a9_c2c_q});
  end

  logic [25:0]        a10_tot0_q;
  (* keep *) logic [29:0]        a10_rs_q;
  (* keep *) logic signed [24:0] a10_gq_q;
  logic signed [24:0] a11_gq_q;

  // ---------------------------------------------------------------- A10: c2c product, low part
  // c2c = gq * rs = gq * rs[16:0] + (gq * rs[29:17]) << 17; the contract's total is
  // n * step1 + (c2c >>> 28), and v = total + r[15:8] is
  //   (gq * rs[29:17] + ((pl >>> 28) + n * step1 + r[15:8]) << 11 + pl[27:17]) >>> 11
  // with pl = gq * rs[16:0] (the floors nest: c2c >>> 28 = ((pl >>> 17) + gq * rs[29:17]) >>> 11)
  logic signed [41:0] a10_pl;
  logic [26:0]        a10_tr;
  always_comb begin
    a10_pl = 42'(a10_gq_q) * $signed({25'd0, a10_rs_q[16:0]});
    a10_tr = 27'(a10_tot0_q) + 27'(c_q[10].rb);
  end

  logic signed [41:0] a11_pl_q;   // (the whole product: the DSP48E1's P register)
  logic               unused_pl;
  assign unused_pl = ^a11_pl_q[16:0];
  logic [26:0]        a11_tr_q;
  logic [12:0]        a11_rsh_q;

  // ---------------------------------------------------------------- A11: c2c product, high part
  logic signed [28:0] a11_hi;    // (pl >>> 28) + n * step1 + r[15:8]
  logic signed [39:0] a11_c;     // the post-adder's C operand
  logic signed [39:0] a11_u;     // v << 11 + (bits below)
  always_comb begin
    a11_hi = 29'($signed(a11_pl_q[41:28])) + $signed({2'b0, a11_tr_q});
    a11_c  = {a11_hi, a11_pl_q[27:17]};
    a11_u = 40'(a11_gq_q) * $signed({27'd0, a11_rsh_q}) + a11_c;
  end

  logic signed [39:0] a12_u_q;

  // ---------------------------------------------------------------- A12: delta, c +- delta
  logic signed [28:0] a12_v;
  logic [16:0]        a12_d;     // delta = max(v, 0) >> 8, saturated at 2^16
  logic signed [17:0] a12_cs;
  always_comb begin
    a12_v = 29'(a12_u_q >>> 11);
    if (a12_v < 0) begin
      a12_d = '0;
    end else if (a12_v[28:24] != '0) begin
      a12_d = 17'h10000;        // c + delta > CMAX and c - delta < 0 for every code
    end else begin
      a12_d = 17'(a12_v[23:8]);
    end
    a12_cs = c_q[12].up ? ($signed({2'd0, 16'(c_q[12].c)}) + $signed({1'b0, a12_d}))
                        : ($signed({2'd0, 16'(c_q[12].c)}) - $signed({1'b0, a12_d}));
  end

  logic signed [17:0] a13_cs_q;

  // ---------------------------------------------------------------- A13: clamp, outputs
  logic [G_W-1:0] a13_cn;
  logic [G_W-1:0] o_cp_d, o_cm_d;
  always_comb begin
    if (a13_cs_q < 0) begin
      a13_cn = '0;
    end else if (a13_cs_q > $signed({2'd0, cfg_cmax})) begin
      a13_cn = G_W'(cfg_cmax);
    end else begin
      a13_cn = G_W'(a13_cs_q);
    end
    o_cp_d = c_q[13].cp;
    o_cm_d = c_q[13].cm;
    if (c_q[13].valid && n_q[13] != 8'd0 && !stuck_q[13]) begin
      if (c_q[13].plus) begin
        o_cp_d = a13_cn;
      end else begin
        o_cm_d = a13_cn;
      end
    end
  end

  always_ff @(posedge clk) begin
    c_q[1]     <= c0;
    for (int s = 2; s <= 13; s++) begin
      c_q[s] <= c_q[s - 1];
    end
    // A0
    a1_m_q     <= a0_m;
    a1_ql_q    <= a0_ql;
    a1_qh_q    <= a0_qh;
    a1_mkey_q  <= a0_key ^ cfg_d2d_key;
    a1_fkey_q  <= a0_key ^ cfg_fault_key;
    a1_rh_q    <= in_r[31:16];
    gr_q[1]    <= gauss_lut(in_r[7:0]);
    // A1
    n_q[2]     <= a1_n;
    // A5 .. A12
    a6_g_lo_q  <= a5_g_lo;
    a6_g_hi_q  <= a5_g_hi;
    a6_g_sel_q <= mix_out[7];
    stuck_q[6] <= a5_stuck;
    a7_fp_q    <= a6_fp;
    a8_f_q     <= a7_fc;
    a8_s_q     <= tbl_rdata;
    a9_step1_q <= a8_step1;
    a8_root_q  <= root_lut(n_q[7]);
    a9_root_q  <= a8_root_q;
    a9_c2c_q   <= cfg_c2c_q;
    a10_tot0_q <= a9_tot0;
    a10_rs_q   <= a9_rs;
    a10_gq_q   <= a9_gq;
    a11_gq_q   <= a10_gq_q;
    a11_pl_q   <= a10_pl;
    a11_tr_q   <= a10_tr;
    a11_rsh_q  <= a10_rs_q[29:17];
    a12_u_q    <= a11_u;
    a13_cs_q   <= a12_cs;
    // delay lines
    for (int s = 3; s <= 13; s++) begin
      n_q[s] <= n_q[s - 1];
    end
    for (int s = 2; s <= 9; s++) begin
      gr_q[s] <= gr_q[s - 1];
    end
    for (int s = 7; s <= 13; s++) begin
      stuck_q[s] <= stuck_q[s - 1];
    end
    // A13
    out_cp     <= o_cp_d;
    out_cm     <= o_cm_d;
    out_acc    <= apply ? '0 : c_q[13].acc;
    out_n      <= n_q[13];
    out_up     <= c_q[13].up;
    out_stuck  <= stuck_q[13];
  end

endmodule : memhil_tile_lane

`resetall
