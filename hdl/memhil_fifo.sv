// SPDX-License-Identifier: MIT
// memhil_fifo: small synchronous FIFO, first-word fall-through (asynchronous read of a
// distributed RAM), DEPTH a power of two. Writes to a full FIFO are dropped (wr_ready_o low).
// The flags (rd_valid_o: not empty, wr_ready_o: not full) are registers, so that a consumer's
// or producer's decision starts at a flip-flop; they are set from this clock's push/pop and
// registered compares of the fill count (one left / one free), not from the next pointers.

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
  logic [AW:0]       cnt_q, cnt_d;       // fill count
  logic              one_q, last_q;      // cnt_q == 1, cnt_q == DEPTH - 1
  logic              cnt_2, cnt_dm2;     // cnt_q == 2, cnt_q == DEPTH - 2

  assign wr_ready_o = nfull_q;
  assign rd_valid_o = nempty_q;
  assign rd_data_o  = mem[rp_q[AW-1:0]];
  assign wr = wr_valid_i && wr_ready_o;
  assign rd = rd_valid_o && rd_ready_i;

  always_comb begin
    wp_d = wp_q + {{AW{1'b0}}, wr};
    rp_d = rp_q + {{AW{1'b0}}, rd};
    cnt_d = cnt_q + {{AW{1'b0}}, wr} - {{AW{1'b0}}, rd};
    cnt_2   = (cnt_q == (AW + 1)'(2));
    cnt_dm2 = (cnt_q == (AW + 1)'(DEPTH - 2));
  end

  always_ff @(posedge clk) begin
    if (wr) mem[wp_q[AW-1:0]] <= wr_data_i;
  end

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      wp_q     <= '0;
      rp_q     <= '0;
      cnt_q    <= '0;
      one_q    <= 1'b0;
      last_q   <= 1'b0;
      nempty_q <= 1'b0;
      nfull_q  <= 1'b1;
    end else begin
      wp_q     <= wp_d;
      rp_q     <= rp_d;
      cnt_q    <= cnt_d;
      // a push alone: not empty, full if one was free; a pop alone: not full, empty if one
      // was left; both or neither: unchanged (and so the compares of the next count)
      if (wr && !rd) begin
        nempty_q <= 1'b1;
        nfull_q  <= !last_q;
        one_q    <= !nempty_q;
        last_q   <= cnt_dm2;
      end else if (rd && !wr) begin
        nempty_q <= !one_q;
        nfull_q  <= 1'b1;
        one_q    <= cnt_2;
        last_q   <= !nfull_q;
      end
    end
  end

endmodule

`resetall
