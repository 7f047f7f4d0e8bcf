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
//   G_STREAM  ceil(BL / SB) clocks: SB leaps of LFSR_STREAM_STEPS per clock (each straight from
//             the state as a matrix power, memhil_lfsr), SB fire bits shifted
//             into a WB-bit register per LFSR (bit t at position t; bits t >= BL are 0); the
//             last group stops exactly at BL leaps
//   G_SNEXT   (UPDATE of B > 1 samples in coincidence mode, after each sample but the last) the
//             sample's stream bits to the stream-bit RAM (rows: word b * WR + w; columns: word
//             B - 1 - b, the column word's B samples only), then G_READ / G_LOAD
//             of the next sample's operand word, the states kept in their registers: each LFSR
//             streams the B samples one after another, as the contract's sequential order does
//   G_EXTRA   the extra leap
//   G_WRITE   states back to the state RAM, the last sample's stream bits to the stream-bit RAM
// i.e. 3 + B * ceil(BL / SB) + 3 * (B - 1) + extra clocks per word (3 + extra without stream).
// done_o is high in the G_WRITE of the last word, and in a coincidence UPDATE (colw_o) in the
// G_WRITE of every column word: the rows first (all their bits stay in the row-bit RAM), then
// column word 0, the pass over column word 0 (memhil_array_pass: column words outer), column
// word 1, its pass, ... (memhil_array_ctrl alternates GEN and PASS; run_i is low during a pass
// and every register here holds). The column-bit RAM thus holds the B samples of one column
// word only. Row and column bits take the same positions, so the pass's
// popcount(row bits & column bits) is the coincidence count.

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
  localparam int unsigned CBA_W = (BATCH_MAX > 1) ? $clog2(BATCH_MAX) : 1,   // column-bit words
  localparam int unsigned SW_W  = LANES * LFSR_W,
  localparam int unsigned WB    = SB * ((BUILD_BL_MAX + SB - 1) / SB)   // stream bits / LFSR
) (
  input  wire logic               clk,
  // command and configuration (stable from start_i to done_o)
  input  wire logic               op_fwd_i,        // the command's one-hot opcode flags
  input  wire logic               op_trn_i,        // (memhil_array_ctrl's, registered)
  input  wire logic               op_upd_i,
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
  output logic                    colw_o,          // done_o after each column word (see above)
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
  output logic [CBA_W-1:0]        cbits_waddr_o,
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
  logic              wlast_q, wlast_d;         // word_q is the last word of the group
  logic [7:0]        gl_q, gl_d;               // stream groups of the sample after this one
  logic              glast_q, glast_d;         // this is the sample's last group (gl_q == 0)
  logic [15:0]       sleft_q, sleft_d;         // samples after the one being streamed
  logic              sfirst_q, sfirst_d;       // sample 0 of the word (state from the RAM)
  logic              slast_q, slast_d;         // the last sample of the word (sleft_q == 0)
  logic [OA_W-1:0]   oa_q, oa_d;               // smp * (WR or WC) + word: operand / bits word
  logic [LFSR_W-1:0] st_q [LANES];
  logic [LFSR_W-1:0] st_d [LANES];
  logic              shold_q;                  // the state holds (see the selects below)
  logic [6:0]        mag_q [LANES];
  logic [6:0]        mag_d [LANES];
  logic [WB-1:0]     bits_q [LANES];
  logic [WB-1:0]     bits_d [LANES];

  // ------------------------------------------------------------------ plan
  // registered every clock from the command's flags and the configuration (both set at
  // least a clock before start_i: memhil_array_ctrl's ACC precedes LOAD), so that start_i and
  // need_o start at flip-flops
  logic is_upd, p_stream, p_extra, p_rows, p_cols, p_need;
  always_ff @(posedge clk) begin
    is_upd   <= op_upd_i;
    p_stream <= op_upd_i && (cfg_mode_i == MODE_COINCIDENCE);
    p_extra  <= (op_upd_i && apply_i) || (!op_upd_i && cfg_rn_q_i != 16'd0);
    p_rows   <= op_upd_i ? ((cfg_mode_i == MODE_COINCIDENCE) || apply_i)
                         : (op_fwd_i && cfg_rn_q_i != 16'd0);
    p_cols   <= op_upd_i ? ((cfg_mode_i == MODE_COINCIDENCE) || apply_i)
                         : (op_trn_i && cfg_rn_q_i != 16'd0);
    p_need   <= op_upd_i ? ((cfg_mode_i == MODE_COINCIDENCE) || apply_i)
                         : ((op_fwd_i || op_trn_i) && cfg_rn_q_i != 16'd0);
  end
  assign need_o = p_need;

  // BL in groups of SB leaps, registered every clock (cfg_bl_i is stable during a command, and
  // the first G_STREAM comes two clocks after start_i): K - 1 further groups after the first,
  // and the last group's r = BL - SB * (K - 1) leaps: its valid fire bits (b < r) and the leap
  // that the state takes (r - 1, one-hot). BL >= 1 (BL_MIN).
  logic [7:0]    kl_q;
  logic [SB-1:0] lfv_q, lls_q;
  always_ff @(posedge clk) begin
    kl_q <= 8'((cfg_bl_i - 8'd1) / 8'(SB));
    for (int b = 0; b < SB; b++) begin
      lfv_q[b] <= (9'(b) <= 9'((cfg_bl_i - 8'd1) % 8'(SB)));
      lls_q[b] <= (9'(b) == 9'((cfg_bl_i - 8'd1) % 8'(SB)));
    end
  end

  // ------------------------------------------------------------------ LFSR leaps
  // every leap straight from st_q as a matrix power (memhil_lfsr): two XOR levels per bit, the
  // first a register loaded with the first level of st_d under st_q's enable (XREG: one LUT
  // from flip-flops to each leap bit, no clock added)
  logic [SB-1:0][LFSR_W-1:0] leap [LANES];
  logic [LFSR_W-1:0]         adv_apply [LANES];
  logic [LFSR_W-1:0]         adv_read [LANES];
  // the extra leaps are one of the stream leaps when they have such a length (the contract's
  // 32 = 4 x 8 steps): the state then takes them through the leap select
  localparam bit APPLY_IS_LEAP = (LFSR_APPLY_STEPS % LFSR_STREAM_STEPS == 0) &&
                                 (LFSR_APPLY_STEPS / LFSR_STREAM_STEPS <= SB);
  localparam bit READ_IS_LEAP  = (LFSR_READ_STEPS % LFSR_STREAM_STEPS == 0) &&
                                 (LFSR_READ_STEPS / LFSR_STREAM_STEPS <= SB);
  localparam bit EXTRA_IS_LEAP = APPLY_IS_LEAP && READ_IS_LEAP;
  localparam int unsigned APPLY_LEAP = EXTRA_IS_LEAP ? LFSR_APPLY_STEPS / LFSR_STREAM_STEPS - 1 : 0;
  localparam int unsigned READ_LEAP  = EXTRA_IS_LEAP ? LFSR_READ_STEPS / LFSR_STREAM_STEPS - 1 : 0;
  for (genvar l = 0; l < LANES; l++) begin : g_lane
    memhil_lfsr #(.STEPS(LFSR_STREAM_STEPS), .OUTS(SB), .XREG(1'b1)) u_leap (
      .in_state(st_q[l]), .clk(clk), .x_en_i(!shold_q), .x_next_i(st_d[l]),
      .out_states(leap[l]));
    if (EXTRA_IS_LEAP) begin : g_extra_leap
      assign adv_apply[l] = leap[l][APPLY_LEAP];
      assign adv_read[l]  = leap[l][READ_LEAP];
    end else begin : g_extra_own
      memhil_lfsr #(.STEPS(LFSR_APPLY_STEPS), .OUTS(1), .XREG(1'b1)) u_adv_apply (
        .in_state(st_q[l]), .clk(clk), .x_en_i(!shold_q), .x_next_i(st_d[l]),
        .out_states(adv_apply[l]));
      memhil_lfsr #(.STEPS(LFSR_READ_STEPS), .OUTS(1), .XREG(1'b1)) u_adv_read (
        .in_state(st_q[l]), .clk(clk), .x_en_i(!shold_q), .x_next_i(st_d[l]),
        .out_states(adv_read[l]));
    end
  end

  // ------------------------------------------------------------------ datapath selects
  // Registered one clock ahead from the phase that the next clock will be in (run_i stays high
  // from start_i's G_READ to done_o: memhil_array_ctrl's ST_GEN), so that the state, fire-bit
  // and stream-bit registers see one flag per source:
  //   ld_q      G_LOAD: magnitudes loaded, stream bits cleared
  //   sram_q    G_LOAD of sample 0: the state from the row (bit 0) / column (bit 1) state RAM
  //   lsel_q    G_STREAM: the leap that the state takes (the last, or r - 1 in the last group);
  //             G_EXTRA: the extra leap when it is a stream leap
  //   sext_q    G_EXTRA with an extra leap of its own: apply (bit 0) / read (bit 1)
  //   shold_q   none of these: the state holds
  //   sh_q      G_STREAM: the fire bits shifted in; fval_q: the valid ones (b < r)
  logic          ld_q, ld_d, shold_d, sh_q, sh_d;
  logic [1:0]    sram_q, sram_d, sext_q, sext_d;
  logic [SB-1:0] lsel_q, lsel_d, fval_q, fval_d;
  logic          nx_load, nx_stream, nx_extra;
  always_comb begin
    // (run_i is low in start_i's clock: see the sequence below)
    nx_load   = run_i && (gph_q == G_READ);
    nx_stream = run_i && ((gph_q == G_LOAD && stream_q) || (gph_q == G_STREAM && !glast_q));
    nx_extra  = run_i && ((gph_q == G_LOAD && !stream_q) ||
                          (gph_q == G_STREAM && glast_q && slast_q && extra_q));
    // the next clock's group: the first after G_LOAD, else the one after this
    glast_d = (gph_q == G_LOAD) ? (kl_q == 8'd0) : (gph_q == G_STREAM) ? (gl_q == 8'd1) : glast_q;
    ld_d    = nx_load;
    sram_d  = (nx_load && sfirst_q) ? {sel_q, !sel_q} : 2'b00;
    sh_d    = nx_stream;
    fval_d  = glast_d ? lfv_q : '1;
    lsel_d  = '0;
    sext_d  = 2'b00;
    if (nx_stream) begin
      lsel_d = glast_d ? lls_q : (SB'(1) << (SB - 1));
    end else if (nx_extra && EXTRA_IS_LEAP) begin
      lsel_d = rd_q ? (SB'(1) << READ_LEAP) : (SB'(1) << APPLY_LEAP);
    end else if (nx_extra) begin
      sext_d = {rd_q, !rd_q};
    end
    shold_d = !(sram_d != 2'b00 || nx_stream || nx_extra);
  end

  // fire bits: leap b's low LFSR_PROB_BITS below |v|, for the valid leaps of the group (an
  // invalid leap compares against 0 and never fires: the mask sits beside the leap's logic)
  logic [SB-1:0] fire [LANES];
  always_comb begin
    for (int l = 0; l < LANES; l++) begin
      for (int b = 0; b < SB; b++) begin
        fire[l][b] = (leap[l][b][6:0] < (fval_q[b] ? mag_q[l] : 7'd0));
      end
    end
  end

  // the state, the magnitudes and the stream bits: an AND-OR over the sources, loaded under a
  // clock enable (shold_q: the state holds; ld_q / sh_q: the bits are cleared / shifted)
  always_comb begin
    for (int l = 0; l < LANES; l++) begin
      st_d[l] = (sram_q[0] ? rlfsr_rdata_i[l * LFSR_W +: LFSR_W] : '0) |
                (sram_q[1] ? clfsr_rdata_i[l * LFSR_W +: LFSR_W] : '0) |
                (sext_q[0] ? adv_apply[l] : '0) |
                (sext_q[1] ? adv_read[l] : '0);
      for (int b = 0; b < SB; b++) begin
        st_d[l] = st_d[l] | (lsel_q[b] ? leap[l][b] : '0);
      end
      mag_d[l]  = mag7(sel_q ? x_rdata_i[l * 8 +: 8] : d_rdata_i[l * 8 +: 8]);
      bits_d[l] = {fire[l], bits_q[l][WB-1:SB]};
    end
  end

  // ------------------------------------------------------------------ sequence
  // done_o: the G_WRITE of the last word of the last group (apart from start_i, so that the
  // engine's start_o -> done_o has no combinational path)
  always_comb begin
    done_o = run_i && (gph_q == G_WRITE) &&
             (sel_q ? (wlast_q || stream_q) : (wlast_q && !cols_q));
  end
  assign colw_o = stream_q;

  always_comb begin
    gph_d    = gph_q;
    stream_d = stream_q;
    extra_d  = extra_q;
    rd_d     = rd_q;
    cols_d   = cols_q;
    sel_d    = sel_q;
    word_d   = word_q;
    wlast_d  = wlast_q;
    gl_d     = gl_q;
    sleft_d  = sleft_q;
    sfirst_d = sfirst_q;
    slast_d  = slast_q;
    oa_d     = oa_q;

    rlfsr_we_o    = 1'b0;
    rlfsr_waddr_o = '0;
    clfsr_we_o    = 1'b0;
    clfsr_waddr_o = '0;
    state_wdata_o = '0;
    rbits_we_o    = 1'b0;
    rbits_waddr_o = '0;
    cbits_we_o    = 1'b0;
    cbits_waddr_o = '0;

    // start_i (memhil_array_ctrl's LOAD) and run_i (its GEN, registered) are never high in the
    // same clock, so the phase's outputs do not wait for start_i: it only loads the plan
    if (run_i) begin
      unique case (gph_q)
        G_READ: gph_d = G_LOAD;
        G_LOAD: begin
          // the state (sample 0: from the RAM; later samples continue from the registers),
          // the magnitudes and the cleared stream bits are loaded by the selects above
          gl_d  = kl_q;
          gph_d = stream_q ? G_STREAM : G_EXTRA;
        end
        G_STREAM: begin
          // SB stream bits per cycle; the last group may be shorter (BL not a multiple of SB)
          gl_d = gl_q - 8'd1;
          if (glast_q) begin
            if (!slast_q) begin
              gph_d = G_SNEXT;
            end else begin
              gph_d = extra_q ? G_EXTRA : G_WRITE;
            end
          end
        end
        G_SNEXT: begin
          // this sample's bits out; the next sample's operand word is read in G_READ
          rbits_waddr_o = DA_W'(oa_q);
          cbits_waddr_o = CBA_W'(sleft_q);
          rbits_we_o    = !sel_q;
          cbits_we_o    = sel_q;
          sleft_d  = sleft_q - 16'd1;
          sfirst_d = 1'b0;
          slast_d  = (sleft_q == 16'd1);
          oa_d  = oa_q + (sel_q ? OA_W'(WC) : OA_W'(WR));
          gph_d = G_READ;
        end
        G_EXTRA: gph_d = G_WRITE;
        default: begin // G_WRITE
          for (int l = 0; l < LANES; l++) begin
            state_wdata_o[l * LFSR_W +: LFSR_W] = st_q[l];
          end
          rlfsr_waddr_o = base_r_i + RRA_W'(word_q);
          clfsr_waddr_o = base_k_i + RCA_W'(word_q);
          rbits_waddr_o = DA_W'(oa_q);
          cbits_waddr_o = CBA_W'(sleft_q);
          rlfsr_we_o = !sel_q;
          clfsr_we_o = sel_q;
          rbits_we_o = !sel_q && stream_q;
          cbits_we_o = sel_q && stream_q;
          gph_d    = G_READ;
          word_d   = word_q + 1'b1;
          wlast_d  = (word_q == (sel_q ? IX_W'(WC - 2) : IX_W'(WR - 2)));
          sleft_d  = nsmp_i - 16'd1;
          sfirst_d = 1'b1;
          slast_d  = (nsmp_i == 16'd1);
          oa_d     = OA_W'(word_q + 1'b1);
          if (wlast_q) begin
            word_d  = '0;
            oa_d    = '0;
            wlast_d = (WC == 1);
            if (!sel_q && cols_q) begin
              sel_d = 1'b1;
            end
          end
        end
      endcase
    end
    if (start_i) begin
      stream_d = p_stream;
      extra_d  = p_extra;
      rd_d     = !is_upd;
      cols_d   = p_cols;
      sel_d    = !p_rows;
      word_d   = '0;
      wlast_d  = p_rows ? (WR == 1) : (WC == 1);
      sleft_d  = nsmp_i - 16'd1;
      sfirst_d = 1'b1;
      slast_d  = (nsmp_i == 16'd1);
      oa_d     = '0;
      gph_d    = G_READ;
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
    wlast_q  <= wlast_d;
    gl_q     <= gl_d;
    glast_q  <= glast_d;
    sleft_q  <= sleft_d;
    sfirst_q <= sfirst_d;
    slast_q  <= slast_d;
    oa_q     <= oa_d;
    ld_q     <= ld_d;
    sram_q   <= sram_d;
    sext_q   <= sext_d;
    lsel_q   <= lsel_d;
    shold_q  <= shold_d;
    sh_q     <= sh_d;
    fval_q   <= fval_d;
    if (!shold_q) begin
      st_q <= st_d;
    end
    if (ld_q) begin
      mag_q <= mag_d;
    end
    if (ld_q) begin
      bits_q <= '{default: '0};
    end else if (sh_q) begin
      bits_q <= bits_d;
    end
  end

endmodule : memhil_array_gen

`resetall
