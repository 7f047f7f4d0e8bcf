// SPDX-License-Identifier: MIT
// memhil_fifo: small synchronous FIFO, first-word fall-through (asynchronous read of a
// distributed RAM), DEPTH a power of two. Writes to a full FIFO are dropped (wr_ready_o low).
// The flags (rd_valid_o: not empty, wr_ready_o: not full) are registers, set from the next
// pointers, so that a consumer's or producer's decision starts at a flip-flop.

`resetall
`default_nettype none

module memhil_fifo #(
  parameter int unsigned DEPTH  = 256,
  parameter int unsigned DATA_W = 9,
  localparam int unsigned AW = $clog2(DEPTH)
) (
  input  wire logic              clk,
  input  wire logic              rst_n,
  input  wire logic              wr_valid_i,
  output logic                   wr_ready_o,
  input  wire logic [DATA_W-1:0] wr_data_i,
  output logic                   rd_valid_o,
  input  wire logic              rd_ready_i,
  output logic [DATA_W-1:0]      rd_data_o
);

  if (DEPTH < 2 || (1 << AW) != DEPTH) begin : g_bad_param
    $fatal(1, "memhil_fifo: DEPTH=%0d must be a power of two >= 2", DEPTH);
  end

  logic [DATA_W-1:0] mem [DEPTH];
  logic [AW:0]       wp_q, wp_d, rp_q, rp_d;
  logic              wr, rd;
  logic              nempty_q, nfull_q;

  assign wr_ready_o = nfull_q;
  assign rd_valid_o = nempty_q;
  assign rd_data_o  = mem[rp_q[AW-1:0]];
  assign wr = wr_valid_i && wr_ready_o;
  assign rd = rd_valid_o && rd_ready_i;

  always_comb begin
    wp_d = wp_q + {{AW{1'b0}}, wr};
    rp_d = rp_q + {{AW{1'b0}}, rd};
  end

  always_ff @(posedge clk) begin
    if (wr) mem[wp_q[AW-1:0]] <= wr_data_i;
  end

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      wp_q     <= '0;
      rp_q     <= '0;
      nempty_q <= 1'b0;
      nfull_q  <= 1'b1;
    end else begin
      wp_q     <= wp_d;
      rp_q     <= rp_d;
      nempty_q <= (wp_d != rp_d);
      nfull_q  <= (wp_d - rp_d) != (AW + 1)'(DEPTH);
    end
  end

endmodule

`resetall
