// SPDX-License-Identifier: MIT
// memhil_cmd_rx: command frame parser (docs/hardware-contract.md section 8).
//
// Hunts for SOF_CMD (other bytes are dropped), reads SEQ, OP and LEN, stores the payload in the
// command buffer (one byte per cycle, through wr_*), then checks the frame in the contract's
// order: CRC (BAD_CRC), opcode (BAD_OP), LEN for the opcode (BAD_LEN). The argument checks
// (tile, index ranges, counts, UPDATE/UPDATE_B flags == APPLY, batch 1 <= B <= BATCH_MAX with
// the answer within MAX_PAYLOAD, and the element values, checked on the fly while the payload
// streams in) give desc_arg_bad_o: the executor reports BAD_ARG only after the replay
// check (a replayed command is not checked again). The descriptor (desc_*) is held until the
// executor pulses desc_done_i; s_axis_tready is low meanwhile, so the buffer is never
// overwritten under the executor. A TLAST on any byte of a frame but its last CRC byte ends it
// with TRUNCATED (SEQ/OP echoed if received, else 0); TLAST elsewhere means nothing. LEN >
// MAX_PAYLOAD (2^PAYLOAD_LOG2, a build parameter) is answered with BAD_LEN as soon as the 3-byte
// LEN is complete. After every frame, good or
// bad, the parser hunts for the next SOF_CMD. Contract v3: READ_ACC / WRITE_ACC (0x14, 0x15) are
// unknown opcodes (BAD_OP).

`resetall
`default_nettype none

module memhil_cmd_rx
  import memhil_pkg::*;
#(
  parameter int unsigned ROWS  = 8,
  parameter int unsigned COLS  = 8,
  parameter int unsigned TILES = 1,
  parameter int unsigned PAYLOAD_LOG2 = PAYLOAD_LOG2_DEFAULT,   // MAX_PAYLOAD of this build
  parameter int unsigned BATCH_MAX = BATCH_MAX_DEFAULT,         // largest B of this build
  localparam int unsigned BUF_AW = PAYLOAD_LOG2
) (
  input  wire logic              clk,
  input  wire logic              rst_n,

  input  wire logic [7:0]        s_axis_tdata,
  input  wire logic              s_axis_tvalid,
  output logic                   s_axis_tready,
  input  wire logic              s_axis_tlast,

  input  wire logic [15:0]       cfg_cmax_i,

  // command buffer write port
  output logic                   buf_we_o,
  output logic [BUF_AW-1:0]      buf_waddr_o,
  output logic [7:0]             buf_wdata_o,

  // descriptor of the received command, valid until desc_done_i
  output logic                   desc_valid_o,
  input  wire logic              desc_done_i,
  output logic [7:0]             desc_status_o,
  output logic [7:0]             desc_seq_o,
  output logic [7:0]             desc_op_o,
  output logic [BUF_AW:0]        desc_len_o,
  output logic [7:0]             desc_tile_o,
  output logic [31:0]            desc_start_o,
  output logic [15:0]            desc_count_o,
  output logic [15:0]            desc_addr_o,
  output logic [31:0]            desc_value_o,
  output logic [7:0]             desc_flags_o,
  output logic [BUF_AW:0]        desc_var_off_o,
  output logic                   desc_arg_bad_o,
  output logic                   in_frame_o      // a frame is being received
);

  if (ROWS < 1 || ROWS > MAX_ROWS || COLS < 1 || COLS > MAX_COLS || TILES < 1 ||
      TILES > MAX_TILES) begin : g_bad_param
    $fatal(1, "memhil_cmd_rx: ROWS=%0d COLS=%0d TILES=%0d outside the contract", ROWS, COLS, TILES);
  end
  if (PAYLOAD_LOG2 < PAYLOAD_LOG2_MIN || PAYLOAD_LOG2 > PAYLOAD_LOG2_MAX) begin : g_bad_payload
    $fatal(1, "memhil_cmd_rx: PAYLOAD_LOG2=%0d outside [%0d, %0d]", PAYLOAD_LOG2,
           PAYLOAD_LOG2_MIN, PAYLOAD_LOG2_MAX);
  end
  if (BATCH_MAX < 1 || BATCH_MAX > MAX_BATCH) begin : g_bad_batch
    $fatal(1, "memhil_cmd_rx: BATCH_MAX=%0d outside [1, %0d]", BATCH_MAX, MAX_BATCH);
  end

  localparam int unsigned MAXP = 1 << PAYLOAD_LOG2; // this build's MAX_PAYLOAD
  localparam int unsigned LEN_W = BUF_AW + 1;       // 0 .. MAX_PAYLOAD
  localparam int unsigned NCELLS = ROWS * COLS;
  localparam int unsigned NRNG = ROWS + COLS;
  localparam int unsigned FIX_N = 7;                // fixed payload bytes captured at most

  typedef enum logic [3:0] {
    S_HUNT, S_SEQ, S_OP, S_LEN0, S_LEN1, S_LEN2, S_PAY, S_CRC0, S_CRC1, S_DESC
  } state_e;

  state_e            state_q, state_d;
  logic [7:0]        seq_q, seq_d;
  logic [7:0]        op_q, op_d;
  logic [15:0]       len_lo_q, len_lo_d;     // LEN bytes 0 and 1
  logic [LEN_W-1:0]  len_q, len_d;
  logic [LEN_W-1:0]  cnt_q, cnt_d;
  logic [15:0]       crc_q, crc_d;
  logic [7:0]        crc_lo_q, crc_lo_d;
  logic [7:0]        fix_q [FIX_N];
  logic [7:0]        fix_d [FIX_N];
  logic [7:0]        prev_q, prev_d;
  logic              nz_q, nz_d;
  logic              elem_bad_q, elem_bad_d;
  logic [7:0]        status_q, status_d;
  logic              arg_bad_q, arg_bad_d;

  logic              fire;
  logic [15:0]       crc_next;
  logic [7:0]        val_status;
  logic              val_arg_bad;

  assign fire = s_axis_tvalid && s_axis_tready;
  assign s_axis_tready = (state_q != S_DESC);

  memhil_crc16 u_crc (
    .crc_i  (crc_q),
    .data_i (s_axis_tdata),
    .crc_o  (crc_next)
  );

  // ---------------------------------------------------------------- fields of the payload
  logic [7:0]        f_tile;
  logic [31:0]       f_start;
  logic [15:0]       f_count;
  logic [15:0]       f_batch;          // B of FORWARD_B / TRANSPOSE_B / UPDATE_B
  logic              op_batch;
  logic              op_rng;           // WRITE_RNG / READ_RNG layout (u16 start, u16 count)
  logic [LEN_W-1:0]  var_off;          // first byte of the variable part

  always_comb begin
    op_rng = (op_q == OP_WRITE_RNG) || (op_q == OP_READ_RNG);
    f_tile = fix_q[0];
    op_batch = (op_q == OP_FORWARD_B) || (op_q == OP_TRANSPOSE_B) || (op_q == OP_UPDATE_B);
    f_batch = (op_q == OP_UPDATE_B) ? {fix_q[3], fix_q[2]} : {fix_q[2], fix_q[1]};
    if (op_rng) begin
      f_start = {16'h0000, fix_q[2], fix_q[1]};
      f_count = {fix_q[4], fix_q[3]};
    end else begin
      f_start = {fix_q[4], fix_q[3], fix_q[2], fix_q[1]};
      f_count = {fix_q[6], fix_q[5]};
    end
    unique case (op_q)
      OP_WRITE_CELLS:               var_off = LEN_W'(7);
      OP_WRITE_RNG:                 var_off = LEN_W'(5);
      OP_FORWARD, OP_TRANSPOSE:     var_off = LEN_W'(1);
      OP_UPDATE:                    var_off = LEN_W'(2);
      OP_FORWARD_B, OP_TRANSPOSE_B: var_off = LEN_W'(3);
      OP_UPDATE_B:                  var_off = LEN_W'(4);
      default:                      var_off = len_q;
    endcase
  end

  // ---------------------------------------------------------------- validation (after the CRC)
  always_comb begin
    logic [31:0] need;       // required LEN
    logic [31:0] rsp_b;      // response bytes of a batched read
    logic        has_tile;
    logic        has_count;
    logic        known;
    logic [32:0] lim;        // size of the index space
    logic [32:0] endi;
    need      = 32'd0;
    rsp_b     = 32'd0;
    has_tile  = 1'b0;
    has_count = 1'b0;
    known     = 1'b1;
    lim       = 33'(NCELLS);
    unique case (op_q)
      OP_PING:        need = 32'd0;
      OP_WRITE_REG:   need = 32'd6;
      OP_READ_REG:    need = 32'd2;
      OP_WRITE_CELLS: begin
        need = 32'd7 + {14'h0000, f_count, 2'b00};
        has_tile = 1'b1;
        has_count = 1'b1;
      end
      OP_READ_CELLS: begin
        need = 32'd7;
        has_tile = 1'b1;
        has_count = 1'b1;
      end
      OP_WRITE_RNG: begin
        need = 32'd5 + {14'h0000, f_count, 2'b00};
        has_tile = 1'b1;
        has_count = 1'b1;
        lim = 33'(NRNG);
      end
      OP_READ_RNG: begin
        need = 32'd5;
        has_tile = 1'b1;
        has_count = 1'b1;
        lim = 33'(NRNG);
      end
      OP_FORWARD: begin
        need = 32'(1 + COLS);
        has_tile = 1'b1;
      end
      OP_TRANSPOSE: begin
        need = 32'(1 + ROWS);
        has_tile = 1'b1;
      end
      OP_UPDATE: begin
        need = 32'(2 + ROWS + COLS);
        has_tile = 1'b1;
      end
      OP_FORWARD_B: begin
        need  = 32'd3 + 32'(f_batch) * 32'(COLS);
        rsp_b = 32'(f_batch) * 32'(2 * ROWS);
        has_tile = 1'b1;
      end
      OP_TRANSPOSE_B: begin
        need  = 32'd3 + 32'(f_batch) * 32'(ROWS);
        rsp_b = 32'(f_batch) * 32'(2 * COLS);
        has_tile = 1'b1;
      end
      OP_UPDATE_B: begin
        need = 32'd4 + 32'(f_batch) * 32'(ROWS + COLS);
        has_tile = 1'b1;
      end
      default: known = 1'b0;
    endcase
    endi = {1'b0, f_start} + {17'h00000, f_count};
    if (!known) begin
      val_status = ST_BAD_OP;
    end else if (32'(len_q) != need) begin
      val_status = ST_BAD_LEN;
    end else begin
      val_status = ST_OK;
    end
    // BAD_ARG cases (meaningful once the LEN is right)
    val_arg_bad = (has_tile && (f_tile >= 8'(TILES))) ||
                  (has_count && ((f_count == 16'h0000) || (endi > lim) ||
                                 ({14'h0000, f_count, 2'b00} > 32'(MAXP)))) ||
                  (op_batch && ((f_batch == 16'h0000) || (32'(f_batch) > 32'(BATCH_MAX)) ||
                                (rsp_b > 32'(MAXP)))) ||
                  // every update applies (contract v3): flags must be exactly APPLY
                  (((op_q == OP_UPDATE) || (op_q == OP_UPDATE_B)) && (fix_q[1] != 8'h01)) ||
                  elem_bad_q;
  end

  // ---------------------------------------------------------------- element checks, on the fly
  logic [1:0]       eb;
  logic             elem_bad_now;
  logic             in_var;

  always_comb begin
    eb = cnt_q[1:0] - var_off[1:0];     // byte within the 4-byte element
    in_var = (cnt_q >= var_off);
    elem_bad_now = 1'b0;
    unique case (op_q)
      OP_WRITE_CELLS: begin
        if (in_var && eb[0] && ({s_axis_tdata, prev_q} > cfg_cmax_i)) elem_bad_now = 1'b1;
      end
      OP_WRITE_RNG: begin
        if (in_var && (eb == 2'd3) && !nz_q && (s_axis_tdata == 8'h00)) elem_bad_now = 1'b1;
      end
      default: elem_bad_now = 1'b0;
    endcase
  end

  // ---------------------------------------------------------------- state machine
  always_comb begin
    state_d    = state_q;
    seq_d      = seq_q;
    op_d       = op_q;
    len_lo_d   = len_lo_q;
    len_d      = len_q;
    cnt_d      = cnt_q;
    crc_d      = crc_q;
    crc_lo_d   = crc_lo_q;
    fix_d      = fix_q;
    prev_d     = prev_q;
    nz_d       = nz_q;
    elem_bad_d = elem_bad_q;
    status_d   = status_q;
    arg_bad_d  = arg_bad_q;
    buf_we_o    = 1'b0;
    buf_waddr_o = cnt_q[BUF_AW-1:0];
    buf_wdata_o = s_axis_tdata;

    unique case (state_q)
      S_HUNT: begin
        if (fire && (s_axis_tdata == SOF_CMD)) begin
          crc_d      = CRC_INIT;
          seq_d      = 8'h00;
          op_d       = 8'h00;
          cnt_d      = '0;
          elem_bad_d = 1'b0;
          arg_bad_d  = 1'b0;
          nz_d       = 1'b0;
          for (int unsigned k = 0; k < FIX_N; k++) fix_d[k] = 8'h00;
          if (s_axis_tlast) begin
            status_d = ST_TRUNCATED;
            state_d  = S_DESC;
          end else begin
            state_d = S_SEQ;
          end
        end
      end
      S_SEQ, S_OP, S_LEN0: begin
        if (fire) begin
          crc_d = crc_next;
          unique case (state_q)
            S_SEQ:   begin seq_d = s_axis_tdata;    state_d = S_OP;   end
            S_OP:    begin op_d = s_axis_tdata;     state_d = S_LEN0; end
            default: begin len_lo_d = {8'h00, s_axis_tdata}; state_d = S_LEN1; end
          endcase
          if (s_axis_tlast) begin
            status_d = ST_TRUNCATED;
            state_d  = S_DESC;
          end
        end
      end
      S_LEN1: begin
        if (fire) begin
          crc_d = crc_next;
          len_lo_d = {s_axis_tdata, len_lo_q[7:0]};
          state_d = S_LEN2;
          if (s_axis_tlast) begin
            status_d = ST_TRUNCATED;
            state_d  = S_DESC;
          end
        end
      end
      S_LEN2: begin
        if (fire) begin
          crc_d = crc_next;
          if ({s_axis_tdata, len_lo_q} > 24'(MAXP)) begin
            len_d    = '0;
            status_d = ST_BAD_LEN;
            state_d  = S_DESC;
          end else begin
            len_d = LEN_W'({s_axis_tdata, len_lo_q});
            if (s_axis_tlast) begin
              status_d = ST_TRUNCATED;
              state_d  = S_DESC;
            end else if ({s_axis_tdata, len_lo_q} == 24'h000000) begin
              state_d = S_CRC0;
            end else begin
              state_d = S_PAY;
            end
          end
        end
      end
      S_PAY: begin
        if (fire) begin
          crc_d    = crc_next;
          buf_we_o = 1'b1;
          if (cnt_q < LEN_W'(FIX_N)) fix_d[cnt_q[2:0]] = s_axis_tdata;
          prev_d = s_axis_tdata;
          nz_d   = (eb == 2'd0) ? (s_axis_tdata != 8'h00) : (nz_q || (s_axis_tdata != 8'h00));
          if (elem_bad_now) elem_bad_d = 1'b1;
          cnt_d = cnt_q + 1'b1;
          if (s_axis_tlast) begin
            status_d = ST_TRUNCATED;
            state_d  = S_DESC;
          end else if (cnt_q == len_q - 1'b1) begin
            state_d = S_CRC0;
          end
        end
      end
      S_CRC0: begin
        if (fire) begin
          crc_lo_d = s_axis_tdata;
          if (s_axis_tlast) begin
            status_d = ST_TRUNCATED;
            state_d  = S_DESC;
          end else begin
            state_d = S_CRC1;
          end
        end
      end
      S_CRC1: begin
        if (fire) begin
          status_d  = ({s_axis_tdata, crc_lo_q} == crc_q) ? val_status : ST_BAD_CRC;
          arg_bad_d = val_arg_bad;
          state_d   = S_DESC;
        end
      end
      S_DESC: begin
        if (desc_done_i) state_d = S_HUNT;
      end
      default: state_d = S_HUNT;
    endcase
  end

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      state_q    <= S_HUNT;
      seq_q      <= 8'h00;
      op_q       <= 8'h00;
      len_lo_q   <= 16'h0000;
      len_q      <= '0;
      cnt_q      <= '0;
      crc_q      <= CRC_INIT;
      crc_lo_q   <= 8'h00;
      fix_q      <= '{default: 8'h00};
      prev_q     <= 8'h00;
      nz_q       <= 1'b0;
      elem_bad_q <= 1'b0;
      status_q   <= ST_OK;
      arg_bad_q  <= 1'b0;
    end else begin
      state_q    <= state_d;
      seq_q      <= seq_d;
      op_q       <= op_d;
      len_lo_q   <= len_lo_d;
      len_q      <= len_d;
      cnt_q      <= cnt_d;
      crc_q      <= crc_d;
      crc_lo_q   <= crc_lo_d;
      fix_q      <= fix_d;
      prev_q     <= prev_d;
      nz_q       <= nz_d;
      elem_bad_q <= elem_bad_d;
      status_q   <= status_d;
      arg_bad_q  <= arg_bad_d;
    end
  end

  // ---------------------------------------------------------------- descriptor
  assign desc_valid_o   = (state_q == S_DESC);
  assign desc_status_o  = status_q;
  assign desc_seq_o     = seq_q;
  assign desc_op_o      = op_q;
  assign desc_len_o     = len_q;
  assign desc_tile_o    = f_tile;
  assign desc_start_o   = f_start;
  assign desc_count_o   = op_batch ? f_batch : f_count;
  assign desc_addr_o    = {fix_q[1], fix_q[0]};
  assign desc_value_o   = {fix_q[5], fix_q[4], fix_q[3], fix_q[2]};
  assign desc_flags_o   = fix_q[1];
  assign desc_var_off_o = var_off;
  assign desc_arg_bad_o = arg_bad_q;
  assign in_frame_o     = (state_q != S_HUNT) && (state_q != S_DESC);

endmodule

`resetall
