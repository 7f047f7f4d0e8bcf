// SPDX-License-Identifier: MIT
// memhil_ram_sdp: simple dual-port RAM, one write port, one read port with a registered read
// (one cycle of latency), no reset on the array: infers block RAM (RAMB18/36) on 7-series.

`resetall
`default_nettype none

module memhil_ram_sdp #(
  parameter int unsigned DEPTH  = 4096,
  parameter int unsigned DATA_W = 8,
  parameter int unsigned ADDR_W = $clog2(DEPTH)
) (
  input  wire logic              clk,
  input  wire logic              we_i,
  input  wire logic [ADDR_W-1:0] waddr_i,
  input  wire logic [DATA_W-1:0] wdata_i,
  input  wire logic [ADDR_W-1:0] raddr_i,
  output logic      [DATA_W-1:0] rdata_o
);

  if (DEPTH < 2 || (1 << ADDR_W) < DEPTH) begin : g_bad_param
    $fatal(1, "memhil_ram_sdp: DEPTH=%0d does not fit ADDR_W=%0d", DEPTH, ADDR_W);
  end

  logic [DATA_W-1:0] mem [DEPTH];
  logic [DATA_W-1:0] rdata_q;

  always_ff @(posedge clk) begin
    if (we_i) begin
      mem[waddr_i] <= wdata_i;
    end
    rdata_q <= mem[raddr_i];
  end

  assign rdata_o = rdata_q;

endmodule

`resetall
