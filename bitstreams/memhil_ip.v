// SPDX-License-Identifier: MIT
// memhil_ip: Verilog-2001 wrapper of the SystemVerilog top memhil_top for Vivado's IP packager
// (pack_ip wants a Verilog or VHDL top). Port names follow Xilinx's interface inference:
// s_axil_* (AXI4-Lite slave), s_axis_cmd_* (AXI4-Stream slave, from the DMA's MM2S),
// m_axis_rsp_* (AXI4-Stream master, to the DMA's S2MM), aclk and aresetn.

`default_nettype none

module memhil_ip #(
  // defaults: the paper-network build (bitstreams/Makefile, memhil.tools.hdl.DEFAULTS)
  parameter ROWS  = 128,
  parameter COLS  = 262,
  parameter TILES = 8,
  parameter LANES = 8,
  // PAYLOAD_LOG2: MAX_PAYLOAD is 2^PAYLOAD_LOG2 bytes per frame (contract section 8)
  parameter G_W   = 6,
  parameter PAYLOAD_LOG2 = 15,
  // BATCH_MAX: the largest B of one FORWARD_B / TRANSPOSE_B / UPDATE_B; BL_MAX: the largest BL
  // (stream bits per update), both reported in GEOMETRY2 and PING (contract version 3)
  parameter BATCH_MAX = 32,
  parameter BL_MAX = 32
) (
  (* X_INTERFACE_INFO = "xilinx.com:signal:clock:1.0 aclk CLK" *)
  (* X_INTERFACE_PARAMETER = "ASSOCIATED_BUSIF s_axil:s_axis_cmd:m_axis_rsp, ASSOCIATED_RESET aresetn" *)
  input  wire        aclk,
  (* X_INTERFACE_INFO = "xilinx.com:signal:reset:1.0 aresetn RST" *)
  (* X_INTERFACE_PARAMETER = "POLARITY ACTIVE_LOW" *)
  input  wire        aresetn,

  input  wire [11:0] s_axil_awaddr,
  input  wire [2:0]  s_axil_awprot,
  input  wire        s_axil_awvalid,
  output wire        s_axil_awready,
  input  wire [31:0] s_axil_wdata,
  input  wire [3:0]  s_axil_wstrb,
  input  wire        s_axil_wvalid,
  output wire        s_axil_wready,
  output wire [1:0]  s_axil_bresp,
  output wire        s_axil_bvalid,
  input  wire        s_axil_bready,
  input  wire [11:0] s_axil_araddr,
  input  wire [2:0]  s_axil_arprot,
  input  wire        s_axil_arvalid,
  output wire        s_axil_arready,
  output wire [31:0] s_axil_rdata,
  output wire [1:0]  s_axil_rresp,
  output wire        s_axil_rvalid,
  input  wire        s_axil_rready,

  input  wire [7:0]  s_axis_cmd_tdata,
  input  wire        s_axis_cmd_tvalid,
  output wire        s_axis_cmd_tready,
  input  wire        s_axis_cmd_tlast,

  output wire [7:0]  m_axis_rsp_tdata,
  output wire        m_axis_rsp_tvalid,
  input  wire        m_axis_rsp_tready,
  output wire        m_axis_rsp_tlast
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
    .clk               (aclk),
    .rst_n             (aresetn),
    .s_axil_awaddr     (s_axil_awaddr),
    .s_axil_awprot     (s_axil_awprot),
    .s_axil_awvalid    (s_axil_awvalid),
    .s_axil_awready    (s_axil_awready),
    .s_axil_wdata      (s_axil_wdata),
    .s_axil_wstrb      (s_axil_wstrb),
    .s_axil_wvalid     (s_axil_wvalid),
    .s_axil_wready     (s_axil_wready),
    .s_axil_bresp      (s_axil_bresp),
    .s_axil_bvalid     (s_axil_bvalid),
    .s_axil_bready     (s_axil_bready),
    .s_axil_araddr     (s_axil_araddr),
    .s_axil_arprot     (s_axil_arprot),
    .s_axil_arvalid    (s_axil_arvalid),
    .s_axil_arready    (s_axil_arready),
    .s_axil_rdata      (s_axil_rdata),
    .s_axil_rresp      (s_axil_rresp),
    .s_axil_rvalid     (s_axil_rvalid),
    .s_axil_rready     (s_axil_rready),
    .s_axis_cmd_tdata  (s_axis_cmd_tdata),
    .s_axis_cmd_tvalid (s_axis_cmd_tvalid),
    .s_axis_cmd_tready (s_axis_cmd_tready),
    .s_axis_cmd_tlast  (s_axis_cmd_tlast),
    .m_axis_rsp_tdata  (m_axis_rsp_tdata),
    .m_axis_rsp_tvalid (m_axis_rsp_tvalid),
    .m_axis_rsp_tready (m_axis_rsp_tready),
    .m_axis_rsp_tlast  (m_axis_rsp_tlast)
  );

endmodule

`default_nettype wire
