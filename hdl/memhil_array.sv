// SPDX-License-Identifier: MIT
// memhil_array: TILES crossbar tiles of ROWS x COLS cells (contract sections 2-6) with their
// command engine. docs/rtl-datapath.md describes the block diagram, the RAM organization, the
// pipelines and the cycle counts. This module holds the RAMs and connects four blocks:
//   memhil_array_ctrl  command engine: phases INIT, IDLE, DIV, WRITE (WRECV/WREAD/WWRITE),
//                      LOAD, GEN, PASS, DRAIN, OUT, FIN; RAM accesses of INIT, WRITE, LOAD, OUT
//   memhil_array_gen   GEN: LFSR leaps and stream bits, one state word after another
//   memhil_array_pass  PASS / DRAIN: one cell word per clock (per sample of an UPDATE) through
//                      products, coincidences, batch sum, memhil_tile_lane (apply), write-back;
//                      read sums
//   memhil_array_out   OUT: read sums -> read noise -> ADC (or the RAM item) -> FIFO -> bytes
// The RAM ports go to the block of the running phase (ctrl's gen_run / pass_run); the
// write-back of the pass (PASS, DRAIN) never coincides with the engine's INIT / WRITE writes.
//
// RAM organization (one word = LANES cells / states / operands, rows padded to WC words):
//   codes   TILES*ROWS*WC  x LANES*(2*G_W)   {c-, c+} per lane          block RAM
//   rlfsr   TILES*WR       x LANES*32        row LFSR states            LUT RAM (block if > 128)
//   clfsr   TILES*WC       x LANES*32        column LFSR states         LUT RAM (block if > 128)
//   xbuf/dbuf  B*WC / B*WR x LANES*8         operand codes (clamped)    LUT RAM (block if > 128)
//   rbits      B*WR           x LANES*WB       row stream bits, all samples LUT RAM (block if > 128)
//   cbits      B              x LANES*WB       column stream bits of the current column word
//                                              (GEN and PASS alternate per column word in a
//                                              coincidence UPDATE)         LUT RAM (block if > 128)
//   (B = BATCH_MAX: an UPDATE of B samples is one array command; contract v3 has no per-cell
//   accumulator: the batch sum of a cell lives in the pass's lane registers)
//   raw     max(WR,WC)     x LANES*(Y_W+T_W) read sums before noise/ADC LUT RAM
//   tables  per lane + 1   512 x 16          {dir, k} step tables       block RAM
// A command runs through: [DIV] -> [LOAD] -> [GEN] -> [PASS -> DRAIN] -> [OUT | WRITE]
// (a coincidence UPDATE: GEN -> PASS -> GEN -> PASS ... once per column word).
// Latency and cycle counts: docs/rtl-datapath.md, "Cycle counts".

`resetall
`default_nettype none

module memhil_array
  import memhil_pkg::*;
#(
  parameter int unsigned ROWS  = 8,
  parameter int unsigned COLS  = 8,
  parameter int unsigned TILES = 1,
  parameter int unsigned LANES = 4,
  parameter int unsigned G_W   = 8,
  parameter int unsigned SB    = 8,     // stream bits generated per LFSR per clock
  // memhil_top's BL_MAX: the largest BL of the build (the register file refuses a larger BL);
  // sizes the stream bits (the package's BL_MAX is the contract's 255)
  parameter int unsigned BUILD_BL_MAX = BL_MAX_DEFAULT,
  // memhil_top's BATCH_MAX: the most samples of one UPDATE (cmd_count), sizes the operand and
  // stream-bit buffers
  parameter int unsigned BATCH_MAX = BATCH_MAX_DEFAULT
) (
  input  wire logic        clk,
  input  wire logic        rst_n,
  // configuration (from the register file; stable while busy)
  input  wire logic [15:0] cfg_cmax,
  input  wire logic [15:0] cfg_c0,
  input  wire logic [3:0]  cfg_sub_bits,
  input  wire logic        cfg_mode,
  input  wire logic [7:0]  cfg_bl,
  input  wire logic [31:0] cfg_lr_q,
  input  wire logic [31:0] cfg_d2d_key,
  input  wire logic [13:0] cfg_c2c_q,
  input  wire logic [13:0] cfg_d2d_q,
  input  wire logic [15:0] cfg_rn_q,
  input  wire logic [4:0]  cfg_adc_shift,
  input  wire logic [4:0]  cfg_adc_bits,
  input  wire logic [15:0] cfg_fault_rate,
  input  wire logic [31:0] cfg_fault_key,
  input  wire logic [1:0]  cfg_fault_kind,
  // step-table port: dir 0 = UP, 1 = DN; rdata one cycle after the address
  input  wire logic        tbl_we,
  input  wire logic        tbl_dir,
  input  wire logic [7:0]  tbl_addr,
  input  wire logic [15:0] tbl_wdata,
  output logic      [15:0] tbl_rdata,
  // command
  input  wire logic        cmd_valid,
  output logic             cmd_ready,
  input  wire logic [7:0]  cmd_op,
  input  wire logic [7:0]  cmd_tile,
  input  wire logic [31:0] cmd_start,
  input  wire logic [15:0] cmd_count,
  input  wire logic        cmd_apply,
  // command payload bytes
  input  wire logic        in_valid,
  output logic             in_ready,
  input  wire logic [7:0]  in_data,
  // response payload bytes
  output logic             out_valid,
  input  wire logic        out_ready,
  output logic      [7:0]  out_data,
  output logic             out_last,
  output logic             done,
  output logic      [31:0] pulses_applied,
  output logic      [31:0] pulses_up,       // of pulses_applied: up to working devices
  output logic      [31:0] pulses_stuck,    // of pulses_applied: to stuck devices
  output logic             busy
);

  // ------------------------------------------------------------------ geometry
  localparam int unsigned LOG_L      = $clog2(LANES);
  localparam int unsigned WC         = (COLS + LANES - 1) / LANES;   // words per row
  localparam int unsigned WR         = (ROWS + LANES - 1) / LANES;   // words of row states
  localparam int unsigned CELL_DEPTH = TILES * ROWS * WC;
  localparam int unsigned RR_DEPTH   = TILES * WR;
  localparam int unsigned RC_DEPTH   = TILES * WC;
  localparam int unsigned NW_MAX     = (WR > WC) ? WR : WC;
  localparam int unsigned CA_W       = (CELL_DEPTH > 1) ? $clog2(CELL_DEPTH) : 1;
  localparam int unsigned RRA_W      = (RR_DEPTH > 1) ? $clog2(RR_DEPTH) : 1;
  localparam int unsigned RCA_W      = (RC_DEPTH > 1) ? $clog2(RC_DEPTH) : 1;
  localparam int unsigned XD         = BATCH_MAX * WC;   // x words, all samples
  localparam int unsigned DD         = BATCH_MAX * WR;   // d / row-bit words, all samples
  localparam int unsigned CBD        = BATCH_MAX;        // column-bit words: one column word
  localparam int unsigned XA_W       = (XD > 1) ? $clog2(XD) : 1;
  localparam int unsigned DA_W       = (DD > 1) ? $clog2(DD) : 1;
  localparam int unsigned CBA_W      = (CBD > 1) ? $clog2(CBD) : 1;
  localparam int unsigned NWA_W      = (NW_MAX > 1) ? $clog2(NW_MAX) : 1;
  localparam int unsigned WB         = SB * ((BUILD_BL_MAX + SB - 1) / SB); // stream bits / LFSR
  localparam int unsigned RAW_W      = 48 + 40;                       // read sum y, total T
  localparam int unsigned CW_W       = LANES * 2 * G_W;
  localparam int unsigned SW_W       = LANES * LFSR_W;
  localparam int unsigned FIFO_D     = 8;                             // response items in flight

  if (ROWS < 1 || ROWS > MAX_ROWS || COLS < 1 || COLS > MAX_COLS) begin : g_bad_geom
    $fatal(1, "memhil_array: ROWS (%0d) and COLS (%0d) must be in [1, %0d]", ROWS, COLS, MAX_ROWS);
  end
  if (TILES < 1 || TILES > MAX_TILES) begin : g_bad_tiles
    $fatal(1, "memhil_array: TILES (%0d) must be in [1, %0d]", TILES, MAX_TILES);
  end
  if (LANES < 2 || LANES > 32 || (1 << LOG_L) != LANES) begin : g_bad_lanes
    $fatal(1, "memhil_array: LANES (%0d) must be a power of two in [2, 32]", LANES);
  end
  if (G_W < 1 || G_W > MAX_CODE_BITS) begin : g_bad_gw
    $fatal(1, "memhil_array: G_W (%0d) must be in [1, %0d]", G_W, MAX_CODE_BITS);
  end
  if (SB < 1 || SB > 32) begin : g_bad_sb
    $fatal(1, "memhil_array: SB (%0d) must be in [1, 32]", SB);
  end
  if (BUILD_BL_MAX < 1 || BUILD_BL_MAX > MAX_BL) begin : g_bad_bl_max
    $fatal(1, "memhil_array: BL_MAX (%0d) must be in [1, %0d]", BUILD_BL_MAX, MAX_BL);
  end
  if (BATCH_MAX < 1 || BATCH_MAX > MAX_BATCH) begin : g_bad_batch_max
    $fatal(1, "memhil_array: BATCH_MAX (%0d) must be in [1, %0d]", BATCH_MAX, MAX_BATCH);
  end

  // ------------------------------------------------------------------ RAMs
  logic            cw_we, rw_we, kw_we, xw_we, dw_we, rbw_we, cbw_we, raw_we;
  logic [CA_W-1:0] cw_waddr, cw_raddr;
  logic [CW_W-1:0] cw_wdata, cw_rdata;
  logic [RRA_W-1:0] rw_waddr, rw_raddr;
  logic [RCA_W-1:0] kw_waddr, kw_raddr;
  logic [SW_W-1:0] rw_wdata, rw_rdata, kw_wdata, kw_rdata;
  logic [XA_W-1:0] xw_waddr, xw_raddr;
  logic [CBA_W-1:0] cbw_waddr, cbw_raddr;
  logic [DA_W-1:0] dw_waddr, dw_raddr, rbw_waddr, rbw_raddr;
  logic [LANES*8-1:0] xw_wdata, xw_rdata, dw_wdata, dw_rdata;
  logic [LANES*WB-1:0] rbw_wdata, rbw_rdata, cbw_wdata, cbw_rdata;
  logic [NWA_W-1:0] raw_waddr, raw_raddr;
  logic [LANES*RAW_W-1:0] raw_wdata, raw_rdata;
  logic            tb_we;
  logic [8:0]      tb_waddr;
  logic [15:0]     tb_wdata;

  memhil_dp_ram #(.DEPTH(CELL_DEPTH), .WIDTH(CW_W), .DISTR(1'b0)) u_codes (
    .clk(clk), .we(cw_we), .waddr(cw_waddr), .wdata(cw_wdata), .raddr(cw_raddr), .rdata(cw_rdata));
  // LFSR states: small (TILES * ROWS / LANES words), so LUT RAM unless there are many tiles
  memhil_dp_ram #(.DEPTH(RR_DEPTH), .WIDTH(SW_W), .DISTR(RR_DEPTH <= 128)) u_rlfsr (
    .clk(clk), .we(rw_we), .waddr(rw_waddr), .wdata(rw_wdata), .raddr(rw_raddr), .rdata(rw_rdata));
  memhil_dp_ram #(.DEPTH(RC_DEPTH), .WIDTH(SW_W), .DISTR(RC_DEPTH <= 128)) u_clfsr (
    .clk(clk), .we(kw_we), .waddr(kw_waddr), .wdata(kw_wdata), .raddr(kw_raddr), .rdata(kw_rdata));
  memhil_dp_ram #(.DEPTH(XD), .WIDTH(LANES * 8), .DISTR(XD <= 128)) u_xbuf (
    .clk(clk), .we(xw_we), .waddr(xw_waddr), .wdata(xw_wdata), .raddr(xw_raddr), .rdata(xw_rdata));
  memhil_dp_ram #(.DEPTH(DD), .WIDTH(LANES * 8), .DISTR(DD <= 128)) u_dbuf (
    .clk(clk), .we(dw_we), .waddr(dw_waddr), .wdata(dw_wdata), .raddr(dw_raddr), .rdata(dw_rdata));
  memhil_dp_ram #(.DEPTH(DD), .WIDTH(LANES * WB), .DISTR(DD <= 128)) u_rbits (
    .clk(clk), .we(rbw_we), .waddr(rbw_waddr), .wdata(rbw_wdata), .raddr(rbw_raddr), .rdata(rbw_rdata));
  memhil_dp_ram #(.DEPTH(CBD), .WIDTH(LANES * WB), .DISTR(CBD <= 128)) u_cbits (
    .clk(clk), .we(cbw_we), .waddr(cbw_waddr), .wdata(cbw_wdata), .raddr(cbw_raddr), .rdata(cbw_rdata));
  memhil_dp_ram #(.DEPTH(NW_MAX), .WIDTH(LANES * RAW_W), .DISTR(1'b1)) u_raw (
    .clk(clk), .we(raw_we), .waddr(raw_waddr), .wdata(raw_wdata), .raddr(raw_raddr), .rdata(raw_rdata));
  // the register file's copy of the step tables (the lanes hold one each)
  memhil_dp_ram #(.DEPTH(2 * MAX_LEVELS), .WIDTH(16), .DISTR(1'b0)) u_tbl_rd (
    .clk(clk), .we(tb_we), .waddr(tb_waddr), .wdata(tb_wdata), .raddr({tbl_dir, tbl_addr}),
    .rdata(tbl_rdata));

  // ------------------------------------------------------------------ blocks
  // command engine
  logic [7:0]       tile;
  logic             op_fwd, op_trn, op_upd, op_rcells, op_rrng;   // ctrl's one-hot flags
  logic             apply, clear, start;
  logic [CA_W-1:0]  base_c;
  logic [RRA_W-1:0] base_r;
  logic [RCA_W-1:0] base_k;
  logic [15:0]      items, nsmp;
  logic             gen_run, pass_run, out_run;
  logic             issue, issue_col;
  logic [LOG_L-1:0] issue_lane;
  logic [CA_W-1:0]  c_cell_raddr, c_cell_waddr;
  logic             c_code_we, c_rlfsr_we, c_clfsr_we;
  logic [CW_W-1:0]  c_code_wdata;
  logic [RRA_W-1:0] c_rlfsr_raddr, c_rlfsr_waddr;
  logic [RCA_W-1:0] c_clfsr_raddr, c_clfsr_waddr;
  logic [SW_W-1:0]  c_rlfsr_wdata, c_clfsr_wdata;
  logic [LANES*8-1:0] c_opnd_wdata;
  // stream generation
  logic             gen_need, gen_done, gen_colw;
  logic [RRA_W-1:0] g_rlfsr_raddr, g_rlfsr_waddr;
  logic [RCA_W-1:0] g_clfsr_raddr, g_clfsr_waddr;
  logic             g_rlfsr_we, g_clfsr_we;
  logic [SW_W-1:0]  g_state_wdata;
  logic [XA_W-1:0]  g_x_raddr;
  logic [DA_W-1:0]  g_d_raddr;
  // cell pass
  logic             pass_last, pass_wend, pass_busy;
  logic [31:0]      pulses;
  logic [CA_W-1:0]  p_cell_raddr, p_wb_addr;
  logic [XA_W-1:0]  p_x_raddr;
  logic [CBA_W-1:0] p_cbits_raddr;
  logic [DA_W-1:0]  p_d_raddr, p_rbits_raddr;
  logic [RCA_W-1:0] p_clfsr_raddr;
  logic [RRA_W-1:0] p_rlfsr_raddr;
  logic             p_wb_we;
  logic [CW_W-1:0]  p_wb_code;
  // response path
  logic             out_room, out_done;

  memhil_array_ctrl #(
    .ROWS (ROWS),
    .COLS (COLS),
    .TILES(TILES),
    .LANES(LANES),
    .G_W  (G_W),
    .BATCH_MAX(BATCH_MAX)
  ) u_ctrl (
    .clk          (clk),
    .rst_n        (rst_n),
    .cmd_valid_i  (cmd_valid),
    .cmd_ready_o  (cmd_ready),
    .cmd_op_i     (cmd_op),
    .cmd_tile_i   (cmd_tile),
    .cmd_start_i  (cmd_start),
    .cmd_count_i  (cmd_count),
    .cmd_apply_i  (cmd_apply),
    .cfg_cmax_i   (cfg_cmax),
    .cfg_fault_rate_i(cfg_fault_rate),
    .cfg_fault_key_i(cfg_fault_key),
    .cfg_fault_kind_i(cfg_fault_kind),
    .in_valid_i   (in_valid),
    .in_ready_o   (in_ready),
    .in_data_i    (in_data),
    .done_o       (done),
    .busy_o       (busy),
    .tbl_we_i     (tbl_we),
    .tbl_waddr_i  ({tbl_dir, tbl_addr}),
    .tbl_wdata_i  (tbl_wdata),
    .tbl_we_o     (tb_we),
    .tbl_waddr_o  (tb_waddr),
    .tbl_wdata_o  (tb_wdata),
    .op_fwd_o     (op_fwd),
    .op_trn_o     (op_trn),
    .op_upd_o     (op_upd),
    .op_rcells_o  (op_rcells),
    .op_rrng_o    (op_rrng),
    .tile_o       (tile),
    .apply_o      (apply),
    .base_c_o     (base_c),
    .base_r_o     (base_r),
    .base_k_o     (base_k),
    .items_o      (items),
    .nsmp_o       (nsmp),
    .clear_o      (clear),
    .start_o      (start),
    .gen_need_i   (gen_need),
    .gen_run_o    (gen_run),
    .gen_done_i   (gen_done),
    .pass_run_o   (pass_run),
    .pass_last_i  (pass_last),
    .pass_wend_i  (pass_wend),
    .pass_busy_i  (pass_busy),
    .out_run_o    (out_run),
    .issue_o      (issue),
    .issue_lane_o (issue_lane),
    .issue_col_o  (issue_col),
    .out_room_i   (out_room),
    .out_done_i   (out_done),
    .cell_raddr_o (c_cell_raddr),
    .code_rdata_i (cw_rdata),
    .cell_waddr_o (c_cell_waddr),
    .code_we_o    (c_code_we),
    .code_wdata_o (c_code_wdata),
    .rlfsr_raddr_o(c_rlfsr_raddr),
    .rlfsr_rdata_i(rw_rdata),
    .rlfsr_we_o   (c_rlfsr_we),
    .rlfsr_waddr_o(c_rlfsr_waddr),
    .rlfsr_wdata_o(c_rlfsr_wdata),
    .clfsr_raddr_o(c_clfsr_raddr),
    .clfsr_rdata_i(kw_rdata),
    .clfsr_we_o   (c_clfsr_we),
    .clfsr_waddr_o(c_clfsr_waddr),
    .clfsr_wdata_o(c_clfsr_wdata),
    .x_we_o       (xw_we),
    .x_waddr_o    (xw_waddr),
    .d_we_o       (dw_we),
    .d_waddr_o    (dw_waddr),
    .opnd_wdata_o (c_opnd_wdata),
    .raw_raddr_o  (raw_raddr)
  );

  memhil_array_gen #(
    .ROWS (ROWS),
    .COLS (COLS),
    .TILES(TILES),
    .LANES(LANES),
    .SB   (SB),
    .BUILD_BL_MAX (BUILD_BL_MAX),
    .BATCH_MAX    (BATCH_MAX)
  ) u_gen (
    .clk          (clk),
    .op_fwd_i     (op_fwd),
    .op_trn_i     (op_trn),
    .op_upd_i     (op_upd),
    .apply_i      (apply),
    .nsmp_i       (nsmp),
    .cfg_mode_i   (cfg_mode),
    .cfg_rn_q_i   (cfg_rn_q),
    .cfg_bl_i     (cfg_bl),
    .base_r_i     (base_r),
    .base_k_i     (base_k),
    .need_o       (gen_need),
    .start_i      (start),
    .run_i        (gen_run),
    .done_o       (gen_done),
    .colw_o       (gen_colw),
    .rlfsr_raddr_o(g_rlfsr_raddr),
    .rlfsr_rdata_i(rw_rdata),
    .clfsr_raddr_o(g_clfsr_raddr),
    .clfsr_rdata_i(kw_rdata),
    .rlfsr_we_o   (g_rlfsr_we),
    .rlfsr_waddr_o(g_rlfsr_waddr),
    .clfsr_we_o   (g_clfsr_we),
    .clfsr_waddr_o(g_clfsr_waddr),
    .state_wdata_o(g_state_wdata),
    .x_raddr_o    (g_x_raddr),
    .x_rdata_i    (xw_rdata),
    .d_raddr_o    (g_d_raddr),
    .d_rdata_i    (dw_rdata),
    .rbits_we_o   (rbw_we),
    .rbits_waddr_o(rbw_waddr),
    .cbits_we_o   (cbw_we),
    .cbits_waddr_o(cbw_waddr),
    .bits_wdata_o (rbw_wdata)
  );

  memhil_array_pass #(
    .ROWS (ROWS),
    .COLS (COLS),
    .TILES(TILES),
    .LANES(LANES),
    .G_W  (G_W),
    .SB   (SB),
    .BUILD_BL_MAX (BUILD_BL_MAX),
    .BATCH_MAX    (BATCH_MAX)
  ) u_pass (
    .clk           (clk),
    .rst_n         (rst_n),
    .op_fwd_i      (op_fwd),
    .op_trn_i      (op_trn),
    .op_upd_i      (op_upd),
    .tile_i        (tile),
    .apply_i       (apply),
    .nsmp_i        (nsmp),
    .base_c_i      (base_c),
    .base_r_i      (base_r),
    .base_k_i      (base_k),
    .cfg_cmax_i    (cfg_cmax),
    .cfg_c0_i      (cfg_c0),
    .cfg_sub_bits_i(cfg_sub_bits),
    .cfg_mode_i    (cfg_mode),
    .cfg_lr_q_i    (cfg_lr_q),
    .cfg_d2d_key_i (cfg_d2d_key),
    .cfg_c2c_q_i   (cfg_c2c_q),
    .cfg_d2d_q_i   (cfg_d2d_q),
    .cfg_fault_rate_i(cfg_fault_rate),
    .cfg_fault_key_i(cfg_fault_key),
    .tbl_we_i      (tb_we),
    .tbl_waddr_i   (tb_waddr),
    .tbl_wdata_i   (tb_wdata),
    .clear_i       (clear),
    .start_i       (start),
    .run_i         (pass_run),
    .last_o        (pass_last),
    .colw_i        (gen_colw),
    .wend_o        (pass_wend),
    .busy_o        (pass_busy),
    .pulses_o      (pulses),
    .pulses_up_o   (pulses_up),
    .pulses_stuck_o(pulses_stuck),
    .cell_raddr_o  (p_cell_raddr),
    .code_rdata_i  (cw_rdata),
    .x_raddr_o     (p_x_raddr),
    .x_rdata_i     (xw_rdata),
    .d_raddr_o     (p_d_raddr),
    .d_rdata_i     (dw_rdata),
    .cbits_raddr_o (p_cbits_raddr),
    .cbits_rdata_i (cbw_rdata),
    .rbits_raddr_o (p_rbits_raddr),
    .rbits_rdata_i (rbw_rdata),
    .clfsr_raddr_o (p_clfsr_raddr),
    .clfsr_rdata_i (kw_rdata),
    .rlfsr_raddr_o (p_rlfsr_raddr),
    .rlfsr_rdata_i (rw_rdata),
    .wb_we_o       (p_wb_we),
    .wb_addr_o     (p_wb_addr),
    .wb_code_o     (p_wb_code),
    .raw_we_o      (raw_we),
    .raw_waddr_o   (raw_waddr),
    .raw_wdata_o   (raw_wdata)
  );

  memhil_array_out #(
    .LANES (LANES),
    .G_W   (G_W),
    .FIFO_D(FIFO_D)
  ) u_out (
    .clk            (clk),
    .rst_n          (rst_n),
    .op_fwd_i       (op_fwd),
    .op_trn_i       (op_trn),
    .op_upd_i       (op_upd),
    .op_rcells_i    (op_rcells),
    .op_rrng_i      (op_rrng),
    .items_i        (items),
    .cfg_rn_q_i     (cfg_rn_q),
    .cfg_adc_shift_i(cfg_adc_shift),
    .cfg_adc_bits_i (cfg_adc_bits),
    .pulses_i       (pulses),
    .clear_i        (clear),
    .run_i          (out_run),
    .issue_i        (issue),
    .issue_lane_i   (issue_lane),
    .issue_col_i    (issue_col),
    .room_o         (out_room),
    .done_o         (out_done),
    .code_rdata_i   (cw_rdata),
    .rlfsr_rdata_i  (rw_rdata),
    .clfsr_rdata_i  (kw_rdata),
    .raw_rdata_i    (raw_rdata),
    .out_valid_o    (out_valid),
    .out_ready_i    (out_ready),
    .out_data_o     (out_data),
    .out_last_o     (out_last)
  );

  assign pulses_applied = pulses;

  // ------------------------------------------------------------------ RAM port owners
  //   RAM          read                         write
  //   codes        PASS: pass; else ctrl        pass write-back (PASS, DRAIN); else ctrl
  //   rlfsr, clfsr GEN: gen; PASS: pass; else   GEN: gen; else ctrl
  //                ctrl
  //   xbuf, dbuf   GEN: gen; PASS: pass         ctrl (LOAD)
  //   rbits, cbits pass                         gen
  //   raw          ctrl (OUT)                   pass
  always_comb begin
    cw_raddr  = pass_run ? p_cell_raddr : c_cell_raddr;
    cw_we     = p_wb_we ? 1'b1 : c_code_we;
    cw_waddr  = p_wb_we ? p_wb_addr : c_cell_waddr;
    cw_wdata  = p_wb_we ? p_wb_code : c_code_wdata;

    rw_raddr  = gen_run ? g_rlfsr_raddr : pass_run ? p_rlfsr_raddr : c_rlfsr_raddr;
    kw_raddr  = gen_run ? g_clfsr_raddr : pass_run ? p_clfsr_raddr : c_clfsr_raddr;
    rw_we     = gen_run ? g_rlfsr_we    : c_rlfsr_we;
    rw_waddr  = gen_run ? g_rlfsr_waddr : c_rlfsr_waddr;
    rw_wdata  = gen_run ? g_state_wdata : c_rlfsr_wdata;
    kw_we     = gen_run ? g_clfsr_we    : c_clfsr_we;
    kw_waddr  = gen_run ? g_clfsr_waddr : c_clfsr_waddr;
    kw_wdata  = gen_run ? g_state_wdata : c_clfsr_wdata;

    xw_raddr  = gen_run ? g_x_raddr : pass_run ? p_x_raddr : '0;
    dw_raddr  = gen_run ? g_d_raddr : pass_run ? p_d_raddr : '0;
    xw_wdata  = c_opnd_wdata;
    dw_wdata  = c_opnd_wdata;

    cbw_wdata = rbw_wdata;
    rbw_raddr = pass_run ? p_rbits_raddr : '0;
    cbw_raddr = pass_run ? p_cbits_raddr : '0;
  end

endmodule : memhil_array

`resetall
