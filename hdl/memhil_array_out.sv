// SPDX-License-Identifier: MIT
// memhil_array_out: the response path (OUT) of memhil_array. The command engine issues one item
// per clock (issue_i, with the lane of the item in the RAM word it has addressed) while room_o
// (credits: FIFO_D minus the items in the pipeline and in the FIFO); each item goes through
//   o1  RAM word -> the item's lane: read sums {T, y} and the LFSR state s of the output
//       (FORWARD rows, TRANSPOSE columns: contract section 5 read noise), or the cell codes
//       {c-, c+}, the accumulator, the LFSR state (READ_*), or pulses_i (UPDATE);
//       p = (RN_Q * T) >> RN_FRAC
//   o2  g = GAUSS[s & 0xFF]
//   o3  noise p * g; y' = y + (p * g >> 8), ADC: round-shift by ADC_SHIFT, clamp to ADC_BITS
//   o4  the item (u16 ADC code for FORWARD / TRANSPOSE, else u32) into the FIFO
// and the serializer sends the FIFO head little endian, 2 or 4 bytes per item, with out_last_o
// on the last byte of the last item (items_i). done_o is high in the clock in which that byte
// is taken. clear_i (a command is accepted) resets the credits and the serializer.
// Latency: an item issued in clock t is written into the FIFO at the end of t + 4 and its first
// byte is on out_data_o from t + 5 (the FIFO reads through).

`resetall
`default_nettype none

module memhil_array_out
  import memhil_pkg::*;
#(
  parameter int unsigned LANES  = 4,
  parameter int unsigned G_W    = 8,
  parameter int unsigned FIFO_D = 8,                 // response items in flight
  localparam int unsigned LOG_L = $clog2(LANES),
  localparam int unsigned CW_W  = LANES * 2 * G_W,
  localparam int unsigned SW_W  = LANES * LFSR_W,
  localparam int unsigned Y_W   = 48,                // read sum (+ noise)
  localparam int unsigned T_W   = 40,                // read total current
  localparam int unsigned RAW_W = Y_W + T_W
) (
  input  wire logic                   clk,
  input  wire logic                   rst_n,
  // command and configuration
  input  wire logic [7:0]             op_i,
  input  wire logic [15:0]            items_i,       // items of the response
  input  wire logic [15:0]            cfg_rn_q_i,
  input  wire logic [4:0]             cfg_adc_shift_i,
  input  wire logic [4:0]             cfg_adc_bits_i,
  input  wire logic [31:0]            pulses_i,      // UPDATE's item
  // producer
  input  wire logic                   clear_i,
  input  wire logic                   run_i,         // the OUT phase
  input  wire logic                   issue_i,
  input  wire logic [LOG_L-1:0]       issue_lane_i,
  input  wire logic                   issue_col_i,   // the item's LFSR state is a column's
  output logic                        room_o,
  output logic                        done_o,
  // RAM words of the issued item (one clock after issue_i)
  input  wire logic [CW_W-1:0]        code_rdata_i,
  input  wire logic [SW_W-1:0]        rlfsr_rdata_i,
  input  wire logic [SW_W-1:0]        clfsr_rdata_i,
  input  wire logic [LANES*RAW_W-1:0] raw_rdata_i,
  // response bytes
  output logic                        out_valid_o,
  input  wire logic                   out_ready_i,
  output logic [7:0]                  out_data_o,
  output logic                        out_last_o
);

  localparam int unsigned CR_W = $clog2(FIFO_D + 1);

  if (LANES < 2 || (1 << LOG_L) != LANES) begin : g_bad_lanes
    $fatal(1, "memhil_array_out: LANES (%0d) must be a power of two >= 2", LANES);
  end

  typedef enum logic [1:0] {K_READ, K_CELLS, K_RNG} okind_e;
  typedef struct packed {
    logic             valid;
    logic [LOG_L-1:0] lane;
    logic             col;
  } ometa_t;

  okind_e o_kind;
  logic   is_upd, four;
  always_comb begin
    unique case (op_i)
      OP_READ_CELLS: o_kind = K_CELLS;
      OP_READ_RNG:   o_kind = K_RNG;
      default:       o_kind = K_READ;
    endcase
    is_upd = (op_i == OP_UPDATE);
  end

  // ------------------------------------------------------------------ o1: lane select, RN_Q * T
  ometa_t                o1_q;
  logic [31:0]           o1_item0_q;
  logic [31:0]           o1_item;
  logic signed [Y_W-1:0] o1_y;
  logic [T_W-1:0]        o1_t;
  logic [7:0]            o1_s;
  logic [39:0]           o1_p;      // (RN_Q * T) >> 16
  always_comb begin
    logic [RAW_W-1:0] raw;
    logic [31:0]      st;
    raw  = raw_rdata_i[RAW_W * int'(o1_q.lane) +: RAW_W];
    o1_y = raw[Y_W-1:0];
    o1_t = raw[Y_W +: T_W];
    st   = o1_q.col ? clfsr_rdata_i[LFSR_W * int'(o1_q.lane) +: LFSR_W]
                    : rlfsr_rdata_i[LFSR_W * int'(o1_q.lane) +: LFSR_W];
    o1_s = st[7:0];
    o1_p = 40'((56'(cfg_rn_q_i) * 56'(o1_t)) >> RN_FRAC);
    unique case (o_kind)
      K_CELLS: o1_item = {16'(code_rdata_i[2 * G_W * int'(o1_q.lane) + G_W +: G_W]),
                          16'(code_rdata_i[2 * G_W * int'(o1_q.lane) +: G_W])};
      K_RNG:   o1_item = st;
      default: o1_item = o1_item0_q;
    endcase
  end

  // ------------------------------------------------------------------ o2..o4: noise, ADC
  logic                  o2_valid_q, o3_valid_q, o4_valid_q;
  logic [31:0]           o2_item_q, o3_item_q, o4_item_q;
  logic signed [Y_W-1:0] o2_y_q, o3_y_q;
  logic [39:0]           o2_p_q;
  logic signed [10:0]    o2_g_q;
  logic signed [51:0]    o3_nz_q;

  logic signed [Y_W-1:0] o3_yn, o3_ys;
  logic signed [Y_W-1:0] o3_lo, o3_hi;
  logic [15:0]           o3_adc;
  always_comb begin
    o3_yn = o3_y_q + Y_W'(o3_nz_q >>> 8);
    o3_ys = (o3_yn + $signed(Y_W'((64'd1 << cfg_adc_shift_i) >> 1))) >>> cfg_adc_shift_i;
    o3_hi = Y_W'((64'sd1 <<< (cfg_adc_bits_i - 5'd1)) - 64'sd1);
    o3_lo = -Y_W'(64'sd1 <<< (cfg_adc_bits_i - 5'd1));
    if (o3_ys > o3_hi) begin
      o3_adc = 16'(o3_hi);
    end else if (o3_ys < o3_lo) begin
      o3_adc = 16'(o3_lo);
    end else begin
      o3_adc = 16'(o3_ys);
    end
  end

  // datapath registers: no reset (the valid bits below have one)
  always_ff @(posedge clk) begin
    o1_item0_q <= pulses_i;
    o2_item_q  <= o1_item;
    o2_y_q     <= o1_y;
    o2_p_q     <= o1_p;
    o2_g_q     <= gauss_lut(o1_s);
    o3_item_q  <= o2_item_q;
    o3_y_q     <= o2_y_q;
    o3_nz_q    <= 52'($signed({1'b0, o2_p_q})) * 52'(o2_g_q);
    o4_item_q  <= (o_kind == K_READ && !is_upd) ? {16'd0, o3_adc} : o3_item_q;
  end

  // ------------------------------------------------------------------ FIFO, serializer
  logic        f_valid, f_pop, f_ready;
  logic [31:0] f_head;
  logic        unused_f_ready;
  assign unused_f_ready = f_ready;   // never full: the producer holds a credit per entry

  memhil_fifo #(
    .DEPTH (FIFO_D),
    .DATA_W(32)
  ) u_fifo (
    .clk       (clk),
    .rst_n     (rst_n),
    .wr_valid_i(o4_valid_q),
    .wr_ready_o(f_ready),
    .wr_data_i (o4_item_q),
    .rd_valid_o(f_valid),
    .rd_ready_i(f_pop),
    .rd_data_o (f_head)
  );

  logic [CR_W-1:0] credit_q, credit_d;
  logic [15:0]     sent_q, sent_d;
  logic [1:0]      byte_q, byte_d;
  logic            byte_last;
  always_comb begin
    four        = !(op_i == OP_FORWARD || op_i == OP_TRANSPOSE);   // u32 items, else u16
    byte_last   = (byte_q == (four ? 2'd3 : 2'd1));
    out_valid_o = run_i && f_valid;
    out_data_o  = f_head[8 * int'(byte_q) +: 8];
    out_last_o  = (sent_q + 16'd1 == items_i) && byte_last;
    f_pop       = out_valid_o && out_ready_i && byte_last;
    done_o      = f_pop && (sent_q + 16'd1 == items_i);
    room_o      = (credit_q != '0);
  end

  always_comb begin
    credit_d = credit_q;
    sent_d   = sent_q;
    byte_d   = byte_q;
    if (clear_i) begin
      credit_d = CR_W'(FIFO_D);
      sent_d   = '0;
      byte_d   = '0;
    end else begin
      credit_d = credit_q - (issue_i ? CR_W'(1) : '0) + (f_pop ? CR_W'(1) : '0);
      if (out_valid_o && out_ready_i) begin
        byte_d = byte_last ? 2'd0 : byte_q + 2'd1;
        if (byte_last) begin
          sent_d = sent_q + 16'd1;
        end
      end
    end
  end

  // ------------------------------------------------------------------ registers
  always_ff @(posedge clk) begin
    if (!rst_n) begin
      o1_q       <= '0;
      o2_valid_q <= 1'b0;
      o3_valid_q <= 1'b0;
      o4_valid_q <= 1'b0;
    end else begin
      o1_q       <= '{valid: issue_i, lane: issue_lane_i, col: issue_col_i};
      o2_valid_q <= o1_q.valid;
      o3_valid_q <= o2_valid_q;
      o4_valid_q <= o3_valid_q;
    end
  end

  // set by clear_i before use
  always_ff @(posedge clk) begin
    credit_q <= credit_d;
    sent_q   <= sent_d;
    byte_q   <= byte_d;
  end

endmodule : memhil_array_out

`resetall
