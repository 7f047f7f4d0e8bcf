// SPDX-License-Identifier: MIT
// memhil_regfile: the register map of docs/hardware-contract.md section 7.
//
// Two masters reach the same registers: the AXI4-Lite slave (s_axil_*) and the command
// executor (WRITE_REG / READ_REG, req_i/ack_o). One access at a time, the executor first.
// A refused write (read-only or unknown address, value out of range) changes nothing. The
// executor gets err (its command answers BAD_ARG). AXI4-Lite never answers SLVERR (on a Zynq
// that is a bus fault, SIGBUS): a refused AXI4-Lite access answers OKAY (read data 0), counts in
// CNT_ERRORS and sets STATUS[15:8] to BAD_ARG (contract section 7). The step tables STEP_UP/STEP_DN live in
// the array (tbl_* port, one cycle of read latency). While lock_i is high (an array command is
// running) AXI4-Lite writes and table reads wait; plain register reads are served.
// AXI4-Lite: 32-bit data, WSTRB ignored (writes are whole words). A misaligned address
// (bits [1:0] != 0) is refused like an unknown one (OKAY, counted, nothing changes), as WRITE_REG /
// READ_REG refuse it (BAD_ARG): the full 12-bit address is decoded, never rounded down.

`resetall
`default_nettype none

module memhil_regfile
  import memhil_pkg::*;
#(
  parameter int unsigned ROWS  = 8,
  parameter int unsigned COLS  = 8,
  parameter int unsigned TILES = 1,
  parameter int unsigned LANES = 4,
  parameter int unsigned G_W   = 8,
  parameter int unsigned PAYLOAD_LOG2 = PAYLOAD_LOG2_DEFAULT,
  // build limits (GEOMETRY2): largest B of a batched command, largest BL the stream-bit
  // storage holds (a BL write above it is refused). BUILD_BL_MAX is memhil_top's BL_MAX (the
  // package's BL_MAX is the contract's write range of BL, 255, which reg_wr_in_range checks).
  parameter int unsigned BATCH_MAX = BATCH_MAX_DEFAULT,
  parameter int unsigned BUILD_BL_MAX = BL_MAX_DEFAULT,
  localparam int unsigned AXIL_AW = 12
) (
  input  wire logic                clk,
  input  wire logic                rst_n,

  // AXI4-Lite slave
  input  wire logic [AXIL_AW-1:0]  s_axil_awaddr,
  input  wire logic [2:0]          s_axil_awprot,
  input  wire logic                s_axil_awvalid,
  output logic                     s_axil_awready,
  input  wire logic [31:0]         s_axil_wdata,
  input  wire logic [3:0]          s_axil_wstrb,
  input  wire logic                s_axil_wvalid,
  output logic                     s_axil_wready,
  output logic [1:0]               s_axil_bresp,
  output logic                     s_axil_bvalid,
  input  wire logic                s_axil_bready,
  input  wire logic [AXIL_AW-1:0]  s_axil_araddr,
  input  wire logic [2:0]          s_axil_arprot,
  input  wire logic                s_axil_arvalid,
  output logic                     s_axil_arready,
  output logic [31:0]              s_axil_rdata,
  output logic [1:0]               s_axil_rresp,
  output logic                     s_axil_rvalid,
  input  wire logic                s_axil_rready,

  // command executor port (held until ack_o)
  input  wire logic                req_i,
  input  wire logic                we_i,
  input  wire logic [15:0]         addr_i,
  input  wire logic [31:0]         wdata_i,
  output logic                     ack_o,
  output logic                     err_o,
  output logic [31:0]              rdata_o,

  input  wire logic                lock_i,

  // configuration
  output logic [15:0]              cfg_cmax_o,
  output logic [15:0]              cfg_c0_o,
  output logic [3:0]               cfg_sub_bits_o,
  output logic                     cfg_mode_o,
  output logic [7:0]               cfg_bl_o,
  output logic [31:0]              cfg_lr_q_o,
  output logic [31:0]              cfg_d2d_key_o,
  output logic [13:0]              cfg_c2c_q_o,
  output logic [13:0]              cfg_d2d_q_o,
  output logic [15:0]              cfg_rn_q_o,
  output logic [4:0]               cfg_adc_shift_o,
  output logic [4:0]               cfg_adc_bits_o,
  output logic [15:0]              cfg_fault_rate_o,
  output logic [31:0]              cfg_fault_key_o,
  output logic [1:0]               cfg_fault_kind_o,

  // step tables in the array
  output logic                     tbl_we_o,
  output logic                     tbl_dir_o,
  output logic [7:0]               tbl_addr_o,
  output logic [15:0]              tbl_wdata_o,
  input  wire logic [15:0]         tbl_rdata_i,

  // counters and status
  input  wire logic                ev_pulses_i,
  input  wire logic [31:0]         ev_pulses_n_i,
  input  wire logic [31:0]         ev_pulses_up_n_i,     // of ev_pulses_n_i: up, working device
  input  wire logic [31:0]         ev_pulses_stuck_n_i,  // of ev_pulses_n_i: to stuck devices
  input  wire logic                ev_update_i,
  input  wire logic [15:0]         ev_update_n_i,   // samples of that update
  input  wire logic                ev_read_i,
  input  wire logic                ev_read_trn_i,        // ev_read_i is a transpose sample
  input  wire logic                ev_busy_i,
  input  wire logic                ev_error_i,
  input  wire logic [7:0]          ev_error_code_i,
  input  wire logic                busy_i
);

  if (G_W < 1 || G_W > MAX_CODE_BITS || LANES < 1 ||
      LANES >= (1 << GEOMETRY1_LANES_WIDTH)) begin : g_bad_param
    $fatal(1, "memhil_regfile: G_W=%0d LANES=%0d outside the contract", G_W, LANES);
  end
  if (BATCH_MAX < 1 || BATCH_MAX > MAX_BATCH || BUILD_BL_MAX < 1 ||
      BUILD_BL_MAX > MAX_BL) begin : g_bad_lim
    $fatal(1, "memhil_regfile: BATCH_MAX=%0d BL_MAX=%0d outside [1, %0d], [1, %0d]", BATCH_MAX,
           BUILD_BL_MAX, MAX_BATCH, MAX_BL);
  end

  localparam logic [31:0] CMAX_TOP = 32'((1 << G_W) - 1);
  localparam logic [31:0] CELLS_PER_READ = 32'(ROWS * COLS);
  // CMAX resets to min(RST_CMAX, 2^G_W - 1): a reset CMAX must fit the G_W-bit cells
  localparam logic [15:0] CMAX_RESET = (RST_CMAX > CMAX_TOP) ? CMAX_TOP[15:0] : RST_CMAX[15:0];
  // BL resets to min(RST_BL, BUILD_BL_MAX) likewise (the twin: min(31, bl_max))
  localparam logic [7:0]  BL_RESET = (RST_BL > 32'(BUILD_BL_MAX)) ? 8'(BUILD_BL_MAX)
                                                                 : RST_BL[7:0];

  // ---------------------------------------------------------------- registers
  logic [CMAX_WIDTH-1:0] cmax_q, cmax_d;
  logic [C0_WIDTH-1:0] c0_q, c0_d;
  logic [SUB_BITS_WIDTH-1:0] sub_bits_q, sub_bits_d;
  logic        mode_q, mode_d;
  logic [BL_WIDTH-1:0] bl_q, bl_d;
  logic [31:0] lr_q_q, lr_q_d;
  logic [31:0] d2d_key_q, d2d_key_d;
  logic [C2C_Q_WIDTH-1:0] c2c_q_q, c2c_q_d;
  logic [D2D_Q_WIDTH-1:0] d2d_q_q, d2d_q_d;
  logic [RN_Q_WIDTH-1:0] rn_q_q, rn_q_d;
  logic [ADC_SHIFT_WIDTH-1:0] adc_shift_q, adc_shift_d;
  logic [ADC_BITS_WIDTH-1:0] adc_bits_q, adc_bits_d;
  logic [FAULT_RATE_WIDTH-1:0] fault_rate_q, fault_rate_d;
  logic [31:0] fault_key_q, fault_key_d;
  logic [FAULT_KIND_WIDTH-1:0] fault_kind_q, fault_kind_d;
  logic [31:0] cnt_pulses_q, cnt_pulses_d;
  logic [31:0] cnt_updates_q, cnt_updates_d;
  logic [31:0] cnt_reads_q, cnt_reads_d;
  logic [31:0] cnt_busy_q, cnt_busy_d;
  logic [31:0] cnt_errors_q, cnt_errors_d;
  logic [31:0] cnt_up_q, cnt_up_d;
  logic [31:0] cnt_dn_q, cnt_dn_d;
  logic [31:0] cnt_stuck_q, cnt_stuck_d;
  logic [31:0] cnt_cells_q, cnt_cells_d;
  logic [31:0] cnt_dac_q, cnt_dac_d;
  logic [31:0] cnt_adc_q, cnt_adc_d;
  logic [7:0]  last_err_q, last_err_d;

  typedef enum logic [1:0] { A_IDLE, A_RESP, A_BWAIT, A_RWAIT } astate_e;
  astate_e     astate_q, astate_d;
  logic        src_cmd_q, src_cmd_d;     // the access in A_RESP came from the executor
  logic        is_tbl_q, is_tbl_d;       // ... and read a step table
  logic        err_q, err_d;
  logic [31:0] rd_q, rd_d;
  logic        axil_wr_q, axil_wr_d;     // ... was an AXI4-Lite write

  // ---------------------------------------------------------------- access selection
  logic        grant_cmd, grant_w, grant_r;
  logic        acc_we;
  logic [15:0] acc_addr;
  logic [31:0] acc_wdata;
  logic        ar_is_tbl;

  assign ar_is_tbl = s_axil_araddr[11:10] != 2'b00;

  logic unused_axil;
  assign unused_axil = ^{s_axil_awprot, s_axil_arprot, s_axil_wstrb};

  always_comb begin
    grant_cmd = (astate_q == A_IDLE) && req_i;
    grant_w   = (astate_q == A_IDLE) && !req_i && s_axil_awvalid && s_axil_wvalid && !lock_i;
    grant_r   = (astate_q == A_IDLE) && !req_i && !grant_w && s_axil_arvalid &&
                !(lock_i && ar_is_tbl);
    if (grant_cmd) begin
      acc_we    = we_i;
      acc_addr  = addr_i;
      acc_wdata = wdata_i;
    end else if (grant_w) begin
      acc_we    = 1'b1;
      acc_addr  = {4'h0, s_axil_awaddr};           // bits [1:0] too: misaligned is refused
      acc_wdata = s_axil_wdata;
    end else begin
      acc_we    = 1'b0;
      acc_addr  = {4'h0, s_axil_araddr};
      acc_wdata = 32'h0;
    end
  end

  assign s_axil_awready = grant_w;
  assign s_axil_wready  = grant_w;
  assign s_axil_arready = grant_r;
  assign s_axil_bvalid  = (astate_q == A_BWAIT);
  assign s_axil_bresp   = 2'b00;                  // OKAY, refused or not (see above)
  assign s_axil_rvalid  = (astate_q == A_RWAIT);
  assign s_axil_rdata   = rd_q;
  assign s_axil_rresp   = 2'b00;

  assign ack_o   = (astate_q == A_RESP) && src_cmd_q;
  assign err_o   = err_q;
  assign rdata_o = is_tbl_q ? {16'h0000, tbl_rdata_i} : rd_q;

  // ---------------------------------------------------------------- decode
  logic        a_valid;     // an access is granted this cycle
  logic        a_aligned;
  logic        a_tbl;
  logic        a_dir;
  logic        w_ok;
  logic [31:0] r_data;
  logic        r_ok;
  logic        clr;
  logic        axil_refused;   // an AXI4-Lite access granted this cycle is refused

  always_comb begin
    a_valid   = grant_cmd || grant_w || grant_r;
    a_aligned = (acc_addr[1:0] == 2'b00) && (acc_addr[15:12] == 4'h0);
    a_tbl     = a_aligned && (acc_addr[11:10] != 2'b00) &&
                ((acc_addr[11:10] == REG_STEP_UP_BASE[11:10]) ||
                 (acc_addr[11:10] == REG_STEP_DN_BASE[11:10]));
    a_dir     = (acc_addr[11:10] == REG_STEP_DN_BASE[11:10]);

    // reads
    r_ok   = a_aligned;
    r_data = 32'h0;
    if (!a_tbl) begin
      unique case (acc_addr[11:0])
        REG_ID:          r_data = MAGIC;
        REG_VERSION:     r_data = CONTRACT_VERSION;
        REG_GEOMETRY0:   r_data = pack_geometry0(GEOMETRY0_ROWS_WIDTH'(ROWS),
                                                 GEOMETRY0_COLS_WIDTH'(COLS));
        REG_GEOMETRY1:   r_data = pack_geometry1(GEOMETRY1_TILES_WIDTH'(TILES),
                                                 GEOMETRY1_LANES_WIDTH'(LANES),
                                                 GEOMETRY1_G_W_WIDTH'(G_W),
                                                 GEOMETRY1_PAYLOAD_LOG2_WIDTH'(PAYLOAD_LOG2));
        REG_GEOMETRY2:   r_data = pack_geometry2(GEOMETRY2_BATCH_MAX_WIDTH'(BATCH_MAX),
                                                 GEOMETRY2_BL_MAX_WIDTH'(BUILD_BL_MAX));
        REG_CTRL:        r_data = 32'h0;
        REG_STATUS:      r_data = pack_status(busy_i, last_err_q);
        REG_CMAX:        r_data = 32'(cmax_q);
        REG_SUB_BITS:    r_data = 32'(sub_bits_q);
        REG_C0:          r_data = 32'(c0_q);
        REG_UPDATE_MODE: r_data = {31'h00000000, mode_q};
        REG_BL:          r_data = 32'(bl_q);
        REG_LR_Q:        r_data = lr_q_q;
        REG_C2C_Q:       r_data = 32'(c2c_q_q);
        REG_D2D_Q:       r_data = 32'(d2d_q_q);
        REG_D2D_KEY:     r_data = d2d_key_q;
        REG_RN_Q:        r_data = 32'(rn_q_q);
        REG_ADC_SHIFT:   r_data = 32'(adc_shift_q);
        REG_ADC_BITS:    r_data = 32'(adc_bits_q);
        REG_FAULT_RATE:  r_data = 32'(fault_rate_q);
        REG_FAULT_KEY:   r_data = fault_key_q;
        REG_FAULT_KIND:  r_data = 32'(fault_kind_q);
        REG_CNT_PULSES:  r_data = cnt_pulses_q;
        REG_CNT_UPDATES: r_data = cnt_updates_q;
        REG_CNT_READS:   r_data = cnt_reads_q;
        REG_CNT_BUSY:    r_data = cnt_busy_q;
        REG_CNT_ERRORS:  r_data = cnt_errors_q;
        REG_CNT_PULSES_UP:    r_data = cnt_up_q;
        REG_CNT_PULSES_DN:    r_data = cnt_dn_q;
        REG_CNT_PULSES_STUCK: r_data = cnt_stuck_q;
        REG_CNT_CELL_READS:   r_data = cnt_cells_q;
        REG_CNT_DAC:          r_data = cnt_dac_q;
        REG_CNT_ADC:          r_data = cnt_adc_q;
        default:         r_ok = 1'b0;
      endcase
    end

    // writes: the range checks of section 7, generated from contract.toml (the twin's
    // write_reg); CMAX is further bounded by the cells' 2^G_W - 1, BL by the build's BL_MAX
    w_ok = 1'b0;
    if (a_tbl) begin
      w_ok = (acc_wdata[31:16] == 16'h0000);
    end else if (a_aligned) begin
      w_ok = reg_wr_in_range(acc_addr[11:0], acc_wdata) &&
             ((acc_addr[11:0] != REG_CMAX) || (acc_wdata <= CMAX_TOP)) &&
             ((acc_addr[11:0] != REG_BL) || (acc_wdata <= 32'(BUILD_BL_MAX)));
    end
  end

  assign axil_refused = (grant_w && !w_ok) || (grant_r && !r_ok);

  // table port
  assign tbl_we_o    = a_valid && acc_we && a_tbl && w_ok;
  assign tbl_dir_o   = a_dir;
  assign tbl_addr_o  = acc_addr[9:2];
  assign tbl_wdata_o = acc_wdata[15:0];

  // ---------------------------------------------------------------- next state
  always_comb begin
    cmax_d      = cmax_q;
    c0_d        = c0_q;
    sub_bits_d  = sub_bits_q;
    mode_d      = mode_q;
    bl_d        = bl_q;
    lr_q_d      = lr_q_q;
    d2d_key_d   = d2d_key_q;
    c2c_q_d     = c2c_q_q;
    d2d_q_d     = d2d_q_q;
    rn_q_d      = rn_q_q;
    adc_shift_d = adc_shift_q;
    adc_bits_d  = adc_bits_q;
    fault_rate_d = fault_rate_q;
    fault_key_d  = fault_key_q;
    fault_kind_d = fault_kind_q;
    astate_d    = astate_q;
    src_cmd_d   = src_cmd_q;
    is_tbl_d    = is_tbl_q;
    err_d       = err_q;
    rd_d        = rd_q;
    clr         = 1'b0;

    unique case (astate_q)
      A_IDLE: begin
        if (a_valid) begin
          src_cmd_d = grant_cmd;
          is_tbl_d  = a_tbl && !acc_we;
          err_d     = acc_we ? !w_ok : !r_ok;
          rd_d      = r_data;
          astate_d  = A_RESP;
          if (acc_we && w_ok && !a_tbl) begin
            unique case (acc_addr[11:0])
              REG_CTRL:        clr = acc_wdata[CTRL_CLR_LSB];
              REG_CMAX:        cmax_d = acc_wdata[CMAX_WIDTH-1:0];
              REG_SUB_BITS:    sub_bits_d = acc_wdata[SUB_BITS_WIDTH-1:0];
              REG_C0:          c0_d = acc_wdata[C0_WIDTH-1:0];
              REG_UPDATE_MODE: mode_d = acc_wdata[0];
              REG_BL:          bl_d = acc_wdata[BL_WIDTH-1:0];
              REG_LR_Q:        lr_q_d = acc_wdata;
              REG_C2C_Q:       c2c_q_d = acc_wdata[C2C_Q_WIDTH-1:0];
              REG_D2D_Q:       d2d_q_d = acc_wdata[D2D_Q_WIDTH-1:0];
              REG_D2D_KEY:     d2d_key_d = acc_wdata;
              REG_RN_Q:        rn_q_d = acc_wdata[RN_Q_WIDTH-1:0];
              REG_ADC_SHIFT:   adc_shift_d = acc_wdata[ADC_SHIFT_WIDTH-1:0];
              REG_ADC_BITS:    adc_bits_d = acc_wdata[ADC_BITS_WIDTH-1:0];
              REG_FAULT_RATE:  fault_rate_d = acc_wdata[FAULT_RATE_WIDTH-1:0];
              REG_FAULT_KEY:   fault_key_d = acc_wdata;
              REG_FAULT_KIND:  fault_kind_d = acc_wdata[FAULT_KIND_WIDTH-1:0];
              default:         clr = 1'b0;
            endcase
          end
        end
      end
      A_RESP: begin
        if (is_tbl_q) rd_d = {16'h0000, tbl_rdata_i};
        if (src_cmd_q) begin
          astate_d = A_IDLE;
        end else begin
          astate_d = axil_wr_q ? A_BWAIT : A_RWAIT;
        end
      end
      A_BWAIT: begin
        if (s_axil_bready) astate_d = A_IDLE;
      end
      A_RWAIT: begin
        if (s_axil_rready) astate_d = A_IDLE;
      end
      default: astate_d = A_IDLE;
    endcase
  end

  // remember whether the AXI4-Lite access in A_RESP was a write
  always_comb begin
    axil_wr_d = axil_wr_q;
    if (astate_q == A_IDLE && a_valid) axil_wr_d = grant_w;
  end

  // counters
  always_comb begin
    cnt_pulses_d  = cnt_pulses_q  + (ev_pulses_i ? ev_pulses_n_i : 32'd0);
    cnt_updates_d = cnt_updates_q + (ev_update_i ? 32'(ev_update_n_i) : 32'd0);
    cnt_reads_d   = cnt_reads_q   + {31'h0, ev_read_i};
    cnt_busy_d    = cnt_busy_q    + {31'h0, ev_busy_i};
    // an error response and a refused AXI4-Lite access in the same cycle both count; STATUS
    // then shows the error response's status
    cnt_errors_d  = cnt_errors_q  + {31'h0, ev_error_i} + {31'h0, axil_refused};
    last_err_d    = ev_error_i ? ev_error_code_i : (axil_refused ? ST_BAD_ARG : last_err_q);
    // energy counters: pulses by kind; cells, DAC and ADC conversions per read / update sample
    cnt_up_d      = cnt_up_q    + (ev_pulses_i ? ev_pulses_up_n_i : 32'd0);
    cnt_stuck_d   = cnt_stuck_q + (ev_pulses_i ? ev_pulses_stuck_n_i : 32'd0);
    cnt_dn_d      = cnt_dn_q    + (ev_pulses_i ? (ev_pulses_n_i - ev_pulses_up_n_i -
                                                  ev_pulses_stuck_n_i) : 32'd0);
    cnt_cells_d   = cnt_cells_q + (ev_read_i ? CELLS_PER_READ : 32'd0);
    cnt_dac_d     = cnt_dac_q   + (ev_read_i ? (ev_read_trn_i ? 32'(ROWS) : 32'(COLS)) : 32'd0)
                                + (ev_update_i ? 32'(ev_update_n_i) * 32'(ROWS + COLS) : 32'd0);
    cnt_adc_d     = cnt_adc_q   + (ev_read_i ? (ev_read_trn_i ? 32'(COLS) : 32'(ROWS)) : 32'd0);
    if (clr) begin
      cnt_pulses_d  = 32'd0;
      cnt_updates_d = 32'd0;
      cnt_reads_d   = 32'd0;
      cnt_busy_d    = 32'd0;
      cnt_errors_d  = 32'd0;
      cnt_up_d      = 32'd0;
      cnt_dn_d      = 32'd0;
      cnt_stuck_d   = 32'd0;
      cnt_cells_d   = 32'd0;
      cnt_dac_d     = 32'd0;
      cnt_adc_d     = 32'd0;
    end
  end

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      cmax_q        <= CMAX_RESET;
      c0_q          <= RST_C0[15:0];
      sub_bits_q    <= RST_SUB_BITS[3:0];
      mode_q        <= RST_UPDATE_MODE[0];
      bl_q          <= BL_RESET;
      lr_q_q        <= RST_LR_Q;
      d2d_key_q     <= RST_D2D_KEY;
      c2c_q_q       <= RST_C2C_Q[13:0];
      d2d_q_q       <= RST_D2D_Q[13:0];
      rn_q_q        <= RST_RN_Q[15:0];
      adc_shift_q   <= RST_ADC_SHIFT[4:0];
      adc_bits_q    <= RST_ADC_BITS[4:0];
      fault_rate_q  <= RST_FAULT_RATE[FAULT_RATE_WIDTH-1:0];
      fault_key_q   <= RST_FAULT_KEY;
      fault_kind_q  <= RST_FAULT_KIND[FAULT_KIND_WIDTH-1:0];
      cnt_pulses_q  <= 32'd0;
      cnt_updates_q <= 32'd0;
      cnt_reads_q   <= 32'd0;
      cnt_busy_q    <= 32'd0;
      cnt_errors_q  <= 32'd0;
      cnt_up_q      <= 32'd0;
      cnt_dn_q      <= 32'd0;
      cnt_stuck_q   <= 32'd0;
      cnt_cells_q   <= 32'd0;
      cnt_dac_q     <= 32'd0;
      cnt_adc_q     <= 32'd0;
      last_err_q    <= 8'h00;
      astate_q      <= A_IDLE;
      src_cmd_q     <= 1'b0;
      is_tbl_q      <= 1'b0;
      err_q         <= 1'b0;
      rd_q          <= 32'h0;
      axil_wr_q     <= 1'b0;
    end else begin
      cmax_q        <= cmax_d;
      c0_q          <= c0_d;
      sub_bits_q    <= sub_bits_d;
      mode_q        <= mode_d;
      bl_q          <= bl_d;
      lr_q_q        <= lr_q_d;
      d2d_key_q     <= d2d_key_d;
      c2c_q_q       <= c2c_q_d;
      d2d_q_q       <= d2d_q_d;
      rn_q_q        <= rn_q_d;
      adc_shift_q   <= adc_shift_d;
      adc_bits_q    <= adc_bits_d;
      fault_rate_q  <= fault_rate_d;
      fault_key_q   <= fault_key_d;
      fault_kind_q  <= fault_kind_d;
      cnt_pulses_q  <= cnt_pulses_d;
      cnt_updates_q <= cnt_updates_d;
      cnt_reads_q   <= cnt_reads_d;
      cnt_busy_q    <= cnt_busy_d;
      cnt_errors_q  <= cnt_errors_d;
      cnt_up_q      <= cnt_up_d;
      cnt_dn_q      <= cnt_dn_d;
      cnt_stuck_q   <= cnt_stuck_d;
      cnt_cells_q   <= cnt_cells_d;
      cnt_dac_q     <= cnt_dac_d;
      cnt_adc_q     <= cnt_adc_d;
      last_err_q    <= last_err_d;
      astate_q      <= astate_d;
      src_cmd_q     <= src_cmd_d;
      is_tbl_q      <= is_tbl_d;
      err_q         <= err_d;
      rd_q          <= rd_d;
      axil_wr_q     <= axil_wr_d;
    end
  end

  assign cfg_cmax_o      = cmax_q;
  assign cfg_c0_o        = c0_q;
  assign cfg_sub_bits_o  = sub_bits_q;
  assign cfg_mode_o      = mode_q;
  assign cfg_bl_o        = bl_q;
  assign cfg_lr_q_o      = lr_q_q;
  assign cfg_d2d_key_o   = d2d_key_q;
  assign cfg_c2c_q_o     = c2c_q_q;
  assign cfg_d2d_q_o     = d2d_q_q;
  assign cfg_rn_q_o      = rn_q_q;
  assign cfg_adc_shift_o = adc_shift_q;
  assign cfg_adc_bits_o  = adc_bits_q;
  assign cfg_fault_rate_o = fault_rate_q;
  assign cfg_fault_key_o  = fault_key_q;
  assign cfg_fault_kind_o = fault_kind_q;

endmodule

`resetall
