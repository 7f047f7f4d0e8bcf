// SPDX-License-Identifier: MIT
// memhil_array_gen: the LFSR generation phase (GEN) of memhil_array (contract section 4). Every
// LFSR of the tile advances by the same number of single steps. start_i (the last operand byte
// of FORWARD / TRANSPOSE / UPDATE) plans the work from the command and the configuration:
//   stream  UPDATE in coincidence mode: BL stream bits per LFSR, (s & 0x7F) < |v|
//   extra   one leap of LFSR_APPLY_STEPS (UPDATE with APPLY) or LFSR_READ_STEPS (FORWARD rows,
//           TRANSPOSE columns, when RN_Q != 0)
// need_o tells the command engine whether there is any work; then, while run_i, the row-state
// words (WR) and then the column-state words (WC) of the tile are processed one after another,
// each in
//   G_READ    read the LANES states and the operand word (|v| of the row / column)
//   G_LOAD    states and magnitudes into registers, stream bits cleared
//   G_STREAM  ceil(BL / SB) clocks: SB leaps of LFSR_STREAM_STEPS per clock, SB fire bits shifted
//             into a WB-bit register per LFSR (bit t at position t; bits t >= BL are 0); the
//             last group stops exactly at BL leaps
//   G_SNEXT   (UPDATE of B > 1 samples in coincidence mode, after each sample but the last) the
//             sample's stream bits to the stream-bit RAM (word b * W + w), then G_READ / G_LOAD
//             of the next sample's operand word, the states kept in their registers: each LFSR
//             streams the B samples one after another, as the contract's sequential order does
//   G_EXTRA   the extra leap
//   G_WRITE   states back to the state RAM, the last sample's stream bits to the stream-bit RAM
// i.e. 3 + B * ceil(BL / SB) + 3 * (B - 1) + extra clocks per word (3 + extra without stream).
// done_o is high in the G_WRITE of the last word. Row and column bits take the same positions,
// so the pass's popcount(row bits & column bits) is the coincidence count.

`resetall
`default_nettype none

module memhil_array_gen
  import memhil_pkg::*;
#(
  parameter int unsigned ROWS  = 8,
  parameter int unsigned COLS  = 8,
  parameter int unsigned TILES = 1,
  parameter int unsigned LANES = 4,
  parameter int unsigned SB    = 8,      // stream bits generated per LFSR per clock
  parameter int unsigned BUILD_BL_MAX = BL_MAX_DEFAULT,   // the build's BL_MAX (<= MAX_BL)
  parameter int unsigned BATCH_MAX = BATCH_MAX_DEFAULT,    // samples of one update, at most
  localparam int unsigned WC    = (COLS + LANES - 1) / LANES,
  localparam int unsigned WR    = (ROWS + LANES - 1) / LANES,
  localparam int unsigned RR_DEPTH = TILES * WR,
  localparam int unsigned RC_DEPTH = TILES * WC,
  localparam int unsigned RRA_W = (RR_DEPTH > 1) ? $clog2(RR_DEPTH) : 1,
  localparam int unsigned RCA_W = (RC_DEPTH > 1) ? $clog2(RC_DEPTH) : 1,
  localparam int unsigned XD    = BATCH_MAX * WC,              // x / column-bit words, all samples
  localparam int unsigned DD    = BATCH_MAX * WR,              // d / row-bit words, all samples
  localparam int unsigned XA_W  = (XD > 1) ? $clog2(XD) : 1,
  localparam int unsigned DA_W  = (DD > 1) ? $clog2(DD) : 1,
  localparam int unsigned SW_W  = LANES * LFSR_W,
  localparam int unsigned WB    = SB * ((BUILD_BL_MAX + SB - 1) / SB)   // stream bits / LFSR
) (
  input  wire logic               clk,
  // command and configuration (stable from start_i to done_o)
  input  wire logic [7:0]         op_i,
  input  wire logic               apply_i,
  input  wire logic [15:0]        nsmp_i,          // samples B (UPDATE; else 1)
  input  wire logic               cfg_mode_i,
  input  wire logic [15:0]        cfg_rn_q_i,
  input  wire logic [7:0]         cfg_bl_i,
  input  wire logic [RRA_W-1:0]   base_r_i,        // first row-state word of the tile
  input  wire logic [RCA_W-1:0]   base_k_i,        // first column-state word of the tile
  // control
  output logic                    need_o,          // the command needs a generation
  input  wire logic               start_i,
  input  wire logic               run_i,
  output logic                    done_o,
  // LFSR states (read, written back)
  output logic [RRA_W-1:0]        rlfsr_raddr_o,
  input  wire logic [SW_W-1:0]    rlfsr_rdata_i,
  output logic [RCA_W-1:0]        clfsr_raddr_o,
  input  wire logic [SW_W-1:0]    clfsr_rdata_i,
  output logic                    rlfsr_we_o,
  output logic [RRA_W-1:0]        rlfsr_waddr_o,
  output logic                    clfsr_we_o,
  output logic [RCA_W-1:0]        clfsr_waddr_o,
  output logic [SW_W-1:0]         state_wdata_o,
  // operand buffers (magnitudes: x for columns, d for rows)
  output logic [XA_W-1:0]         x_raddr_o,
  input  wire logic [LANES*8-1:0] x_rdata_i,
  output logic [DA_W-1:0]         d_raddr_o,
  input  wire logic [LANES*8-1:0] d_rdata_i,
  // stream bits (row / column)
  output logic                    rbits_we_o,
  output logic [DA_W-1:0]         rbits_waddr_o,
  output logic                    cbits_we_o,
  output logic [XA_W-1:0]         cbits_waddr_o,
  output logic [LANES*WB-1:0]     bits_wdata_o
);

  localparam int unsigned IX_W = 16;
  localparam int unsigned OA_W = (XA_W > DA_W) ? XA_W : DA_W;

  if (SB < 1 || SB > 32) begin : g_bad_sb
    $fatal(1, "memhil_array_gen: SB (%0d) must be in [1, 32]", SB);
  end

  typedef enum logic [2:0] {G_READ, G_LOAD, G_STREAM, G_SNEXT, G_EXTRA, G_WRITE} gen_e;

  function automatic logic [6:0] mag7(input logic [7:0] b);
    mag7 = b[7] ? 7'(-b) : b[6:0];
  endfunction

  gen_e              gph_q, gph_d;
  // plan of the command
  logic              stream_q, stream_d, extra_q, extra_d, rd_q, rd_d, cols_q, cols_d;
  logic              sel_q, sel_d;             // 0 rows, 1 columns
  logic [IX_W-1:0]   word_q, word_d;
  logic [8:0]        t_q, t_d;                 // stream bits generated
  logic [15:0]       smp_q, smp_d;             // sample being streamed
  logic [OA_W-1:0]   oa_q, oa_d;               // smp * (WR or WC) + word: operand / bits word
  logic [LFSR_W-1:0] st_q [LANES];
  logic [LFSR_W-1:0] st_d [LANES];
  logic [6:0]        mag_q [LANES];
  logic [6:0]        mag_d [LANES];
  logic [WB-1:0]     bits_q [LANES];
  logic [WB-1:0]     bits_d [LANES];

  // ------------------------------------------------------------------ plan
  logic is_upd, p_stream, p_extra, p_rows, p_cols;
  always_comb begin
    is_upd   = (op_i == OP_UPDATE);
    p_stream = is_upd && (cfg_mode_i == MODE_COINCIDENCE);
    p_extra  = (is_upd && apply_i) || (!is_upd && cfg_rn_q_i != 16'd0);
    p_rows   = is_upd ? (p_stream || p_extra) : ((op_i == OP_FORWARD) && cfg_rn_q_i != 16'd0);
    p_cols   = is_upd ? (p_stream || p_extra) : ((op_i == OP_TRANSPOSE) && cfg_rn_q_i != 16'd0);
    need_o   = p_rows || p_cols;
  end

  // ------------------------------------------------------------------ LFSR leaps
  logic [SB-1:0][LFSR_W-1:0] leap [LANES];
  logic [LFSR_W-1:0]         adv_apply [LANES];
  logic [LFSR_W-1:0]         adv_read [LANES];
  for (genvar l = 0; l < LANES; l++) begin : g_lane
    memhil_lfsr #(.STEPS(LFSR_STREAM_STEPS), .OUTS(SB)) u_leap (
      .in_state(st_q[l]), .out_states(leap[l]));
    memhil_lfsr #(.STEPS(LFSR_APPLY_STEPS), .OUTS(1)) u_adv_apply (
      .in_state(st_q[l]), .out_states(adv_apply[l]));
    memhil_lfsr #(.STEPS(LFSR_READ_STEPS), .OUTS(1)) u_adv_read (
      .in_state(st_q[l]), .out_states(adv_read[l]));
  end

  logic [8:0]    rem;                          // stream bits still to generate
  logic [SB-1:0] fire [LANES];
  always_comb begin
    rem = 9'(cfg_bl_i) - t_q;
    for (int l = 0; l < LANES; l++) begin
      for (int b = 0; b < SB; b++) begin
        fire[l][b] = (9'(b) < rem) && (leap[l][b][6:0] < mag_q[l]);
      end
    end
  end

  // ------------------------------------------------------------------ sequence
  // done_o: the G_WRITE of the last word of the last group (apart from start_i, so that the
  // engine's start_o -> done_o has no combinational path)
  logic word_last;
  always_comb begin
    word_last = (word_q == (sel_q ? IX_W'(WC - 1) : IX_W'(WR - 1)));
    done_o    = run_i && !(gph_q inside {G_READ, G_LOAD, G_STREAM, G_SNEXT, G_EXTRA}) &&
                word_last && !(!sel_q && cols_q);
  end

  always_comb begin
    gph_d    = gph_q;
    stream_d = stream_q;
    extra_d  = extra_q;
    rd_d     = rd_q;
    cols_d   = cols_q;
    sel_d    = sel_q;
    word_d   = word_q;
    t_d      = t_q;
    smp_d    = smp_q;
    oa_d     = oa_q;
    st_d     = st_q;
    mag_d    = mag_q;
    bits_d   = bits_q;

    rlfsr_we_o    = 1'b0;
    rlfsr_waddr_o = '0;
    clfsr_we_o    = 1'b0;
    clfsr_waddr_o = '0;
    state_wdata_o = '0;
    rbits_we_o    = 1'b0;
    rbits_waddr_o = '0;
    cbits_we_o    = 1'b0;
    cbits_waddr_o = '0;

    if (start_i) begin
      stream_d = p_stream;
      extra_d  = p_extra;
      rd_d     = !is_upd;
      cols_d   = p_cols;
      sel_d    = !p_rows;
      word_d   = '0;
      smp_d    = '0;
      oa_d     = '0;
      gph_d    = G_READ;
    end else if (run_i) begin
      unique case (gph_q)
        G_READ: gph_d = G_LOAD;
        G_LOAD: begin
          for (int l = 0; l < LANES; l++) begin
            if (smp_q == 16'd0) begin       // later samples continue from the registers
              st_d[l] = sel_q ? clfsr_rdata_i[l * LFSR_W +: LFSR_W]
                              : rlfsr_rdata_i[l * LFSR_W +: LFSR_W];
            end
            mag_d[l]  = mag7(sel_q ? x_rdata_i[l * 8 +: 8] : d_rdata_i[l * 8 +: 8]);
            bits_d[l] = '0;
          end
          t_d   = '0;
          gph_d = stream_q ? G_STREAM : G_EXTRA;
        end
        G_STREAM: begin
          // SB stream bits per cycle; the last group may be shorter (BL not a multiple of SB)
          for (int l = 0; l < LANES; l++) begin
            bits_d[l] = {fire[l], bits_q[l][WB-1:SB]};
            st_d[l]   = leap[l][SB-1];
            for (int b = 0; b < SB; b++) begin
              if (9'(b + 1) == rem) begin
                st_d[l] = leap[l][b];
              end
            end
          end
          t_d = t_q + 9'(SB);
          if (rem <= 9'(SB)) begin
            if (smp_q != nsmp_i - 16'd1) begin
              gph_d = G_SNEXT;
            end else begin
              gph_d = extra_q ? G_EXTRA : G_WRITE;
            end
          end
        end
        G_SNEXT: begin
          // this sample's bits out; the next sample's operand word is read in G_READ
          rbits_waddr_o = DA_W'(oa_q);
          cbits_waddr_o = XA_W'(oa_q);
          rbits_we_o    = !sel_q;
          cbits_we_o    = sel_q;
          smp_d = smp_q + 16'd1;
          oa_d  = oa_q + (sel_q ? OA_W'(WC) : OA_W'(WR));
          gph_d = G_READ;
        end
        G_EXTRA: begin
          for (int l = 0; l < LANES; l++) begin
            st_d[l] = rd_q ? adv_read[l] : adv_apply[l];
          end
          gph_d = G_WRITE;
        end
        default: begin // G_WRITE
          for (int l = 0; l < LANES; l++) begin
            state_wdata_o[l * LFSR_W +: LFSR_W] = st_q[l];
          end
          rlfsr_waddr_o = base_r_i + RRA_W'(word_q);
          clfsr_waddr_o = base_k_i + RCA_W'(word_q);
          rbits_waddr_o = DA_W'(oa_q);
          cbits_waddr_o = XA_W'(oa_q);
          rlfsr_we_o = !sel_q;
          clfsr_we_o = sel_q;
          rbits_we_o = !sel_q && stream_q;
          cbits_we_o = sel_q && stream_q;
          gph_d  = G_READ;
          word_d = word_q + 1'b1;
          smp_d  = '0;
          oa_d   = OA_W'(word_q + 1'b1);
          if (word_last) begin
            word_d = '0;
            oa_d   = '0;
            if (!sel_q && cols_q) begin
              sel_d = 1'b1;
            end
          end
        end
      endcase
    end
  end

  // read addresses: the current word, in every clock of the phase
  always_comb begin
    rlfsr_raddr_o = base_r_i + RRA_W'(word_q);
    clfsr_raddr_o = base_k_i + RCA_W'(word_q);
    d_raddr_o     = DA_W'(oa_q);
    x_raddr_o     = XA_W'(oa_q);
    for (int l = 0; l < LANES; l++) begin
      bits_wdata_o[l * WB +: WB] = bits_q[l];
    end
  end

  // datapath registers: no reset (set by start_i and G_LOAD before use)
  always_ff @(posedge clk) begin
    gph_q    <= gph_d;
    stream_q <= stream_d;
    extra_q  <= extra_d;
    rd_q     <= rd_d;
    cols_q   <= cols_d;
    sel_q    <= sel_d;
    word_q   <= word_d;
    t_q      <= t_d;
    smp_q    <= smp_d;
    oa_q     <= oa_d;
    st_q     <= st_d;
    mag_q    <= mag_d;
    bits_q   <= bits_d;
  end

endmodule : memhil_array_gen

`resetall
