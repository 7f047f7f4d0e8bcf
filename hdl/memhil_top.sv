// SPDX-License-Identifier: MIT
// memhil_top: the memristive-crossbar emulator (docs/rtl.md has the block diagram).
//
//   s_axis_cmd --> memhil_cmd_rx --> command buffer (BRAM) --+
//                        | descriptor                        v
//                        +--------> memhil_exec ----> memhil_array (TILES x ROWS x COLS)
//                                   |   ^   |             | response bytes
//   s_axil <--> memhil_regfile <----+   |   +--> response buffer (BRAM) --> memhil_rsp_tx --> m_axis_rsp
//
// Flat AXI ports (s_axil_*, s_axis_cmd_*, m_axis_rsp_*) for cocotbext-axi and Vivado.

`resetall
`default_nettype none

// No wildcard import of memhil_pkg here: the parameter BL_MAX (the build's largest BL, field
// BL_MAX of GEOMETRY2) would hide the package's BL_MAX (the contract's write range of BL).
module memhil_top #(
  parameter int unsigned ROWS  = 8,
  parameter int unsigned COLS  = 8,
  parameter int unsigned TILES = 1,
  parameter int unsigned LANES = 4,
  parameter int unsigned G_W   = 8,
  // MAX_PAYLOAD = 2^PAYLOAD_LOG2 bytes per frame: sizes the command and response buffers
  parameter int unsigned PAYLOAD_LOG2 = memhil_pkg::PAYLOAD_LOG2_DEFAULT,
  // build limits (contract v3, GEOMETRY2 and PING): the largest B of FORWARD_B / TRANSPOSE_B /
  // UPDATE_B (a larger B is BAD_ARG) and the largest BL (a larger BL write is refused)
  parameter int unsigned BATCH_MAX = memhil_pkg::BATCH_MAX_DEFAULT,
  parameter int unsigned BL_MAX = memhil_pkg::BL_MAX_DEFAULT
) (
  input  wire logic         clk,
  input  wire logic         rst_n,

  input  wire logic [11:0]  s_axil_awaddr,
  input  wire logic [2:0]   s_axil_awprot,
  input  wire logic         s_axil_awvalid,
  output logic              s_axil_awready,
  input  wire logic [31:0]  s_axil_wdata,
  input  wire logic [3:0]   s_axil_wstrb,
  input  wire logic         s_axil_wvalid,
  output logic              s_axil_wready,
  output logic [1:0]        s_axil_bresp,
  output logic              s_axil_bvalid,
  input  wire logic         s_axil_bready,
  input  wire logic [11:0]  s_axil_araddr,
  input  wire logic [2:0]   s_axil_arprot,
  input  wire logic         s_axil_arvalid,
  output logic              s_axil_arready,
  output logic [31:0]       s_axil_rdata,
  output logic [1:0]        s_axil_rresp,
  output logic              s_axil_rvalid,
  input  wire logic         s_axil_rready,

  input  wire logic [7:0]   s_axis_cmd_tdata,
  input  wire logic         s_axis_cmd_tvalid,
  output logic              s_axis_cmd_tready,
  input  wire logic         s_axis_cmd_tlast,

  output logic [7:0]        m_axis_rsp_tdata,
  output logic              m_axis_rsp_tvalid,
  input  wire logic         m_axis_rsp_tready,
  output logic              m_axis_rsp_tlast
);

  localparam int unsigned BUF_AW = PAYLOAD_LOG2;

  // configuration
  logic [15:0] cfg_cmax, cfg_c0, cfg_rn_q;
  logic [3:0]  cfg_sub_bits;
  logic        cfg_mode;
  logic [7:0]  cfg_bl;
  logic [31:0] cfg_lr_q, cfg_d2d_key;
  logic [13:0] cfg_c2c_q, cfg_d2d_q;
  logic [4:0]  cfg_adc_shift, cfg_adc_bits;
  logic [15:0] cfg_fault_rate;
  logic [31:0] cfg_fault_key;
  logic [1:0]  cfg_fault_kind;
  logic        tbl_we, tbl_dir;
  logic [7:0]  tbl_addr;
  logic [15:0] tbl_wdata, tbl_rdata;

  // command buffer
  logic              cbuf_we;
  logic [BUF_AW-1:0] cbuf_waddr, cbuf_raddr;
  logic [7:0]        cbuf_wdata, cbuf_rdata;
  // response buffer
  logic              rbuf_we;
  logic [BUF_AW-1:0] rbuf_waddr, rbuf_raddr;
  logic [7:0]        rbuf_wdata, rbuf_rdata;

  // descriptor
  logic              desc_valid, desc_done, desc_arg_bad, rx_in_frame;
  logic              exec_lock, cfg_busy;
  logic              desc_ok, desc_is_ping, desc_is_wreg, desc_is_rreg, desc_is_batch;
  logic              desc_is_upd, desc_is_read, desc_is_trn;
  logic [7:0]        desc_arr_op;
  logic [7:0]        desc_status, desc_seq, desc_op, desc_tile, desc_flags;
  logic [BUF_AW:0]   desc_len, desc_var_off;
  logic [31:0]       desc_start, desc_value;
  logic [15:0]       desc_count, desc_addr;

  // framer
  logic              tx_start, tx_done, tx_busy;
  logic [7:0]        tx_seq, tx_op, tx_status;
  logic [BUF_AW:0]   tx_len;

  // register port
  logic              reg_req, reg_we, reg_ack, reg_err, reg_lock;
  logic [15:0]       reg_addr;
  logic [31:0]       reg_wdata, reg_rdata;

  // array
  logic              arr_cmd_valid, arr_cmd_ready, arr_cmd_apply;
  logic [7:0]        arr_cmd_op, arr_cmd_tile;
  logic [31:0]       arr_cmd_start;
  logic [15:0]       arr_cmd_count;
  logic              arr_in_valid, arr_in_ready;
  logic [7:0]        arr_in_data;
  logic              arr_out_valid, arr_out_ready, arr_out_last;
  logic [7:0]        arr_out_data;
  logic              arr_done, arr_busy;
  logic [31:0]       arr_pulses, arr_pulses_up, arr_pulses_stuck;

  // counters
  logic              ev_pulses, ev_update, ev_read, ev_busy, ev_error, busy;
  logic [15:0]       ev_update_n;
  logic [31:0]       ev_pulses_n, ev_pulses_up_n, ev_pulses_stuck_n;
  logic              ev_read_trn;
  logic [7:0]        ev_error_code;

  memhil_cmd_rx #(
    .ROWS         (ROWS),
    .COLS         (COLS),
    .TILES        (TILES),
    .PAYLOAD_LOG2 (PAYLOAD_LOG2),
    .BATCH_MAX    (BATCH_MAX)
  ) u_rx (
    .clk            (clk),
    .rst_n          (rst_n),
    .s_axis_tdata   (s_axis_cmd_tdata),
    .s_axis_tvalid  (s_axis_cmd_tvalid),
    .s_axis_tready  (s_axis_cmd_tready),
    .s_axis_tlast   (s_axis_cmd_tlast),
    .cfg_cmax_i     (cfg_cmax),
    .buf_we_o       (cbuf_we),
    .buf_waddr_o    (cbuf_waddr),
    .buf_wdata_o    (cbuf_wdata),
    .desc_valid_o   (desc_valid),
    .desc_done_i    (desc_done),
    .desc_status_o  (desc_status),
    .desc_seq_o     (desc_seq),
    .desc_op_o      (desc_op),
    .desc_len_o     (desc_len),
    .desc_tile_o    (desc_tile),
    .desc_start_o   (desc_start),
    .desc_count_o   (desc_count),
    .desc_addr_o    (desc_addr),
    .desc_value_o   (desc_value),
    .desc_flags_o   (desc_flags),
    .desc_var_off_o (desc_var_off),
    .desc_arg_bad_o (desc_arg_bad),
    .desc_ok_o      (desc_ok),
    .desc_is_ping_o (desc_is_ping),
    .desc_is_wreg_o (desc_is_wreg),
    .desc_is_rreg_o (desc_is_rreg),
    .desc_is_batch_o(desc_is_batch),
    .desc_is_upd_o  (desc_is_upd),
    .desc_is_read_o (desc_is_read),
    .desc_is_trn_o  (desc_is_trn),
    .desc_arr_op_o  (desc_arr_op),
    .in_frame_o     (rx_in_frame)
  );

  memhil_dp_ram #(
    .DEPTH (1 << PAYLOAD_LOG2),
    .WIDTH (8),
    .DISTR (1'b0)
  ) u_cbuf (
    .clk   (clk),
    .we    (cbuf_we),
    .waddr (cbuf_waddr),
    .wdata (cbuf_wdata),
    .raddr (cbuf_raddr),
    .rdata (cbuf_rdata)
  );

  memhil_dp_ram #(
    .DEPTH (1 << PAYLOAD_LOG2),
    .WIDTH (8),
    .DISTR (1'b0)
  ) u_rbuf (
    .clk   (clk),
    .we    (rbuf_we),
    .waddr (rbuf_waddr),
    .wdata (rbuf_wdata),
    .raddr (rbuf_raddr),
    .rdata (rbuf_rdata)
  );

  memhil_exec #(
    .ROWS         (ROWS),
    .COLS         (COLS),
    .TILES        (TILES),
    .LANES        (LANES),
    .PAYLOAD_LOG2 (PAYLOAD_LOG2),
    .BATCH_MAX    (BATCH_MAX),
    .BUILD_BL_MAX (BL_MAX)
  ) u_exec (
    .clk             (clk),
    .rst_n           (rst_n),
    .desc_valid_i    (desc_valid),
    .desc_done_o     (desc_done),
    .desc_status_i   (desc_status),
    .desc_seq_i      (desc_seq),
    .desc_op_i       (desc_op),
    .desc_len_i      (desc_len),
    .desc_tile_i     (desc_tile),
    .desc_start_i    (desc_start),
    .desc_count_i    (desc_count),
    .desc_addr_i     (desc_addr),
    .desc_value_i    (desc_value),
    .desc_flags_i    (desc_flags),
    .desc_var_off_i  (desc_var_off),
    .desc_arg_bad_i  (desc_arg_bad),
    .desc_ok_i       (desc_ok),
    .desc_is_ping_i  (desc_is_ping),
    .desc_is_wreg_i  (desc_is_wreg),
    .desc_is_rreg_i  (desc_is_rreg),
    .desc_is_batch_i (desc_is_batch),
    .desc_is_upd_i   (desc_is_upd),
    .desc_is_read_i  (desc_is_read),
    .desc_is_trn_i   (desc_is_trn),
    .desc_arr_op_i   (desc_arr_op),
    .cbuf_raddr_o    (cbuf_raddr),
    .cbuf_rdata_i    (cbuf_rdata),
    .rbuf_we_o       (rbuf_we),
    .rbuf_waddr_o    (rbuf_waddr),
    .rbuf_wdata_o    (rbuf_wdata),
    .tx_start_o      (tx_start),
    .tx_seq_o        (tx_seq),
    .tx_op_o         (tx_op),
    .tx_status_o     (tx_status),
    .tx_len_o        (tx_len),
    .tx_done_i       (tx_done),
    .reg_req_o       (reg_req),
    .reg_we_o        (reg_we),
    .reg_addr_o      (reg_addr),
    .reg_wdata_o     (reg_wdata),
    .reg_ack_i       (reg_ack),
    .reg_err_i       (reg_err),
    .reg_rdata_i     (reg_rdata),
    .reg_lock_o      (exec_lock),
    .cfg_busy_i      (cfg_busy),
    .arr_cmd_valid_o (arr_cmd_valid),
    .arr_cmd_ready_i (arr_cmd_ready),
    .arr_cmd_op_o    (arr_cmd_op),
    .arr_cmd_tile_o  (arr_cmd_tile),
    .arr_cmd_start_o (arr_cmd_start),
    .arr_cmd_count_o (arr_cmd_count),
    .arr_cmd_apply_o (arr_cmd_apply),
    .arr_in_valid_o  (arr_in_valid),
    .arr_in_ready_i  (arr_in_ready),
    .arr_in_data_o   (arr_in_data),
    .arr_out_valid_i (arr_out_valid),
    .arr_out_ready_o (arr_out_ready),
    .arr_out_data_i  (arr_out_data),
    .arr_out_last_i  (arr_out_last),
    .arr_done_i      (arr_done),
    .arr_busy_i      (arr_busy),
    .arr_pulses_i    (arr_pulses),
    .arr_pulses_up_i (arr_pulses_up),
    .arr_pulses_stuck_i(arr_pulses_stuck),
    .ev_pulses_o     (ev_pulses),
    .ev_pulses_n_o   (ev_pulses_n),
    .ev_pulses_up_n_o(ev_pulses_up_n),
    .ev_pulses_stuck_n_o(ev_pulses_stuck_n),
    .ev_update_o     (ev_update),
    .ev_update_n_o   (ev_update_n),
    .ev_read_o       (ev_read),
    .ev_read_trn_o   (ev_read_trn),
    .ev_busy_o       (ev_busy),
    .ev_error_o      (ev_error),
    .ev_error_code_o (ev_error_code),
    .busy_o          (busy)
  );

  memhil_rsp_tx #(
    .PAYLOAD_LOG2 (PAYLOAD_LOG2)
  ) u_tx (
    .clk           (clk),
    .rst_n         (rst_n),
    .start_i       (tx_start),
    .seq_i         (tx_seq),
    .op_i          (tx_op),
    .status_i      (tx_status),
    .len_i         (tx_len),
    .busy_o        (tx_busy),
    .done_o        (tx_done),
    .buf_raddr_o   (rbuf_raddr),
    .buf_rdata_i   (rbuf_rdata),
    .m_axis_tdata  (m_axis_rsp_tdata),
    .m_axis_tvalid (m_axis_rsp_tvalid),
    .m_axis_tready (m_axis_rsp_tready),
    .m_axis_tlast  (m_axis_rsp_tlast)
  );

  memhil_regfile #(
    .ROWS         (ROWS),
    .COLS         (COLS),
    .TILES        (TILES),
    .LANES        (LANES),
    .G_W          (G_W),
    .PAYLOAD_LOG2 (PAYLOAD_LOG2),
    .BATCH_MAX    (BATCH_MAX),
    .BUILD_BL_MAX (BL_MAX)
  ) u_regs (
    .clk             (clk),
    .rst_n           (rst_n),
    .s_axil_awaddr   (s_axil_awaddr),
    .s_axil_awprot   (s_axil_awprot),
    .s_axil_awvalid  (s_axil_awvalid),
    .s_axil_awready  (s_axil_awready),
    .s_axil_wdata    (s_axil_wdata),
    .s_axil_wstrb    (s_axil_wstrb),
    .s_axil_wvalid   (s_axil_wvalid),
    .s_axil_wready   (s_axil_wready),
    .s_axil_bresp    (s_axil_bresp),
    .s_axil_bvalid   (s_axil_bvalid),
    .s_axil_bready   (s_axil_bready),
    .s_axil_araddr   (s_axil_araddr),
    .s_axil_arprot   (s_axil_arprot),
    .s_axil_arvalid  (s_axil_arvalid),
    .s_axil_arready  (s_axil_arready),
    .s_axil_rdata    (s_axil_rdata),
    .s_axil_rresp    (s_axil_rresp),
    .s_axil_rvalid   (s_axil_rvalid),
    .s_axil_rready   (s_axil_rready),
    .req_i           (reg_req),
    .we_i            (reg_we),
    .addr_i          (reg_addr),
    .wdata_i         (reg_wdata),
    .ack_o           (reg_ack),
    .err_o           (reg_err),
    .rdata_o         (reg_rdata),
    .lock_i          (reg_lock),
    .acc_busy_o      (cfg_busy),
    .cfg_cmax_o      (cfg_cmax),
    .cfg_c0_o        (cfg_c0),
    .cfg_sub_bits_o  (cfg_sub_bits),
    .cfg_mode_o      (cfg_mode),
    .cfg_bl_o        (cfg_bl),
    .cfg_lr_q_o      (cfg_lr_q),
    .cfg_d2d_key_o   (cfg_d2d_key),
    .cfg_c2c_q_o     (cfg_c2c_q),
    .cfg_d2d_q_o     (cfg_d2d_q),
    .cfg_rn_q_o      (cfg_rn_q),
    .cfg_adc_shift_o (cfg_adc_shift),
    .cfg_adc_bits_o  (cfg_adc_bits),
    .cfg_fault_rate_o(cfg_fault_rate),
    .cfg_fault_key_o (cfg_fault_key),
    .cfg_fault_kind_o(cfg_fault_kind),
    .tbl_we_o        (tbl_we),
    .tbl_dir_o       (tbl_dir),
    .tbl_addr_o      (tbl_addr),
    .tbl_wdata_o     (tbl_wdata),
    .tbl_rdata_i     (tbl_rdata),
    .ev_pulses_i     (ev_pulses),
    .ev_pulses_n_i   (ev_pulses_n),
    .ev_pulses_up_n_i(ev_pulses_up_n),
    .ev_pulses_stuck_n_i(ev_pulses_stuck_n),
    .ev_update_i     (ev_update),
    .ev_update_n_i   (ev_update_n),
    .ev_read_i       (ev_read),
    .ev_read_trn_i   (ev_read_trn),
    .ev_busy_i       (ev_busy),
    .ev_error_i      (ev_error),
    .ev_error_code_i (ev_error_code),
    .busy_i          (busy)
  );

  memhil_array #(
    .ROWS  (ROWS),
    .COLS  (COLS),
    .TILES (TILES),
    .LANES (LANES),
    .G_W   (G_W),
    .BUILD_BL_MAX (BL_MAX),
    .BATCH_MAX    (BATCH_MAX)
  ) u_array (
    .clk            (clk),
    .rst_n          (rst_n),
    .cfg_cmax       (cfg_cmax),
    .cfg_c0         (cfg_c0),
    .cfg_sub_bits   (cfg_sub_bits),
    .cfg_mode       (cfg_mode),
    .cfg_bl         (cfg_bl),
    .cfg_lr_q       (cfg_lr_q),
    .cfg_d2d_key    (cfg_d2d_key),
    .cfg_c2c_q      (cfg_c2c_q),
    .cfg_d2d_q      (cfg_d2d_q),
    .cfg_rn_q       (cfg_rn_q),
    .cfg_adc_shift  (cfg_adc_shift),
    .cfg_adc_bits   (cfg_adc_bits),
    .cfg_fault_rate (cfg_fault_rate),
    .cfg_fault_key  (cfg_fault_key),
    .cfg_fault_kind (cfg_fault_kind),
    .tbl_we         (tbl_we),
    .tbl_dir        (tbl_dir),
    .tbl_addr       (tbl_addr),
    .tbl_wdata      (tbl_wdata),
    .tbl_rdata      (tbl_rdata),
    .cmd_valid      (arr_cmd_valid),
    .cmd_ready      (arr_cmd_ready),
    .cmd_op         (arr_cmd_op),
    .cmd_tile       (arr_cmd_tile),
    .cmd_start      (arr_cmd_start),
    .cmd_count      (arr_cmd_count),
    .cmd_apply      (arr_cmd_apply),
    .in_valid       (arr_in_valid),
    .in_ready       (arr_in_ready),
    .in_data        (arr_in_data),
    .out_valid      (arr_out_valid),
    .out_ready      (arr_out_ready),
    .out_data       (arr_out_data),
    .out_last       (arr_out_last),
    .done           (arr_done),
    .pulses_applied (arr_pulses),
    .pulses_up      (arr_pulses_up),
    .pulses_stuck   (arr_pulses_stuck),
    .busy           (arr_busy)
  );

  // AXI4-Lite writes wait while a frame is received or executed: the parser's element checks
  // (codes <= CMAX) and the array see one configuration per command
  assign reg_lock = exec_lock || rx_in_frame;

  logic unused_top;
  assign unused_top = ^{tx_busy};

endmodule

`resetall
