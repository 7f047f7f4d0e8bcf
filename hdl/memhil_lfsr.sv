// SPDX-License-Identifier: MIT
// memhil_lfsr: combinational leap of the contract's 32-bit Galois LFSR (contract section 4.1).
// out_states[k] is the state after (k + 1) * STEPS single steps of in_state, for k < OUTS.
// A single step: lsb = s & 1; s = s >> 1; if lsb: s ^= LFSR_TAPS. The step is linear over GF(2),
// so n steps are the matrix power M^n of the step: every output bit is the XOR of a fixed set of
// in_state bits (at most 32 inputs: two LUT6 levels), the sets (rows of M^n) computed at
// elaboration from LFSR_TAPS. Every output comes straight from in_state (no chain of leaps).
// XREG = 1 (a state register's leaps, 100 MHz in a large design): the first XOR level is a
// register, loaded with the first level of the register's next value (x_next_i under x_en_i,
// the state register's own D and enable): x_q then always holds the first level of the
// state, and each output is one LUT from flip-flops; in_state is not used (the outputs are the
// same as XREG = 0 for in_state = the state register). Costs NX flip-flops (the distinct
// level-1 subsets), no clock of latency.

`resetall
`default_nettype none

module memhil_lfsr
  import memhil_pkg::*;
#(
  parameter int unsigned STEPS = LFSR_STREAM_STEPS,
  parameter int unsigned OUTS  = 1,
  parameter bit          XREG  = 1'b0
) (
  input  wire logic [LFSR_W-1:0]            in_state,
  // XREG = 1: the state register's clock, enable and next value (else unused)
  input  wire logic                         clk,
  input  wire logic                         x_en_i,
  input  wire logic [LFSR_W-1:0]            x_next_i,
  output logic      [OUTS-1:0][LFSR_W-1:0]  out_states
);

  if (STEPS < 1 || OUTS < 1) begin : g_bad_param
    $fatal(1, "memhil_lfsr: STEPS (%0d) and OUTS (%0d) must be >= 1", STEPS, OUTS);
  end

  // row i of M^n: the in_state bits whose XOR is bit i of the state n steps later
  typedef logic [LFSR_W-1:0][LFSR_W-1:0] mat_t;

  function automatic mat_t lfsr_mat(input int unsigned n);
    mat_t m, nm;
    for (int i = 0; i < LFSR_W; i++) begin
      m[i] = LFSR_W'(1) << i;
    end
    for (int unsigned k = 0; k < n; k++) begin
      // one step: bit i takes bit i + 1 (bit LFSR_W-1 takes 0), tap bits also take bit 0
      nm = mat_t'(m >> LFSR_W);
      for (int i = 0; i < LFSR_W; i++) begin
        if (LFSR_TAPS[i]) begin
          nm[i] = nm[i] ^ m[0];
        end
      end
      m = nm;
    end
    return m;
  endfunction

  // Two LUT levels by construction: the inputs fall into NG groups of <= 6 bits; level 1 is the
  // XOR of a subset of one group (one LUT6, shared by every row and output that uses the same
  // subset: X_USED, indexed by X_IDX), level 2 the XOR of one level-1 net per group (NG <= 6:
  // one LUT6). The level-1 nets are kept so that the synthesis does not chain them into deeper
  // XOR2 trees.
  localparam int unsigned NG = (LFSR_W + 5) / 6;
  typedef logic [NG-1:0][63:0] use_t;

  function automatic int unsigned grp(input logic [LFSR_W-1:0] row, input int unsigned g);
    grp = int'((row >> (6 * g)) & LFSR_W'(63));
  endfunction

  function automatic use_t used_subsets();
    mat_t m;
    used_subsets = '0;
    for (int unsigned k = 0; k < OUTS; k++) begin
      m = lfsr_mat((k + 1) * STEPS);
      for (int i = 0; i < LFSR_W; i++) begin
        for (int unsigned g = 0; g < NG; g++) begin
          used_subsets[g][grp(m[i], g)] = 1'b1;
        end
      end
    end
  endfunction

  localparam use_t X_USED = used_subsets();

  // position of subset sub (1..63) of group g among the used ones (a table, built once);
  // NX: their number
  typedef logic [NG:0][63:0][9:0] idx_t;

  function automatic idx_t x_table();
    int unsigned n;
    n = 0;
    x_table = '0;
    for (int unsigned g = 0; g < NG; g++) begin
      for (int unsigned s = 1; s < 64; s++) begin
        x_table[g][s] = 10'(n);
        n += int'(X_USED[g][s]);
      end
    end
    x_table[NG][0] = 10'(n);
  endfunction

  localparam idx_t X_IDX = x_table();
  localparam int unsigned NX = int'(X_IDX[NG][0]);

  // level 1 of a state: in_state's (XREG = 0), or x_next_i's into the register x (XREG = 1)
  logic [LFSR_W-1:0] x_src;
  assign x_src = XREG ? x_next_i : in_state;
  (* keep *) logic [NX-1:0] x, x1;
  for (genvar g = 0; g < NG; g++) begin : g_grp
    for (genvar s = 1; s < 64; s++) begin : g_sub
      if (X_USED[g][s]) begin : g_used
        localparam int unsigned XI = int'(X_IDX[g][s]);
        assign x1[XI] = ^(x_src & (LFSR_W'(s) << (6 * g)));
      end
    end
  end
  if (XREG) begin : g_xreg
    logic [NX-1:0] x_q;
    always_ff @(posedge clk) begin
      if (x_en_i) begin
        x_q <= x1;
      end
    end
    assign x = x_q;
    logic unused_in;
    assign unused_in = ^in_state;
  end else begin : g_xcomb
    assign x = x1;
    logic unused_reg;
    assign unused_reg = ^{clk, x_en_i, x_next_i};
  end

  for (genvar k = 0; k < OUTS; k++) begin : g_out
    localparam mat_t M = lfsr_mat((k + 1) * STEPS);
    for (genvar i = 0; i < LFSR_W; i++) begin : g_bit
      logic [NG-1:0] t;
      for (genvar g = 0; g < NG; g++) begin : g_term
        if (grp(M[i], g) == 0) begin : g_none
          assign t[g] = 1'b0;
        end else begin : g_x
          localparam int unsigned XI = int'(X_IDX[g][grp(M[i], g)]);
          assign t[g] = x[XI];
        end
      end
      assign out_states[k][i] = ^t;
    end
  end

endmodule : memhil_lfsr

`resetall
