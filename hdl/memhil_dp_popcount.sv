// SPDX-License-Identifier: MIT
// memhil_dp_popcount: number of set bits of an N-bit vector, as a balanced adder tree over
// nibble counts (log depth; about N/4 small adders instead of an N-long chain).

`resetall
`default_nettype none

module memhil_dp_popcount #(
  parameter int unsigned N     = 256,
  parameter int unsigned CNT_W = $clog2(N + 1)
) (
  input  wire logic [N-1:0]     in_bits,
  output logic      [CNT_W-1:0] count
);

  localparam int unsigned NIB    = (N + 3) / 4;
  localparam int unsigned LEAVES = (NIB > 1) ? (1 << $clog2(NIB)) : 1;

  if (N < 1 || CNT_W < $clog2(N + 1)) begin : g_bad_param
    $fatal(1, "memhil_dp_popcount: N (%0d) >= 1 and CNT_W (%0d) >= clog2(N + 1) needed", N, CNT_W);
  end

  logic [4*NIB-1:0]  padded;
  logic [CNT_W-1:0]  node [2 * LEAVES - 1];   // heap order: children of k are 2k+1 and 2k+2

  assign padded = (4 * NIB)'(in_bits);

  for (genvar k = 0; k < LEAVES; k++) begin : g_leaf
    if (k < NIB) begin : g_nib
      assign node[LEAVES - 1 + k] = CNT_W'(padded[4 * k]) + CNT_W'(padded[4 * k + 1]) +
                                    CNT_W'(padded[4 * k + 2]) + CNT_W'(padded[4 * k + 3]);
    end else begin : g_pad
      assign node[LEAVES - 1 + k] = '0;
    end
  end

  for (genvar k = 0; k < LEAVES - 1; k++) begin : g_node
    assign node[k] = node[2 * k + 1] + node[2 * k + 2];
  end

  assign count = node[0];

endmodule : memhil_dp_popcount

`resetall
