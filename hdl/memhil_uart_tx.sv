// SPDX-License-Identifier: MIT
// memhil_uart_tx: 8N1 UART transmitter with an AXI4-Stream byte input (TLAST ignored).

`resetall
`default_nettype none

module memhil_uart_tx #(
  parameter int unsigned CLKS_PER_BIT = 1085
) (
  input  wire logic       clk,
  input  wire logic       rst_n,
  input  wire logic [7:0] s_axis_tdata,
  input  wire logic       s_axis_tvalid,
  output logic            s_axis_tready,
  output logic            txd_o
);

  if (CLKS_PER_BIT < 4) begin : g_bad_param
    $fatal(1, "memhil_uart_tx: CLKS_PER_BIT=%0d must be at least 4", CLKS_PER_BIT);
  end

  localparam int unsigned CNT_W = $clog2(CLKS_PER_BIT + 1);

  logic             busy_q, busy_d;
  logic [CNT_W-1:0] cnt_q, cnt_d;
  logic [3:0]       bit_q, bit_d;      // 0 start, 1..8 data, 9 stop
  logic [9:0]       sh_q, sh_d;        // {stop, data, start}, LSB first

  assign s_axis_tready = !busy_q;
  assign txd_o = busy_q ? sh_q[0] : 1'b1;

  always_comb begin
    busy_d = busy_q;
    cnt_d  = cnt_q;
    bit_d  = bit_q;
    sh_d   = sh_q;
    if (!busy_q) begin
      if (s_axis_tvalid) begin
        busy_d = 1'b1;
        cnt_d  = '0;
        bit_d  = 4'd0;
        sh_d   = {1'b1, s_axis_tdata, 1'b0};
      end
    end else if (cnt_q == CNT_W'(CLKS_PER_BIT - 1)) begin
      cnt_d = '0;
      sh_d  = {1'b1, sh_q[9:1]};
      bit_d = bit_q + 4'd1;
      if (bit_q == 4'd9) busy_d = 1'b0;
    end else begin
      cnt_d = cnt_q + 1'b1;
    end
  end

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      busy_q <= 1'b0;
      cnt_q  <= '0;
      bit_q  <= 4'd0;
      sh_q   <= 10'h3FF;
    end else begin
      busy_q <= busy_d;
      cnt_q  <= cnt_d;
      bit_q  <= bit_d;
      sh_q   <= sh_d;
    end
  end

endmodule

`resetall
