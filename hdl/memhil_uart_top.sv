// SPDX-License-Identifier: MIT
// memhil_uart_top: memhil_top behind a UART (8N1, CLK_HZ / BAUD clocks per bit).
//
// The byte link has no TLAST: the bridge holds the last received byte and marks it TLAST once
// the line has been idle for IDLE_BYTES byte times (10 bits each); a byte that follows sooner
// releases the held one without TLAST (docs/hardware-contract.md section 8). Received bytes
// queue in a FIFO of RX_FIFO entries while the parser is busy; responses leave through the
// UART transmitter. The register file is reachable only through WRITE_REG / READ_REG.

`resetall
`default_nettype none

module memhil_uart_top #(
  parameter int unsigned ROWS       = 8,
  parameter int unsigned COLS       = 8,
  parameter int unsigned TILES      = 1,
  parameter int unsigned LANES      = 4,
  parameter int unsigned G_W        = 8,
  parameter int unsigned CLK_HZ     = 125_000_000,
  parameter int unsigned BAUD       = 115_200,
  parameter int unsigned IDLE_BYTES = 2,
  parameter int unsigned RX_FIFO    = 256,
  parameter int unsigned PAYLOAD_LOG2 = 12,    // memhil_top's MAX_PAYLOAD = 2^PAYLOAD_LOG2
  parameter int unsigned BATCH_MAX  = memhil_pkg::BATCH_MAX_DEFAULT,   // memhil_top's build limits
  parameter int unsigned BL_MAX     = memhil_pkg::BL_MAX_DEFAULT        // (GEOMETRY2, PING)
) (
  input  wire logic clk,
  input  wire logic rst_n,
  input  wire logic uart_rxd,
  output logic      uart_txd
);

  localparam int unsigned CLKS_PER_BIT = CLK_HZ / BAUD;
  localparam int unsigned IDLE_CLKS = IDLE_BYTES * 10 * CLKS_PER_BIT;
  localparam int unsigned IDLE_W = $clog2(IDLE_CLKS + 1);

  if (IDLE_BYTES < 1 || CLKS_PER_BIT < 4) begin : g_bad_param
    $fatal(1, "memhil_uart_top: IDLE_BYTES=%0d CLK_HZ/BAUD=%0d (need >= 1, >= 4)",
           IDLE_BYTES, CLKS_PER_BIT);
  end

  logic             rx_valid;
  logic [7:0]       rx_data;
  logic             hold_q, hold_d;
  logic [7:0]       held_q, held_d;
  logic [IDLE_W-1:0] idle_q, idle_d;
  logic             push;
  logic [8:0]       push_data;
  logic             fifo_ready;
  logic             cmd_tvalid, cmd_tready;
  logic [8:0]       cmd_word;
  logic [7:0]       rsp_tdata;
  logic             rsp_tvalid, rsp_tready, rsp_tlast;
  // AXI4-Lite outputs of memhil_top, not used on the UART build
  logic             unused_awready, unused_wready, unused_bvalid, unused_arready, unused_rvalid;
  logic [1:0]       unused_bresp, unused_rresp;
  logic [31:0]      unused_rdata;

  memhil_uart_rx #(
    .CLKS_PER_BIT (CLKS_PER_BIT)
  ) u_urx (
    .clk     (clk),
    .rst_n   (rst_n),
    .rxd_i   (uart_rxd),
    .valid_o (rx_valid),
    .data_o  (rx_data)
  );

  // TLAST after an idle gap
  always_comb begin
    hold_d    = hold_q;
    held_d    = held_q;
    idle_d    = idle_q;
    push      = 1'b0;
    push_data = {1'b0, held_q};
    if (rx_valid) begin
      push   = hold_q;
      hold_d = 1'b1;
      held_d = rx_data;
      idle_d = '0;
    end else if (hold_q) begin
      if (idle_q == IDLE_W'(IDLE_CLKS - 1)) begin
        push      = 1'b1;
        push_data = {1'b1, held_q};
        hold_d    = 1'b0;
      end else begin
        idle_d = idle_q + 1'b1;
      end
    end
  end

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      hold_q <= 1'b0;
      held_q <= 8'h00;
      idle_q <= '0;
    end else begin
      hold_q <= hold_d;
      held_q <= held_d;
      idle_q <= idle_d;
    end
  end

  memhil_fifo #(
    .DEPTH  (RX_FIFO),
    .DATA_W (9)
  ) u_fifo (
    .clk        (clk),
    .rst_n      (rst_n),
    .wr_valid_i (push),
    .wr_ready_o (fifo_ready),
    .wr_data_i  (push_data),
    .rd_valid_o (cmd_tvalid),
    .rd_ready_i (cmd_tready),
    .rd_data_o  (cmd_word)
  );

  memhil_top #(
    .ROWS  (ROWS),
    .COLS  (COLS),
    .TILES (TILES),
    .LANES (LANES),
    .G_W   (G_W),
    .PAYLOAD_LOG2 (PAYLOAD_LOG2),
    .BATCH_MAX (BATCH_MAX),
    .BL_MAX    (BL_MAX)
  ) u_top (
    .clk               (clk),
    .rst_n             (rst_n),
    .s_axil_awaddr     (12'h000),
    .s_axil_awprot     (3'b000),
    .s_axil_awvalid    (1'b0),
    .s_axil_awready    (unused_awready),
    .s_axil_wdata      (32'h0),
    .s_axil_wstrb      (4'h0),
    .s_axil_wvalid     (1'b0),
    .s_axil_wready     (unused_wready),
    .s_axil_bresp      (unused_bresp),
    .s_axil_bvalid     (unused_bvalid),
    .s_axil_bready     (1'b1),
    .s_axil_araddr     (12'h000),
    .s_axil_arprot     (3'b000),
    .s_axil_arvalid    (1'b0),
    .s_axil_arready    (unused_arready),
    .s_axil_rdata      (unused_rdata),
    .s_axil_rresp      (unused_rresp),
    .s_axil_rvalid     (unused_rvalid),
    .s_axil_rready     (1'b1),
    .s_axis_cmd_tdata  (cmd_word[7:0]),
    .s_axis_cmd_tvalid (cmd_tvalid),
    .s_axis_cmd_tready (cmd_tready),
    .s_axis_cmd_tlast  (cmd_word[8]),
    .m_axis_rsp_tdata  (rsp_tdata),
    .m_axis_rsp_tvalid (rsp_tvalid),
    .m_axis_rsp_tready (rsp_tready),
    .m_axis_rsp_tlast  (rsp_tlast)
  );

  memhil_uart_tx #(
    .CLKS_PER_BIT (CLKS_PER_BIT)
  ) u_utx (
    .clk           (clk),
    .rst_n         (rst_n),
    .s_axis_tdata  (rsp_tdata),
    .s_axis_tvalid (rsp_tvalid),
    .s_axis_tready (rsp_tready),
    .txd_o         (uart_txd)
  );

  logic unused_uart;
  assign unused_uart = ^{fifo_ready, rsp_tlast};

endmodule

`resetall
