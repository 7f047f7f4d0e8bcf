// SPDX-License-Identifier: MIT
// memhil_array_out: the response path (OUT) of memhil_array. The command engine issues one item
// per clock (issue_i, with the lane of the item in the RAM word it has addressed) while room_o
// (credits: FIFO_D minus the items in the pipeline and in the FIFO); each item goes through
//   o1  RAM word -> the item's lane: read sums {T, y} and the LFSR state s of the output
//       (FORWARD rows, TRANSPOSE columns: contract section 5 read noise), or the cell codes
//       {c-, c+}, the LFSR state (READ_*), or pulses_i (UPDATE);
//       RN_Q * T as two DSP48E1 products (T[23:0], T[39:24]), each with its P register
//   o2  p = (RN_Q * T) >> RN_FRAC from the two partial products (a 32-bit add);
//       g = GAUSS[s & 0xFF] (the lookup registered before it feeds a multiplier)
//   o3  p * g as two DSP48E1 products (p[23:0], p[39:24]), each with its P register
//   o4  y + (p * g >>> 8) + the ADC's rounding bias: four operands compressed to two (carry
//       save), their low 24 bits added
//   o5  the high 24 bits added (with the low half's carry): v = y' + bias
//   o6  ADC: (v >>> ADC_SHIFT)[15:0], and whether v >>> ADC_SHIFT is outside the ADC_BITS range
//       (v outside [-2^k, 2^k - 1], k = ADC_BITS - 1 + ADC_SHIFT)
//   o7  clamp, the item (u16 ADC code for FORWARD / TRANSPOSE, else u32) into the FIFO
// and the serializer sends the FIFO head little endian, 2 or 4 bytes per item, with out_last_o
// on the last byte of the last item (items_i). done_o is high in the clock in which that byte
// is taken. clear_i (a command was accepted: memhil_array_ctrl's ACC) resets the credits and
// the serializer.
// Latency: an item issued in clock t is written into the FIFO at the end of t + 7 and its first
// byte is on out_data_o from t + 8 (the FIFO reads through).
// The configuration (RN_Q, ADC_SHIFT, ADC_BITS) and the kind of item (op_i) are registered
// here, with what derives from them, one or two clocks after they change: the configuration is
// stable while a frame is received and a command runs; the opcode flags (op_*_i) are set when
// the command is accepted and the first item is issued at the earliest two clocks later
// (READ_RNG, after ACC), the kind is needed from o1 on, the ADC constants from o4 on.

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
  input  wire logic                   op_fwd_i,     // the command's one-hot opcode flags
  input  wire logic                   op_trn_i,     // (memhil_array_ctrl's, registered)
  input  wire logic                   op_upd_i,
  input  wire logic                   op_rcells_i,
  input  wire logic                   op_rrng_i,
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
  localparam int unsigned H_W  = Y_W / 2;            // the halves of the 48-bit add

  if (LANES < 2 || (1 << LOG_L) != LANES) begin : g_bad_lanes
    $fatal(1, "memhil_array_out: LANES (%0d) must be a power of two >= 2", LANES);
  end

  typedef struct packed {
    logic             valid;
    logic [LOG_L-1:0] lane;
    logic             col;
  } ometa_t;

  // ------------------------------------------------------------------ configuration, kind
  // registered copies (see the header): the kind of item, RN_Q, and the ADC's constants:
  // rounding bias (2^ADC_SHIFT) >> 1, the range mask (bits k..46 of v, k = ADC_BITS - 1 +
  // ADC_SHIFT, the 5-bit ADC_BITS - 1 wrapping as the clamp's shift amount does), the
  // saturation codes 2^(ADC_BITS-1) - 1 and -2^(ADC_BITS-1) (low 16 bits)
  logic                  k_cells_q, k_rng_q, k_adc_q, four_q;
  logic [15:0]           rn_q;
  logic [4:0]            sh_q;
  logic [Y_W-1:0]        bias_q;
  logic [Y_W-1:0]        mask_q, cfg_mask;
  logic [15:0]           hi16_q, lo16_q;
  logic [4:0]            cfg_bm1;
  logic [5:0]            k_q;               // ADC_BITS - 1 + ADC_SHIFT (mask_q a clock later)
  always_comb begin
    cfg_bm1 = cfg_adc_bits_i - 5'd1;
    for (int i = 0; i < Y_W; i++) begin
      cfg_mask[i] = (i < Y_W - 1) && (6'(i) >= k_q);
    end
  end

  always_ff @(posedge clk) begin
    k_cells_q <= op_rcells_i;
    k_rng_q   <= op_rrng_i;
    k_adc_q   <= !(op_rcells_i || op_rrng_i || op_upd_i);
    four_q    <= !(op_fwd_i || op_trn_i);   // u32 items, else u16
    rn_q      <= cfg_rn_q_i;
    sh_q      <= cfg_adc_shift_i;
    bias_q    <= Y_W'((64'd1 << cfg_adc_shift_i) >> 1);
    k_q       <= 6'(cfg_bm1) + 6'(cfg_adc_shift_i);
    mask_q    <= cfg_mask;
    hi16_q    <= 16'((64'sd1 <<< cfg_bm1) - 64'sd1);
    lo16_q    <= 16'(-(64'sd1 <<< cfg_bm1));
  end

  // ------------------------------------------------------------------ o1: lane select, RN_Q * T
  ometa_t                o1_q;
  logic [31:0]           o1_item0_q;
  logic [31:0]           o1_item;
  logic [Y_W-1:0]        o1_y;
  logic [T_W-1:0]        o1_t;
  logic [7:0]            o1_s;
  always_comb begin
    logic [RAW_W-1:0] raw;
    logic [31:0]      st;
    raw  = raw_rdata_i[RAW_W * int'(o1_q.lane) +: RAW_W];
    o1_y = raw[Y_W-1:0];
    o1_t = raw[Y_W +: T_W];
    st   = o1_q.col ? clfsr_rdata_i[LFSR_W * int'(o1_q.lane) +: LFSR_W]
                    : rlfsr_rdata_i[LFSR_W * int'(o1_q.lane) +: LFSR_W];
    o1_s = st[7:0];
    if (k_cells_q) begin
      o1_item = {16'(code_rdata_i[2 * G_W * int'(o1_q.lane) + G_W +: G_W]),
                 16'(code_rdata_i[2 * G_W * int'(o1_q.lane) +: G_W])};
    end else if (k_rng_q) begin
      o1_item = st;
    end else begin
      o1_item = o1_item0_q;
    end
  end

  // ------------------------------------------------------------------ o2..o7: noise, ADC
  logic                  o2_valid_q, o3_valid_q, o4_valid_q, o5_valid_q, o6_valid_q, o7_valid_q;
  logic [31:0]           o2_item_q, o3_item_q, o4_item_q, o5_item_q, o6_item_q, o7_item_q;
  logic [Y_W-1:0]        o2_y_q, o3_y_q, o4_y_q;
  logic [7:0]            o2_s_q;
  logic [39:0]           o2_mlo_q;     // RN_Q * T[23:0]
  logic [31:0]           o2_mhi_q;     // RN_Q * T[39:24]
  logic [39:0]           o2_p;         // (RN_Q * T) >> 16
  logic [39:0]           o3_p_q;
  logic signed [10:0]    o3_g_q;
  logic signed [34:0]    o4_nlo_q;     // g * p[23:0]
  logic signed [26:0]    o4_nhi_q;     // g * p[39:24]
  logic [Y_W-1:0]        o4_s, o4_c;   // y + (p * g >>> 8) + bias, carry save
  logic [H_W:0]          o5_vlo_q;     // low half of v, with its carry
  logic [H_W-1:0]        o5_shi_q, o5_chi_q;
  logic [Y_W-1:0]        o6_v_q;       // v = y + (p * g >>> 8) + bias (48-bit wrap)
  logic [15:0]           o6_ys;
  logic [2:0]            o6_any1, o6_any0;
  logic [15:0]           o7_ys_q;
  logic [2:0]            o7_any1_q, o7_any0_q;  // masked bits of v: any one / any zero, by thirds
  logic                  o7_ovf, o7_neg_q;
  logic [31:0]           o7_item;
  logic                  unused_mlo;
  assign unused_mlo = ^o2_mlo_q[15:0];   // below RN_FRAC

  always_comb begin
    // (RN_Q * T) >> 16 = (mlo + mhi * 2^24) >> 16 (< 2^40: no bit above 55)
    o2_p = {32'(o2_mhi_q + 32'(o2_mlo_q[39:24])), o2_mlo_q[23:16]};
  end

  always_comb begin
    logic [Y_W-1:0] a, b, c, d, s1, c1;
    // (p * g) >>> 8 = (nlo >>> 8) + nhi * 2^16 (nhi * 2^24 has no bit below 24)
    a    = o4_y_q;
    b    = Y_W'($signed(o4_nlo_q) >>> 8);
    c    = Y_W'($signed(o4_nhi_q)) << 16;
    d    = bias_q;
    s1   = a ^ b ^ c;
    c1   = ((a & b) | (a & c) | (b & c)) << 1;
    o4_s = s1 ^ c1 ^ d;
    o4_c = ((s1 & c1) | (s1 & d) | (c1 & d)) << 1;
  end

  always_comb begin
    o6_ys  = 16'($signed(o6_v_q) >>> sh_q);
    // v >>> sh > 2^(b-1) - 1 or < -2^(b-1)  <=>  v outside [-2^k, 2^k - 1]  <=>  bits k..47
    // of v not all equal (to the sign): split in two registered halves, the masked bits'
    // "any one" / "any zero" by thirds here (no sign fan-out), the sign's choice in o7
    for (int t = 0; t < 3; t++) begin
      o6_any1[t] = |( o6_v_q[t*(Y_W/3) +: Y_W/3] & mask_q[t*(Y_W/3) +: Y_W/3]);
      o6_any0[t] = |(~o6_v_q[t*(Y_W/3) +: Y_W/3] & mask_q[t*(Y_W/3) +: Y_W/3]);
    end
  end

  always_comb begin
    logic [15:0] adc;
    o7_ovf  = o7_neg_q ? |o7_any0_q : |o7_any1_q;
    adc     = !o7_ovf ? o7_ys_q : o7_neg_q ? lo16_q : hi16_q;
    o7_item = k_adc_q ? {16'd0, adc} : o7_item_q;
  end

  // datapath registers: no reset (the valid bits below have one)
  always_ff @(posedge clk) begin
    o1_item0_q <= pulses_i;
    // o1
    o2_item_q  <= o1_item;
    o2_y_q     <= o1_y;
    o2_s_q     <= o1_s;
    o2_mlo_q   <= 40'(rn_q) * 40'(o1_t[23:0]);
    o2_mhi_q   <= 32'(rn_q) * 32'(o1_t[39:24]);
    // o2
    o3_item_q  <= o2_item_q;
    o3_y_q     <= o2_y_q;
    o3_p_q     <= o2_p;
    o3_g_q     <= gauss_lut(o2_s_q);
    // o3
    o4_item_q  <= o3_item_q;
    o4_y_q     <= o3_y_q;
    o4_nlo_q   <= 35'(o3_g_q) * 35'($signed({1'b0, o3_p_q[23:0]}));
    o4_nhi_q   <= 27'(o3_g_q) * 27'($signed({1'b0, o3_p_q[39:24]}));
    // o4
    o5_item_q  <= o4_item_q;
    o5_vlo_q   <= (H_W + 1)'(o4_s[H_W-1:0]) + (H_W + 1)'(o4_c[H_W-1:0]);
    o5_shi_q   <= o4_s[Y_W-1:H_W];
    o5_chi_q   <= o4_c[Y_W-1:H_W];
    // o5
    o6_item_q  <= o5_item_q;
    o6_v_q     <= {o5_shi_q + o5_chi_q + H_W'(o5_vlo_q[H_W]), o5_vlo_q[H_W-1:0]};
    // o6
    o7_item_q  <= o6_item_q;
    o7_ys_q    <= o6_ys;
    o7_any1_q  <= o6_any1;
    o7_any0_q  <= o6_any0;
    o7_neg_q   <= o6_v_q[Y_W-1];
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
    .wr_valid_i(o7_valid_q),
    .wr_ready_o(f_ready),
    .wr_data_i (o7_item),
    .rd_valid_o(f_valid),
    .rd_ready_i(f_pop),
    .rd_data_o (f_head)
  );

  // credits (room_q: credit_q != 0, registered with it), the items sent, whether the FIFO head
  // is the response's last item (last_q: sent_q == items_i - 1, registered from sent_q; an
  // item takes at least two clocks, so it is current when the item's last byte goes)
  logic [CR_W-1:0] credit_q, credit_d;
  logic            room_q, room_d;
  logic [15:0]     sent_q, sent_d;
  logic [15:0]     items_m1_q;
  logic            last_q;
  logic [1:0]      byte_q, byte_d;
  logic            byte_last;
  // fin_q: the head's byte is the response's last byte (last_q && byte_last), registered from
  // the next values (so done_o is one LUT over flip-flops: the command engine's wait on it)
  logic            fin_q, fin_d;
  always_comb begin
    byte_last   = (byte_q == (four_q ? 2'd3 : 2'd1));
    out_valid_o = run_i && f_valid;
    out_data_o  = f_head[8 * int'(byte_q) +: 8];
    out_last_o  = last_q && byte_last;
    f_pop       = out_valid_o && out_ready_i && byte_last;
    done_o      = run_i && f_valid && out_ready_i && fin_q;
    room_o      = room_q;
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
    room_d = (credit_d != '0);
    // last_q's next value is (sent_q == items_m1_q) (see the registers below)
    fin_d  = (sent_q == items_m1_q) && (byte_d == (four_q ? 2'd3 : 2'd1));
  end

  // ------------------------------------------------------------------ registers
  always_ff @(posedge clk) begin
    if (!rst_n) begin
      o1_q       <= '0;
      o2_valid_q <= 1'b0;
      o3_valid_q <= 1'b0;
      o4_valid_q <= 1'b0;
      o5_valid_q <= 1'b0;
      o6_valid_q <= 1'b0;
      o7_valid_q <= 1'b0;
    end else begin
      o1_q       <= '{valid: issue_i, lane: issue_lane_i, col: issue_col_i};
      o2_valid_q <= o1_q.valid;
      o3_valid_q <= o2_valid_q;
      o4_valid_q <= o3_valid_q;
      o5_valid_q <= o4_valid_q;
      o6_valid_q <= o5_valid_q;
      o7_valid_q <= o6_valid_q;
    end
  end

  // set by clear_i before use
  always_ff @(posedge clk) begin
    credit_q   <= credit_d;
    room_q     <= room_d;
    sent_q     <= sent_d;
    byte_q     <= byte_d;
    items_m1_q <= items_i - 16'd1;
    last_q     <= (sent_q == items_m1_q);
    fin_q      <= fin_d;
  end

endmodule : memhil_array_out

`resetall
