// SPDX-License-Identifier: MIT
// memhil_dp_popcount: number of set bits of an N-bit vector, in two clocks' worth of logic with
// a register between them (latency 1: count is the popcount of the in_bits of the clock before).
//   clock 1  the vector in groups of GROUP bits, each counted by a balanced adder tree over
//            nibble counts (log depth; about GROUP/4 small adders instead of a chain); the
//            group counts are registered
//   clock 2  count: a balanced adder tree over the registered group counts (combinational,
//            for the user's stage after it)
// With GROUP = 32: nibble counts and 3 adder levels before the register, ceil(log2(N / 32))
// adder levels after it (3 for N = 256).

`resetall
`default_nettype none

module memhil_dp_popcount #(
  parameter int unsigned N     = 256,
  parameter int unsigned CNT_W = $clog2(N + 1),
  parameter int unsigned GROUP = 32        // bits per registered group count (a multiple of 4)
) (
  input  wire logic             clk,
  input  wire logic [N-1:0]     in_bits,
  output logic      [CNT_W-1:0] count
);

  localparam int unsigned NGRP   = (N + GROUP - 1) / GROUP;
  localparam int unsigned GW     = $clog2(GROUP + 1);                 // a group count's width
  localparam int unsigned NIB    = GROUP / 4;
  localparam int unsigned LEAVES = (NIB > 1) ? (1 << $clog2(NIB)) : 1;
  localparam int unsigned GLEAF  = (NGRP > 1) ? (1 << $clog2(NGRP)) : 1;

  if (N < 1 || CNT_W < $clog2(N + 1) || GROUP < 4 || GROUP % 4 != 0) begin : g_bad_param
    $fatal(1, "memhil_dp_popcount: N (%0d) >= 1, CNT_W (%0d) >= clog2(N + 1) and GROUP (%0d) %s",
           N, CNT_W, GROUP, "a multiple of 4 needed");
  end

  logic [NGRP*GROUP-1:0] padded;
  assign padded = (NGRP * GROUP)'(in_bits);

  // ------------------------------------------------------------------ clock 1: group counts
  logic [GW-1:0] grp_d [NGRP];
  logic [GW-1:0] grp_q [NGRP];
  for (genvar g = 0; g < NGRP; g++) begin : g_grp
    logic [GW-1:0] node [2 * LEAVES - 1];   // heap order: children of k are 2k+1 and 2k+2
    for (genvar k = 0; k < LEAVES; k++) begin : g_leaf
      if (k < NIB) begin : g_nib
        assign node[LEAVES - 1 + k] = GW'(padded[g * GROUP + 4 * k]) +
                                      GW'(padded[g * GROUP + 4 * k + 1]) +
                                      GW'(padded[g * GROUP + 4 * k + 2]) +
                                      GW'(padded[g * GROUP + 4 * k + 3]);
      end else begin : g_pad
        assign node[LEAVES - 1 + k] = '0;
      end
    end
    for (genvar k = 0; k < LEAVES - 1; k++) begin : g_node
      assign node[k] = node[2 * k + 1] + node[2 * k + 2];
    end
    assign grp_d[g] = node[0];
  end

  always_ff @(posedge clk) begin
    grp_q <= grp_d;
  end

  // ------------------------------------------------------------------ clock 2: their sum
  logic [CNT_W-1:0] tot [2 * GLEAF - 1];
  for (genvar k = 0; k < GLEAF; k++) begin : g_tleaf
    if (k < NGRP) begin : g_cnt
      assign tot[GLEAF - 1 + k] = CNT_W'(grp_q[k]);
    end else begin : g_pad
      assign tot[GLEAF - 1 + k] = '0;
    end
  end
  for (genvar k = 0; k < GLEAF - 1; k++) begin : g_tnode
    assign tot[k] = tot[2 * k + 1] + tot[2 * k + 2];
  end

  assign count = tot[0];

endmodule : memhil_dp_popcount

`resetall
