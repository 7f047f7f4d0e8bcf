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
//
// Timing (100 MHz): an access takes three clocks before its answer. A_IDLE grants it and
// registers it (source, write, address, data) with its decode, made on both masters' inputs in
// parallel (the register a write hits within its write range, a readable address, the
// register a read selects as a one-hot word select; the executor's a clock ahead, into
// registers: addr_i, we_i and wdata_i must be final from the clock before req_i rises and held
// until ack_o, as the executor's descriptor is); A_CHK forms
// the read data, the answer and one write enable per register; A_RESP applies a write from
// those registers (so every configuration copy's enable is a flip-flop) and answers the
// executor. A register read right after a write (the next access) sees the new value: the next
// grant is after A_RESP. acc_busy_o (A_CHK, A_RESP) holds the executor's next array command
// until an access granted before it has been applied. The counters add registered addends:
// they count one clock after the event (CNT_PULSES_DN and CNT_DAC, whose addends are a
// difference or a sum, two); a clear (CTRL.CLR, applied in A_RESP) also drops the addends in
// flight and the events of its own clock, as the clear of an unpipelined counter would.

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
  output logic                     acc_busy_o,     // an access is being checked or applied

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

  // one bit per writable register (and the step tables; clr: CTRL): the write enables of
  // A_RESP (wen_q; CTRL's only when CLR is set), and the range checks of the granted data
  typedef struct packed {
    logic clr, cmax, sub_bits, c0, mode, bl, lr_q, c2c_q, d2d_q, d2d_key, rn_q, adc_shift,
          adc_bits, fault_rate, fault_key, fault_kind, tbl;
  } wen_t;

  typedef enum logic [2:0] { A_IDLE, A_CHK, A_RESP, A_BWAIT, A_RWAIT } astate_e;
  astate_e     astate_q, astate_d;
  // the granted access, registered in A_IDLE and held until the next grant
  logic        src_cmd_q, src_cmd_d;     // it came from the executor
  logic        axil_wr_q, axil_wr_d;     // ... it is an AXI4-Lite write
  logic        acc_we_q, acc_we_d;
  logic [15:0] acc_addr_q, acc_addr_d;
  logic [31:0] acc_wdata_q, acc_wdata_d;
  wen_t        acc_hit_q, acc_hit_d;     // ... the register written, its data within range
  logic        acc_rok_q, acc_rok_d;     // ... a readable address
  logic [63:0] acc_rsel_q, acc_rsel_d;   // ... the register read, one-hot by word index
  // its decode (A_CHK), used in A_RESP
  logic        is_tbl_q, is_tbl_d;       // ... a step-table read
  logic        err_q, err_d;
  logic [31:0] rd_q, rd_d;

  wen_t        wen_q, wen_d;

  // ---------------------------------------------------------------- access selection
  logic        grant_cmd, grant_w, grant_r;
  logic        ar_is_tbl;

  assign ar_is_tbl = s_axil_araddr[11:10] != 2'b00;

  logic unused_axil;
  assign unused_axil = ^{s_axil_awprot, s_axil_arprot, s_axil_wstrb};

  // which word indices (addr[7:2]) below 0x100 are registers
  localparam logic [63:0] R_DEFINED = reg_defined();
  function automatic logic [63:0] reg_defined();
    logic [63:0] m;
    m = '0;
    for (int unsigned k = 0; k < 64; k++) begin
      case (12'(4 * k))
        REG_ID, REG_VERSION, REG_GEOMETRY0, REG_GEOMETRY1, REG_GEOMETRY2, REG_CTRL, REG_STATUS,
        REG_CMAX, REG_SUB_BITS, REG_C0, REG_UPDATE_MODE, REG_BL, REG_LR_Q, REG_C2C_Q,
        REG_D2D_Q, REG_D2D_KEY, REG_RN_Q, REG_ADC_SHIFT, REG_ADC_BITS, REG_FAULT_RATE,
        REG_FAULT_KEY, REG_FAULT_KIND, REG_CNT_PULSES, REG_CNT_UPDATES, REG_CNT_READS,
        REG_CNT_BUSY, REG_CNT_ERRORS, REG_CNT_PULSES_UP, REG_CNT_PULSES_DN,
        REG_CNT_PULSES_STUCK, REG_CNT_CELL_READS, REG_CNT_DAC, REG_CNT_ADC: m[k] = 1'b1;
        default: m[k] = 1'b0;
      endcase
    end
    return m;
  endfunction

  // The decode of an access, on both masters' address and data in parallel as it is granted.
  // wr_hits: the register a write hits, its data within the write range of section 7
  // (generated from contract.toml: the twin's write_reg; CMAX further bounded by the cells'
  // 2^G_W - 1, BL by the build's BL_MAX; the full 16-bit address: misaligned and unknown hit
  // nothing). rd_ok: a readable address (a register or a step-table entry).
  function automatic logic addr_tbl(input logic [5:0] hi, input logic [1:0] lo);   // [15:10], [1:0]
    return (lo == 2'b00) && (hi[5:2] == 4'h0) &&
           ((hi[1:0] == REG_STEP_UP_BASE[11:10]) || (hi[1:0] == REG_STEP_DN_BASE[11:10]));
  endfunction

  // wr_hits = wr_addr_hits & wr_val_ok: the register an address names (one-hot or none), and
  // for each register whether the value is within its write range
  function automatic wen_t wr_addr_hits(input logic [15:0] addr);
    wen_t h;
    h.clr        = (addr == 16'(REG_CTRL));
    h.cmax       = (addr == 16'(REG_CMAX));
    h.sub_bits   = (addr == 16'(REG_SUB_BITS));
    h.c0         = (addr == 16'(REG_C0));
    h.mode       = (addr == 16'(REG_UPDATE_MODE));
    h.bl         = (addr == 16'(REG_BL));
    h.lr_q       = (addr == 16'(REG_LR_Q));
    h.c2c_q      = (addr == 16'(REG_C2C_Q));
    h.d2d_q      = (addr == 16'(REG_D2D_Q));
    h.d2d_key    = (addr == 16'(REG_D2D_KEY));
    h.rn_q       = (addr == 16'(REG_RN_Q));
    h.adc_shift  = (addr == 16'(REG_ADC_SHIFT));
    h.adc_bits   = (addr == 16'(REG_ADC_BITS));
    h.fault_rate = (addr == 16'(REG_FAULT_RATE));
    h.fault_key  = (addr == 16'(REG_FAULT_KEY));
    h.fault_kind = (addr == 16'(REG_FAULT_KIND));
    h.tbl        = addr_tbl(addr[15:10], addr[1:0]);
    return h;
  endfunction

  function automatic wen_t wr_val_ok(input logic [31:0] v);
    wen_t h;
    h.clr        = reg_wr_in_range(REG_CTRL, v);
    h.cmax       = reg_wr_in_range(REG_CMAX, v) && (v <= CMAX_TOP);
    h.sub_bits   = reg_wr_in_range(REG_SUB_BITS, v);
    h.c0         = reg_wr_in_range(REG_C0, v);
    h.mode       = reg_wr_in_range(REG_UPDATE_MODE, v);
    h.bl         = reg_wr_in_range(REG_BL, v) && (v <= 32'(BUILD_BL_MAX));
    h.lr_q       = reg_wr_in_range(REG_LR_Q, v);
    h.c2c_q      = reg_wr_in_range(REG_C2C_Q, v);
    h.d2d_q      = reg_wr_in_range(REG_D2D_Q, v);
    h.d2d_key    = reg_wr_in_range(REG_D2D_KEY, v);
    h.rn_q       = reg_wr_in_range(REG_RN_Q, v);
    h.adc_shift  = reg_wr_in_range(REG_ADC_SHIFT, v);
    h.adc_bits   = reg_wr_in_range(REG_ADC_BITS, v);
    h.fault_rate = reg_wr_in_range(REG_FAULT_RATE, v);
    h.fault_key  = reg_wr_in_range(REG_FAULT_KEY, v);
    h.fault_kind = reg_wr_in_range(REG_FAULT_KIND, v);
    h.tbl        = (v[31:16] == 16'h0000);   // a table entry is 16 bits
    return h;
  endfunction

  function automatic wen_t wr_hits(input logic [15:0] addr, input logic [31:0] v);
    return wr_addr_hits(addr) & wr_val_ok(v);
  endfunction

  function automatic logic rd_ok(input logic [15:0] addr);
    return addr_tbl(addr[15:10], addr[1:0]) || ((addr[1:0] == 2'b00) && (addr[15:8] == 8'h00) &&
                              R_DEFINED[addr[7:2]]);
  endfunction

  // the register a read selects, one-hot by word index addr[7:2] (defined registers below
  // 0x100 only: none for a table entry, an unknown or a misaligned address)
  function automatic logic [63:0] rd_sel(input logic [15:0] addr);
    logic [63:0] m;
    for (int unsigned k = 0; k < 64; k++) begin
      m[k] = R_DEFINED[k] && (addr[1:0] == 2'b00) && (addr[15:8] == 8'h00) &&
             (addr[7:2] == 6'(k));
    end
    return m;
  endfunction

  // The executor's access decoded a clock ahead (its address and data are final from the clock
  // before req_i rises, held until ack_o: the parser's descriptor), registered every clock, so
  // that the grant only selects it: the address's register and the value's ranges (ANDed at the
  // grant), the readable address, the read's one-hot select
  wen_t        cmd_ahit_q, cmd_vok_q;
  logic        cmd_rok_q;
  logic [63:0] cmd_rsel_q;
  always_ff @(posedge clk) begin
    cmd_ahit_q <= wr_addr_hits(addr_i);
    cmd_vok_q  <= wr_val_ok(wdata_i);
    cmd_rok_q  <= rd_ok(addr_i);
    cmd_rsel_q <= rd_sel(addr_i);
  end

  always_comb begin
    grant_cmd = (astate_q == A_IDLE) && req_i;
    grant_w   = (astate_q == A_IDLE) && !req_i && s_axil_awvalid && s_axil_wvalid && !lock_i;
    grant_r   = (astate_q == A_IDLE) && !req_i && !grant_w && s_axil_arvalid &&
                !(lock_i && ar_is_tbl);
    src_cmd_d   = src_cmd_q;
    axil_wr_d   = axil_wr_q;
    acc_we_d    = acc_we_q;
    acc_addr_d  = acc_addr_q;
    acc_wdata_d = acc_wdata_q;
    acc_hit_d   = acc_hit_q;
    acc_rok_d   = acc_rok_q;
    acc_rsel_d  = acc_rsel_q;
    if (grant_cmd) begin
      src_cmd_d   = 1'b1;
      axil_wr_d   = 1'b0;
      acc_we_d    = we_i;
      acc_addr_d  = addr_i;
      acc_wdata_d = wdata_i;
      acc_hit_d   = cmd_ahit_q & cmd_vok_q;
      acc_rok_d   = cmd_rok_q;
      acc_rsel_d  = cmd_rsel_q;
    end else if (grant_w) begin
      src_cmd_d   = 1'b0;
      axil_wr_d   = 1'b1;
      acc_we_d    = 1'b1;
      acc_addr_d  = {4'h0, s_axil_awaddr};         // bits [1:0] too: misaligned is refused
      acc_wdata_d = s_axil_wdata;
      acc_hit_d   = wr_hits({4'h0, s_axil_awaddr}, s_axil_wdata);
      acc_rok_d   = 1'b0;
      acc_rsel_d  = '0;
    end else if (grant_r) begin
      src_cmd_d   = 1'b0;
      axil_wr_d   = 1'b0;
      acc_we_d    = 1'b0;
      acc_addr_d  = {4'h0, s_axil_araddr};
      acc_wdata_d = 32'h0;
      acc_hit_d   = '0;
      acc_rok_d   = rd_ok({4'h0, s_axil_araddr});
      acc_rsel_d  = rd_sel({4'h0, s_axil_araddr});
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

  assign ack_o      = (astate_q == A_RESP) && src_cmd_q;
  assign err_o      = err_q;
  assign rdata_o    = is_tbl_q ? {16'h0000, tbl_rdata_i} : rd_q;
  assign acc_busy_o = (astate_q == A_CHK) || (astate_q == A_RESP);

  // ---------------------------------------------------------------- decode (A_CHK)
  logic        a_tbl;
  logic        a_dir;
  logic        w_ok;
  logic [31:0] r_data;
  logic        r_ok;
  wen_t        w_hit;       // the register addressed, its write range respected

  // the read data of every register by word index (addr[7:2])
  logic [31:0] r_map [64];

  always_comb begin
    for (int unsigned k = 0; k < 64; k++) begin
      case (12'(4 * k))
        REG_ID:          r_map[k] = MAGIC;
        REG_VERSION:     r_map[k] = CONTRACT_VERSION;
        REG_GEOMETRY0:   r_map[k] = pack_geometry0(GEOMETRY0_ROWS_WIDTH'(ROWS),
                                                   GEOMETRY0_COLS_WIDTH'(COLS));
        REG_GEOMETRY1:   r_map[k] = pack_geometry1(GEOMETRY1_TILES_WIDTH'(TILES),
                                                   GEOMETRY1_LANES_WIDTH'(LANES),
                                                   GEOMETRY1_G_W_WIDTH'(G_W),
                                                   GEOMETRY1_PAYLOAD_LOG2_WIDTH'(PAYLOAD_LOG2));
        REG_GEOMETRY2:   r_map[k] = pack_geometry2(GEOMETRY2_BATCH_MAX_WIDTH'(BATCH_MAX),
                                                   GEOMETRY2_BL_MAX_WIDTH'(BUILD_BL_MAX));
        REG_CTRL:        r_map[k] = 32'h0;
        REG_STATUS:      r_map[k] = pack_status(busy_i, last_err_q);
        REG_CMAX:        r_map[k] = 32'(cmax_q);
        REG_SUB_BITS:    r_map[k] = 32'(sub_bits_q);
        REG_C0:          r_map[k] = 32'(c0_q);
        REG_UPDATE_MODE: r_map[k] = {31'h00000000, mode_q};
        REG_BL:          r_map[k] = 32'(bl_q);
        REG_LR_Q:        r_map[k] = lr_q_q;
        REG_C2C_Q:       r_map[k] = 32'(c2c_q_q);
        REG_D2D_Q:       r_map[k] = 32'(d2d_q_q);
        REG_D2D_KEY:     r_map[k] = d2d_key_q;
        REG_RN_Q:        r_map[k] = 32'(rn_q_q);
        REG_ADC_SHIFT:   r_map[k] = 32'(adc_shift_q);
        REG_ADC_BITS:    r_map[k] = 32'(adc_bits_q);
        REG_FAULT_RATE:  r_map[k] = 32'(fault_rate_q);
        REG_FAULT_KEY:   r_map[k] = fault_key_q;
        REG_FAULT_KIND:  r_map[k] = 32'(fault_kind_q);
        REG_CNT_PULSES:  r_map[k] = cnt_pulses_q;
        REG_CNT_UPDATES: r_map[k] = cnt_updates_q;
        REG_CNT_READS:   r_map[k] = cnt_reads_q;
        REG_CNT_BUSY:    r_map[k] = cnt_busy_q;
        REG_CNT_ERRORS:  r_map[k] = cnt_errors_q;
        REG_CNT_PULSES_UP:    r_map[k] = cnt_up_q;
        REG_CNT_PULSES_DN:    r_map[k] = cnt_dn_q;
        REG_CNT_PULSES_STUCK: r_map[k] = cnt_stuck_q;
        REG_CNT_CELL_READS:   r_map[k] = cnt_cells_q;
        REG_CNT_DAC:          r_map[k] = cnt_dac_q;
        REG_CNT_ADC:          r_map[k] = cnt_adc_q;
        default:              r_map[k] = 32'h0;
      endcase
    end
  end

  always_comb begin
    a_tbl = addr_tbl(acc_addr_q[15:10], acc_addr_q[1:0]);
    a_dir = (acc_addr_q[11:10] == REG_STEP_DN_BASE[11:10]);

    // reads: a 64-entry table over the word index addr[7:2] (every register lies below
    // 0x100), selected by the one-hot acc_rsel_q registered at the grant (an AND-OR, no
    // 64-way mux on the address); a refused read reads 0 (no bit set); a table read's data
    // replaces this in A_RESP
    r_ok   = acc_rok_q;
    r_data = 32'h0;
    for (int unsigned k = 0; k < 64; k++) begin
      r_data = r_data | (acc_rsel_q[k] ? r_map[k] : 32'h0);
    end

    // writes: the register hit (acc_hit_q, decoded as the access was granted)
    w_hit = acc_hit_q;
    w_ok  = |acc_hit_q;
  end

  // the write enables of A_RESP: the addressed register, the write accepted; CTRL clears the
  // counters only when CLR is set
  always_comb begin
    wen_d = '0;
    if ((astate_q == A_CHK) && acc_we_q) begin
      wen_d     = w_hit;
      wen_d.clr = w_hit.clr && acc_wdata_q[CTRL_CLR_LSB];
    end
  end

  logic        axil_refused;   // the AXI4-Lite access in A_RESP was refused (A_CHK's err_q)
  assign axil_refused = (astate_q == A_RESP) && !src_cmd_q && err_q;

  // table port: the registered access (read in A_CHK, its data in A_RESP; written in A_RESP)
  assign tbl_we_o    = wen_q.tbl;
  assign tbl_dir_o   = a_dir;
  assign tbl_addr_o  = acc_addr_q[9:2];
  assign tbl_wdata_o = acc_wdata_q[15:0];

  // ---------------------------------------------------------------- next state
  logic        clr;
  assign clr = wen_q.clr;

  always_comb begin
    // the write of A_RESP: each register's enable is a flip-flop, its data the access's
    cmax_d       = wen_q.cmax       ? acc_wdata_q[CMAX_WIDTH-1:0]       : cmax_q;
    sub_bits_d   = wen_q.sub_bits   ? acc_wdata_q[SUB_BITS_WIDTH-1:0]   : sub_bits_q;
    c0_d         = wen_q.c0         ? acc_wdata_q[C0_WIDTH-1:0]         : c0_q;
    mode_d       = wen_q.mode       ? acc_wdata_q[0]                    : mode_q;
    bl_d         = wen_q.bl         ? acc_wdata_q[BL_WIDTH-1:0]         : bl_q;
    lr_q_d       = wen_q.lr_q       ? acc_wdata_q                       : lr_q_q;
    c2c_q_d      = wen_q.c2c_q      ? acc_wdata_q[C2C_Q_WIDTH-1:0]      : c2c_q_q;
    d2d_q_d      = wen_q.d2d_q      ? acc_wdata_q[D2D_Q_WIDTH-1:0]      : d2d_q_q;
    d2d_key_d    = wen_q.d2d_key    ? acc_wdata_q                       : d2d_key_q;
    rn_q_d       = wen_q.rn_q       ? acc_wdata_q[RN_Q_WIDTH-1:0]       : rn_q_q;
    adc_shift_d  = wen_q.adc_shift  ? acc_wdata_q[ADC_SHIFT_WIDTH-1:0]  : adc_shift_q;
    adc_bits_d   = wen_q.adc_bits   ? acc_wdata_q[ADC_BITS_WIDTH-1:0]   : adc_bits_q;
    fault_rate_d = wen_q.fault_rate ? acc_wdata_q[FAULT_RATE_WIDTH-1:0] : fault_rate_q;
    fault_key_d  = wen_q.fault_key  ? acc_wdata_q                       : fault_key_q;
    fault_kind_d = wen_q.fault_kind ? acc_wdata_q[FAULT_KIND_WIDTH-1:0] : fault_kind_q;

    astate_d = astate_q;
    is_tbl_d = is_tbl_q;
    err_d    = err_q;
    rd_d     = rd_q;
    unique case (astate_q)
      A_IDLE: begin
        if (grant_cmd || grant_w || grant_r) astate_d = A_CHK;
      end
      A_CHK: begin
        is_tbl_d = a_tbl && !acc_we_q;
        err_d    = acc_we_q ? !w_ok : !r_ok;
        rd_d     = r_data;
        astate_d = A_RESP;
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

  // ---------------------------------------------------------------- counters
  // Stage A registers each event's addend; the counters add it a clock later. The down
  // pulses (n - up - stuck) and the DAC conversions (read + update terms) take one more
  // stage (B) so that every clock has one two-operand add.
  logic [31:0] a_pulses_q, a_pulses_d;
  logic [31:0] a_up_q, a_up_d;
  logic [31:0] a_stuck_q, a_stuck_d;
  logic [31:0] a_dn1_q, a_dn1_d;         // n - up (stage A of the down pulses)
  logic [31:0] a_updates_q, a_updates_d;
  logic        a_read_q, a_read_d;
  logic        a_busy_q, a_busy_d;
  logic [1:0]  a_errors_q, a_errors_d;
  logic        a_err_ev_q, a_err_ev_d;   // STATUS: an error response ...
  logic [7:0]  a_err_code_q, a_err_code_d;
  logic        a_refused_q, a_refused_d; // ... or a refused AXI4-Lite access
  logic [31:0] a_dac_rd_q, a_dac_rd_d;
  logic [31:0] a_dac_up_q, a_dac_up_d;
  logic [31:0] a_adc_q, a_adc_d;
  logic [31:0] b_dn_q, b_dn_d;
  logic [31:0] b_dac_q, b_dac_d;

  always_comb begin
    a_pulses_d   = ev_pulses_i ? ev_pulses_n_i : 32'd0;
    a_up_d       = ev_pulses_i ? ev_pulses_up_n_i : 32'd0;
    a_stuck_d    = ev_pulses_i ? ev_pulses_stuck_n_i : 32'd0;
    a_dn1_d      = ev_pulses_i ? (ev_pulses_n_i - ev_pulses_up_n_i) : 32'd0;
    a_updates_d  = ev_update_i ? 32'(ev_update_n_i) : 32'd0;
    a_read_d     = ev_read_i;
    a_busy_d     = ev_busy_i;
    // an error response and a refused AXI4-Lite access in the same cycle both count; STATUS
    // then shows the error response's status
    a_errors_d   = {1'b0, ev_error_i} + {1'b0, axil_refused};
    a_err_ev_d   = ev_error_i;
    a_err_code_d = ev_error_code_i;
    a_refused_d  = axil_refused;
    // energy counters: pulses by kind; cells, DAC and ADC conversions per read / update sample
    a_dac_rd_d   = ev_read_i ? (ev_read_trn_i ? 32'(ROWS) : 32'(COLS)) : 32'd0;
    a_dac_up_d   = ev_update_i ? 32'(ev_update_n_i) * 32'(ROWS + COLS) : 32'd0;
    a_adc_d      = ev_read_i ? (ev_read_trn_i ? 32'(COLS) : 32'(ROWS)) : 32'd0;
    b_dn_d       = a_dn1_q - a_stuck_q;
    b_dac_d      = a_dac_rd_q + a_dac_up_q;

    cnt_pulses_d  = cnt_pulses_q  + a_pulses_q;
    cnt_updates_d = cnt_updates_q + a_updates_q;
    cnt_reads_d   = cnt_reads_q   + {31'h0, a_read_q};
    cnt_busy_d    = cnt_busy_q    + {31'h0, a_busy_q};
    cnt_errors_d  = cnt_errors_q  + {30'h0, a_errors_q};
    last_err_d    = a_err_ev_q ? a_err_code_q : (a_refused_q ? ST_BAD_ARG : last_err_q);
    cnt_up_d      = cnt_up_q      + a_up_q;
    cnt_stuck_d   = cnt_stuck_q   + a_stuck_q;
    cnt_dn_d      = cnt_dn_q      + b_dn_q;
    cnt_cells_d   = cnt_cells_q   + (a_read_q ? CELLS_PER_READ : 32'd0);
    cnt_dac_d     = cnt_dac_q     + b_dac_q;
    cnt_adc_d     = cnt_adc_q     + a_adc_q;
    if (clr) begin
      // the counters and every addend in flight (the events before the clear and of its clock)
      a_pulses_d    = 32'd0;
      a_up_d        = 32'd0;
      a_stuck_d     = 32'd0;
      a_dn1_d       = 32'd0;
      a_updates_d   = 32'd0;
      a_read_d      = 1'b0;
      a_busy_d      = 1'b0;
      a_errors_d    = 2'd0;
      a_dac_rd_d    = 32'd0;
      a_dac_up_d    = 32'd0;
      a_adc_d       = 32'd0;
      b_dn_d        = 32'd0;
      b_dac_d       = 32'd0;
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
      a_pulses_q    <= 32'd0;
      a_up_q        <= 32'd0;
      a_stuck_q     <= 32'd0;
      a_dn1_q       <= 32'd0;
      a_updates_q   <= 32'd0;
      a_read_q      <= 1'b0;
      a_busy_q      <= 1'b0;
      a_errors_q    <= 2'd0;
      a_err_ev_q    <= 1'b0;
      a_err_code_q  <= 8'h00;
      a_refused_q   <= 1'b0;
      a_dac_rd_q    <= 32'd0;
      a_dac_up_q    <= 32'd0;
      a_adc_q       <= 32'd0;
      b_dn_q        <= 32'd0;
      b_dac_q       <= 32'd0;
      astate_q      <= A_IDLE;
      src_cmd_q     <= 1'b0;
      axil_wr_q     <= 1'b0;
      acc_we_q      <= 1'b0;
      acc_addr_q    <= 16'h0000;
      acc_wdata_q   <= 32'h0;
      acc_hit_q     <= '0;
      acc_rok_q     <= 1'b0;
      acc_rsel_q    <= '0;
      is_tbl_q      <= 1'b0;
      err_q         <= 1'b0;
      rd_q          <= 32'h0;
      wen_q         <= '0;
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
      a_pulses_q    <= a_pulses_d;
      a_up_q        <= a_up_d;
      a_stuck_q     <= a_stuck_d;
      a_dn1_q       <= a_dn1_d;
      a_updates_q   <= a_updates_d;
      a_read_q      <= a_read_d;
      a_busy_q      <= a_busy_d;
      a_errors_q    <= a_errors_d;
      a_err_ev_q    <= a_err_ev_d;
      a_err_code_q  <= a_err_code_d;
      a_refused_q   <= a_refused_d;
      a_dac_rd_q    <= a_dac_rd_d;
      a_dac_up_q    <= a_dac_up_d;
      a_adc_q       <= a_adc_d;
      b_dn_q        <= b_dn_d;
      b_dac_q       <= b_dac_d;
      astate_q      <= astate_d;
      src_cmd_q     <= src_cmd_d;
      axil_wr_q     <= axil_wr_d;
      acc_we_q      <= acc_we_d;
      acc_addr_q    <= acc_addr_d;
      acc_wdata_q   <= acc_wdata_d;
      acc_hit_q     <= acc_hit_d;
      acc_rok_q     <= acc_rok_d;
      acc_rsel_q    <= acc_rsel_d;
      is_tbl_q      <= is_tbl_d;
      err_q         <= err_d;
      rd_q          <= rd_d;
      wen_q         <= wen_d;
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
