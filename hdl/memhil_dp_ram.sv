// SPDX-License-Identifier: MIT
// memhil_dp_ram: simple dual-port RAM (one write port, one read port, one clock) with a
// registered read: rdata holds mem[raddr] one cycle after raddr. No reset, no byte enables,
// so Yosys (synth_xilinx) and Vivado infer block RAM (STYLE "block") or LUT RAM
// (STYLE "distributed"). Read-during-write of the same address returns the old word
// (the datapath never relies on it).

`resetall
`default_nettype none

module memhil_dp_ram #(
  parameter int unsigned DEPTH  = 16,
  parameter int unsigned WIDTH  = 8,
  parameter bit          DISTR  = 1'b0,   // 1: ask for distributed (LUT) RAM
  parameter int unsigned ADDR_W = (DEPTH > 1) ? $clog2(DEPTH) : 1
) (
  input  wire logic              clk,
  input  wire logic              we,
  input  wire logic [ADDR_W-1:0] waddr,
  input  wire logic [WIDTH-1:0]  wdata,
  input  wire logic [ADDR_W-1:0] raddr,
  output logic      [WIDTH-1:0]  rdata
);

  if (DEPTH < 1 || WIDTH < 1) begin : g_bad_param
    $fatal(1, "memhil_dp_ram: DEPTH (%0d) and WIDTH (%0d) must be >= 1", DEPTH, WIDTH);
  end

  if (DISTR) begin : g_distr
    (* ram_style = "distributed" *) logic [WIDTH-1:0] mem [DEPTH];
    always_ff @(posedge clk) begin
      if (we) begin
        mem[waddr] <= wdata;
      end
      rdata <= mem[raddr];
    end
  end else begin : g_block
    (* ram_style = "block" *) logic [WIDTH-1:0] mem [DEPTH];
    always_ff @(posedge clk) begin
      if (we) begin
        mem[waddr] <= wdata;
      end
      rdata <= mem[raddr];
    end
  end

endmodule : memhil_dp_ram

`resetall
