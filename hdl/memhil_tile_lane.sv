// SPDX-License-Identifier: MIT
// memhil_tile_lane: one lane of the tile's update engine (contract sections 3 and 6, "Apply").
// It receives one cell with its freshly accumulated value acc' and returns, LATENCY = 7 cycles
// later, the cell's new codes, the accumulator value to store (0 after an apply, else acc'),
// the pulse count n it applied, its direction and whether the chosen device is stuck. Stages:
//   A0  |acc|, device choice (common-mode rule), table index, d2d hash key, m * LR_Q
//   A1  n (rounding: floor + stochastic bit; coincidence: m), step-table word arrives
//   A2  d2d factor F from mix32 (2-cycle pipeline started in A0); the stuck bit from a second
//       mix32 of the same key with FAULT_KEY: (h >> 16) < FAULT_RATE (contract section 3)
//   A3  step1 = (S * F) >> 12
//   A4  n * step1, step1 * GAUSS[r], C2C_Q * ROOT[n]
//   A5  c2c noise term, total = max(total, 0)
//   A6  delta with the rounding byte, clamp to [0, CMAX] (a stuck device keeps its code);
//       registered outputs
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
  // A7: results
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
  logic [15:0]          a0_k;
  logic [7:0]           a0_k8;
  logic [31:0]          a0_key;
  logic [39:0]          a0_ql;     // m * LR_Q[15:0]
  logic [23:0]          a0_qh;     // m[7:0] * LR_Q[31:16]
  logic                 a0_big;    // m * LR_Q[31:16] >= 256 for sure

  always_comb begin
    a0_pos  = (in_acc > 0);
    a0_m    = in_acc[SUM_BITS-1] ? SUM_BITS'(-in_acc) : SUM_BITS'(in_acc);
    a0_sum  = 17'(in_cp) + 17'(in_cm);
    a0_low  = (a0_sum < {1'b0, cfg_cmax});
    a0_plus = (a0_pos == a0_low);
    a0_c    = a0_plus ? in_cp : in_cm;
    a0_k    = 16'(a0_c) >> cfg_sub_bits;
    // a code whose level index exceeds the 256-entry table reads the last entry
    a0_k8   = (a0_k > 16'd255) ? 8'd255 : a0_k[7:0];
    a0_key  = (32'(tile) << HASH_TILE_SHIFT) | (32'(in_cell) << 1) | {31'd0, ~a0_plus};
    // q = m * LR_Q = m * LR_Q[31:16] * 2^16 + m * LR_Q[15:0]; only q[15:0] and
    // min(q >> 16, NMAX) matter, so the 24 x 32 product splits into 24 x 16 and 8 x 16
    a0_ql   = 40'(a0_m) * 40'(cfg_lr_q[15:0]);
    a0_qh   = 24'(a0_m[7:0]) * 24'(cfg_lr_q[31:16]);
    a0_big  = (a0_m[SUM_BITS-1:8] != '0) && (cfg_lr_q[31:16] != 16'd0);
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
    .raddr({~a0_low, a0_k8}),
    .rdata(tbl_rdata)
  );

  logic [31:0] mix_out;
  logic        unused_mix;
  assign unused_mix = ^mix_out[31:GAUSS_BITS];   // the factor uses the low byte of the hash
  memhil_mix32 u_mix (
    .clk     (clk),
    .in_data (a0_key ^ cfg_d2d_key),
    .out_data(mix_out)
  );

  // the stuck bit of the chosen device: a second mix32 of the key, aligned with the first
  logic [31:0] fmix_out;
  logic        unused_fmix;
  assign unused_fmix = ^fmix_out[15:0];          // the rate compares the high half
  memhil_mix32 u_fmix (
    .clk     (clk),
    .in_data (a0_key ^ cfg_fault_key),
    .out_data(fmix_out)
  );

  // pipeline registers (datapath: no reset, every stage always loads)
  typedef struct packed {
    logic                       valid;   // apply this cell
    logic signed [SUM_BITS-1:0] acc;
    logic [G_W-1:0]             cp;
    logic [G_W-1:0]             cm;
    logic [31:0]                r;
    logic [G_W-1:0]             c;
    logic                       up;
    logic                       plus;
  } carry_t;

  carry_t c1_q, c2_q, c3_q, c4_q, c5_q, c6_q;
  carry_t c0;

  always_comb begin
    c0.valid = in_valid & apply;
    c0.acc   = in_acc;
    c0.cp    = in_cp;
    c0.cm    = in_cm;
    c0.r     = in_r;
    c0.c     = a0_c;
    c0.up    = a0_low;
    c0.plus  = a0_plus;
  end

  logic [SUM_BITS-1:0] a1_m_q;
  logic [39:0]         a1_ql_q;
  logic [23:0]         a1_qh_q;
  logic                a1_big_q;

  // ---------------------------------------------------------------- A1: pulse count
  logic [7:0]  a1_n;
  logic [24:0] a1_nf;      // q >> 16 unless a1_big_q
  always_comb begin
    a1_nf = 25'(a1_qh_q) + 25'(a1_ql_q[39:16]);
    if (cfg_mode == MODE_COINCIDENCE) begin
      a1_n = (a1_m_q > SUM_BITS'(NMAX)) ? 8'(NMAX) : a1_m_q[7:0];
    end else if (a1_big_q || a1_nf >= 25'(NMAX)) begin
      a1_n = 8'(NMAX);
    end else begin
      a1_n = a1_nf[7:0] + ((c1_q.r[31:16] < a1_ql_q[15:0]) ? 8'd1 : 8'd0);
    end
    if (!c1_q.valid) begin
      a1_n = 8'd0;
    end
  end

  logic [7:0]  a2_n_q, a3_n_q, a4_n_q, a5_n_q, a6_n_q;
  logic [15:0] a2_s_q, a3_s_q;

  // ---------------------------------------------------------------- A2: d2d factor
  logic signed [10:0] a2_g;
  logic signed [25:0] a2_fp;
  logic signed [26:0] a2_f;
  logic [13:0]        a2_fc;
  always_comb begin
    a2_g  = gauss_lut(mix_out[7:0]);
    a2_fp = 26'(a2_g) * $signed({12'd0, cfg_d2d_q});
    a2_f  = 27'sd4096 + 27'(a2_fp >>> 8);
    if (a2_f < 0) begin
      a2_fc = 14'd0;
    end else if (a2_f > 27'(FACTOR_MAX)) begin
      a2_fc = 14'(FACTOR_MAX);
    end else begin
      a2_fc = a2_f[13:0];
    end
  end

  logic [13:0] a3_f_q;

  logic a2_stuck;
  logic a3_stuck_q, a4_stuck_q, a5_stuck_q, a6_stuck_q;
  assign a2_stuck = (fmix_out[31:16] < cfg_fault_rate);

  // ---------------------------------------------------------------- A3: one nominal pulse
  logic [STEP1_W-1:0] a3_step1;
  always_comb begin
    a3_step1 = STEP1_W'((30'(a3_s_q) * 30'(a3_f_q)) >> FACTOR_FRAC);
  end

  logic [STEP1_W-1:0] a4_step1_q;

  // ---------------------------------------------------------------- A4: products
  logic [25:0]        a4_tot0;
  logic [25:0]        a4_cq;
  logic signed [29:0] a4_sg;
  always_comb begin
    a4_tot0 = 26'(a4_step1_q) * 26'(a4_n_q);
    a4_cq   = 26'(cfg_c2c_q) * 26'(root_lut(a4_n_q));
    a4_sg   = $signed({12'd0, a4_step1_q}) * 30'(gauss_lut(c4_q.r[7:0]));
  end

  logic [25:0]        a5_tot0_q;
  logic [25:0]        a5_cq_q;
  logic signed [29:0] a5_sg_q;

  // ---------------------------------------------------------------- A5: c2c noise
  logic signed [56:0] a5_prod;
  logic signed [31:0] a5_total;
  always_comb begin
    a5_prod  = 57'(a5_sg_q) * $signed({31'd0, a5_cq_q});
    a5_total = $signed({6'd0, a5_tot0_q}) + 32'(a5_prod >>> 28);
    if (a5_total < 0) begin
      a5_total = 32'sd0;   // a pulse never reverses
    end
  end

  logic signed [31:0] a6_total_q;

  // ---------------------------------------------------------------- A6: delta and clamp
  logic signed [31:0] a6_delta, a6_cs, a6_cmax;
  logic [G_W-1:0]     a6_cn;
  logic [G_W-1:0]     o_cp_d, o_cm_d;
  always_comb begin
    a6_delta = (a6_total_q + $signed({24'd0, c6_q.r[15:8]})) >>> 8;
    a6_cs    = c6_q.up ? ($signed({16'd0, 16'(c6_q.c)}) + a6_delta)
                       : ($signed({16'd0, 16'(c6_q.c)}) - a6_delta);
    a6_cmax  = $signed({16'd0, cfg_cmax});
    if (a6_cs < 0) begin
      a6_cn = '0;
    end else if (a6_cs > a6_cmax) begin
      a6_cn = G_W'(cfg_cmax);
    end else begin
      a6_cn = G_W'(a6_cs);
    end
    o_cp_d = c6_q.cp;
    o_cm_d = c6_q.cm;
    if (c6_q.valid && a6_n_q != 8'd0 && !a6_stuck_q) begin
      if (c6_q.plus) begin
        o_cp_d = a6_cn;
      end else begin
        o_cm_d = a6_cn;
      end
    end
  end

  always_ff @(posedge clk) begin
    c1_q       <= c0;
    a1_m_q     <= a0_m;
    a1_ql_q    <= a0_ql;
    a1_qh_q    <= a0_qh;
    a1_big_q   <= a0_big;
    c2_q       <= c1_q;
    a2_n_q     <= a1_n;
    a2_s_q     <= tbl_rdata;
    c3_q       <= c2_q;
    a3_n_q     <= a2_n_q;
    a3_s_q     <= a2_s_q;
    a3_f_q     <= a2_fc;
    a3_stuck_q <= a2_stuck;
    a4_stuck_q <= a3_stuck_q;
    a5_stuck_q <= a4_stuck_q;
    a6_stuck_q <= a5_stuck_q;
    c4_q       <= c3_q;
    a4_n_q     <= a3_n_q;
    a4_step1_q <= a3_step1;
    c5_q       <= c4_q;
    a5_n_q     <= a4_n_q;
    a5_tot0_q  <= a4_tot0;
    a5_cq_q    <= a4_cq;
    a5_sg_q    <= a4_sg;
    c6_q       <= c5_q;
    a6_n_q     <= a5_n_q;
    a6_total_q <= a5_total;
    out_cp     <= o_cp_d;
    out_cm     <= o_cm_d;
    out_acc    <= apply ? '0 : c6_q.acc;
    out_n      <= a6_n_q;
    out_up     <= c6_q.up;
    out_stuck  <= a6_stuck_q;
  end

endmodule : memhil_tile_lane

`resetall
