// SPDX-License-Identifier: MIT
// memhil_mix32: the contract's "lowbias32" hash (section 3), pipelined over two multiplies.
//   x ^= x >> 16; x *= HASH_M1; x ^= x >> 15; x *= HASH_M2; x ^= x >> 16   (mod 2^32)
// out_data = mix32(in_data presented LATENCY = 2 clock cycles earlier). No enable: the
// pipeline always runs (callers carry their own valid bits alongside).

`resetall
`default_nettype none

module memhil_mix32
  import memhil_pkg::*;
(
  input  wire logic        clk,
  input  wire logic [31:0] in_data,
  output logic      [31:0] out_data
);

  // x * m mod 2^32 as a sum of shifted copies of x (LUT adders instead of DSP slices: the
  // constants are fixed, so only the set bits of m cost an adder)
  function automatic logic [31:0] mul_const(input logic [31:0] x, input logic [31:0] m);
    mul_const = '0;
    for (int unsigned b = 0; b < 32; b++) begin
      if (m[b]) begin
        mul_const = mul_const + (x << b);
      end
    end
  endfunction

  logic [31:0] x1, x2;
  logic [31:0] p1_d, p1_q, p2_d, p2_q;

  always_comb begin
    x1       = in_data ^ (in_data >> 16);
    p1_d     = mul_const(x1, HASH_M1);
    x2       = p1_q ^ (p1_q >> 15);
    p2_d     = mul_const(x2, HASH_M2);
    out_data = p2_q ^ (p2_q >> 16);
  end

  always_ff @(posedge clk) begin
    p1_q <= p1_d;
    p2_q <= p2_d;
  end

endmodule : memhil_mix32

`resetall
