// SPDX-License-Identifier: MIT
// memhil_mix32: the contract's "lowbias32" hash (section 3), pipelined over two multiplies.
//   x ^= x >> 16; x *= HASH_M1; x ^= x >> 15; x *= HASH_M2; x ^= x >> 16   (mod 2^32)
// out_data = mix32(in_data presented LATENCY = 4 clock cycles earlier). No enable: the
// pipeline always runs (callers carry their own valid bits alongside). in_data should come
// straight from registers (the first stage is an XOR and half a constant multiply).
// Each constant multiply takes two stages (a timing budget of 6 LUT levels and 32 carry bits
// per clock at 100 MHz on the xc7z020, docs/rtl.md "Timing proxy"):
//   s1  x1 = in ^ (in >> 16); the two halves of x1 * HASH_M1 (p1a, p1b)
//   s2  p1 = p1a + p1b; x2 = p1 ^ (p1 >> 15)
//   s3  the two halves of x2 * HASH_M2 (p2a, p2b)
//   s4  p2 = p2a + p2b; out_data = p2 ^ (p2 >> 16) (registered)
// A constant multiply is a sum of shifted copies of x (LUT adders, no DSP slice) over the
// canonical signed digits of the constant (M = sum of +-2^b, no two adjacent digits non-zero:
// 12 and 13 terms instead of the 21 and 14 set bits), split into two halves of about the same
// number of summed bits.

`resetall
`default_nettype none

module memhil_mix32
  import memhil_pkg::*;
(
  input  wire logic        clk,
  input  wire logic [31:0] in_data,
  output logic      [31:0] out_data
);

  // canonical signed digits of the two constants: bit b of POS / NEG set = digit +1 / -1 at 2^b,
  // M = POS - NEG; *_A is the first half of the terms, *_B the second (117 and 126,
  // 125 and 112 summed bits; the 2^31 digit is a single bit)
  localparam logic [31:0] M1_POS_A = 32'h8000_4141;   // +2^0 +2^6 +2^8 +2^14 +2^31
  localparam logic [31:0] M1_NEG_A = 32'h0001_0000;   // -2^16
  localparam logic [31:0] M1_POS_B = 32'h0000_0400;   // +2^10
  localparam logic [31:0] M1_NEG_B = 32'h0014_1014;   // -2^2 -2^4 -2^12 -2^18 -2^20
  localparam logic [31:0] M2_POS_A = 32'h0080_2010;   // +2^4 +2^13 +2^23
  localparam logic [31:0] M2_NEG_A = 32'h0004_0201;   // -2^0 -2^9 -2^18
  localparam logic [31:0] M2_POS_B = 32'h8400_8880;   // +2^7 +2^11 +2^15 +2^26 +2^31
  localparam logic [31:0] M2_NEG_B = 32'h0010_0004;   // -2^2 -2^20

  if (M1_POS_A + M1_POS_B - M1_NEG_A - M1_NEG_B != HASH_M1) begin : g_bad_m1
    $fatal(1, "memhil_mix32: the signed digits of HASH_M1 do not add up");
  end
  if (M2_POS_A + M2_POS_B - M2_NEG_A - M2_NEG_B != HASH_M2) begin : g_bad_m2
    $fatal(1, "memhil_mix32: the signed digits of HASH_M2 do not add up");
  end

  // x * (pos - neg) mod 2^32 as a sum of shifted copies of x
  function automatic logic [31:0] mul_digits(input logic [31:0] x, input logic [31:0] pos,
                                             input logic [31:0] neg);
    mul_digits = '0;
    for (int unsigned b = 0; b < 32; b++) begin
      if (pos[b]) begin
        mul_digits = mul_digits + (x << b);
      end
      if (neg[b]) begin
        mul_digits = mul_digits - (x << b);
      end
    end
  endfunction

  logic [31:0] x1, p1, x2_d, x2_q;
  logic [31:0] p1a_d, p1a_q, p1b_d, p1b_q;
  logic [31:0] p2a_d, p2a_q, p2b_d, p2b_q, p2, out_d, out_q;

  always_comb begin
    // s1
    x1       = in_data ^ (in_data >> 16);
    p1a_d    = mul_digits(x1, M1_POS_A, M1_NEG_A);
    p1b_d    = mul_digits(x1, M1_POS_B, M1_NEG_B);
    // s2
    p1       = p1a_q + p1b_q;
    x2_d     = p1 ^ (p1 >> 15);
    // s3
    p2a_d    = mul_digits(x2_q, M2_POS_A, M2_NEG_A);
    p2b_d    = mul_digits(x2_q, M2_POS_B, M2_NEG_B);
    // s4
    p2       = p2a_q + p2b_q;
    out_d    = p2 ^ (p2 >> 16);
  end

  assign out_data = out_q;

  always_ff @(posedge clk) begin
    p1a_q    <= p1a_d;
    p1b_q    <= p1b_d;
    x2_q     <= x2_d;
    p2a_q    <= p2a_d;
    p2b_q    <= p2b_d;
    out_q    <= out_d;
  end

endmodule : memhil_mix32

`resetall
