// SPDX-License-Identifier: MIT
// memhil_crc16: one byte of CRC-16/CCITT-FALSE (poly CRC_POLY, MSB first, no reflection).
// Purely combinational; the users hold the running value (init CRC_INIT, no final XOR).

`resetall
`default_nettype none

module memhil_crc16
  import memhil_pkg::*;
(
  input  wire logic [15:0] crc_i,
  input  wire logic [7:0]  data_i,
  output logic      [15:0] crc_o
);

  always_comb begin
    logic [15:0] c;
    c = crc_i ^ {data_i, 8'h00};
    for (int unsigned b = 0; b < 8; b++) begin
      c = c[15] ? ((c << 1) ^ CRC_POLY) : (c << 1);
    end
    crc_o = c;
  end

endmodule

`resetall
