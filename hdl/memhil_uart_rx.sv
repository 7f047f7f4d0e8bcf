// SPDX-License-Identifier: MIT
// memhil_uart_rx: 8N1 UART receiver, CLKS_PER_BIT clocks per bit, samples mid-bit.
// Emits one valid_o pulse per byte with a good stop bit (a bad stop bit drops the byte).

`resetall
`default_nettype none

module memhil_uart_rx #(
  parameter int unsigned CLKS_PER_BIT = 1085
) (
  input  wire logic       clk,
  input  wire logic       rst_n,
  input  wire logic       rxd_i,
  output logic            valid_o,
  output logic [7:0]      data_o
);

  if (CLKS_PER_BIT < 4) begin : g_bad_param
    $fatal(1, "memhil_uart_rx: CLKS_PER_BIT=%0d must be at least 4", CLKS_PER_BIT);
  end

  localparam int unsigned CNT_W = $clog2(CLKS_PER_BIT + 1);

  typedef enum logic [1:0] { S_IDLE, S_START, S_DATA, S_STOP } state_e;

  state_e           state_q, state_d;
  logic [CNT_W-1:0] cnt_q, cnt_d;
  logic [2:0]       bit_q, bit_d;
  logic [7:0]       sh_q, sh_d;
  logic [1:0]       sync_q, sync_d;    // two-flop synchroniser
  logic             rx;

  assign rx = sync_q[1];

  always_comb begin
    state_d = state_q;
    cnt_d   = cnt_q;
    bit_d   = bit_q;
    sh_d    = sh_q;
    sync_d  = {sync_q[0], rxd_i};
    valid_o = 1'b0;
    unique case (state_q)
      S_IDLE: begin
        cnt_d = '0;
        if (!rx) state_d = S_START;
      end
      S_START: begin
        if (cnt_q == CNT_W'(CLKS_PER_BIT / 2 - 1)) begin
          cnt_d   = '0;
          bit_d   = 3'd0;
          state_d = rx ? S_IDLE : S_DATA;   // a glitch is not a start bit
        end else begin
          cnt_d = cnt_q + 1'b1;
        end
      end
      S_DATA: begin
        if (cnt_q == CNT_W'(CLKS_PER_BIT - 1)) begin
          cnt_d = '0;
          sh_d  = {rx, sh_q[7:1]};
          bit_d = bit_q + 3'd1;
          if (bit_q == 3'd7) state_d = S_STOP;
        end else begin
          cnt_d = cnt_q + 1'b1;
        end
      end
      S_STOP: begin
        if (cnt_q == CNT_W'(CLKS_PER_BIT - 1)) begin
          valid_o = rx;
          state_d = S_IDLE;
        end else begin
          cnt_d = cnt_q + 1'b1;
        end
      end
      default: state_d = S_IDLE;
    endcase
  end

  assign data_o = sh_q;

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      state_q <= S_IDLE;
      cnt_q   <= '0;
      bit_q   <= 3'd0;
      sh_q    <= 8'h00;
      sync_q  <= 2'b11;
    end else begin
      state_q <= state_d;
      cnt_q   <= cnt_d;
      bit_q   <= bit_d;
      sh_q    <= sh_d;
      sync_q  <= sync_d;
    end
  end

endmodule

`resetall
