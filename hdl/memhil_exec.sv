// SPDX-License-Identifier: MIT
// memhil_exec: executes one validated command at a time (docs/hardware-contract.md section 8).
//
// Error descriptors are answered at once with an empty payload; a command with the SEQ and OP of
// the last executed one is answered with the stored response (not executed again, its arguments
// not checked again); then argument errors give BAD_ARG; PING,
// WRITE_REG and READ_REG are served here with the register file; every other opcode goes to the
// array: the fixed fields on cmd_*, the payload's variable part streamed from the command buffer
// on in_*, the response payload collected from out_* into the response buffer. The response
// buffer keeps the last OK response for replay (error responses have no payload and leave it).
// FORWARD_B and TRANSPOSE_B run as B single-sample array commands in order on consecutive
// slices of the payload, their answers appended. UPDATE and UPDATE_B are ONE array UPDATE of
// B samples (B = 1 for UPDATE; cmd_count = B): the array streams all B samples' operands, forms
// each cell's batch sum and applies it (contract v3, section 6). The parser has checked that an
// update's flags are exactly APPLY and that B <= BATCH_MAX.

`resetall
`default_nettype none

module memhil_exec
  import memhil_pkg::*;
#(
  parameter int unsigned ROWS  = 8,
  parameter int unsigned COLS  = 8,
  parameter int unsigned TILES = 1,
  parameter int unsigned LANES = 4,
  parameter int unsigned PAYLOAD_LOG2 = PAYLOAD_LOG2_DEFAULT,   // MAX_PAYLOAD of this build
  parameter int unsigned BATCH_MAX = BATCH_MAX_DEFAULT,         // build limits, reported by PING
  parameter int unsigned BUILD_BL_MAX = BL_MAX_DEFAULT,         // (memhil_top's BL_MAX)
  localparam int unsigned BUF_AW = PAYLOAD_LOG2
) (
  input  wire logic              clk,
  input  wire logic              rst_n,

  // descriptor from memhil_cmd_rx
  input  wire logic              desc_valid_i,
  output logic                   desc_done_o,
  input  wire logic [7:0]        desc_status_i,
  input  wire logic [7:0]        desc_seq_i,
  input  wire logic [7:0]        desc_op_i,
  input  wire logic [BUF_AW:0]   desc_len_i,
  input  wire logic [7:0]        desc_tile_i,
  input  wire logic [31:0]       desc_start_i,
  input  wire logic [15:0]       desc_count_i,
  input  wire logic [15:0]       desc_addr_i,
  input  wire logic [31:0]       desc_value_i,
  input  wire logic [7:0]        desc_flags_i,
  input  wire logic [BUF_AW:0]   desc_var_off_i,
  input  wire logic              desc_arg_bad_i,

  // command buffer read port (registered read)
  output logic [BUF_AW-1:0]      cbuf_raddr_o,
  input  wire logic [7:0]        cbuf_rdata_i,

  // response buffer write port
  output logic                   rbuf_we_o,
  output logic [BUF_AW-1:0]      rbuf_waddr_o,
  output logic [7:0]             rbuf_wdata_o,

  // response framer
  output logic                   tx_start_o,
  output logic [7:0]             tx_seq_o,
  output logic [7:0]             tx_op_o,
  output logic [7:0]             tx_status_o,
  output logic [BUF_AW:0]        tx_len_o,
  input  wire logic              tx_done_i,

  // register file command port
  output logic                   reg_req_o,
  output logic                   reg_we_o,
  output logic [15:0]            reg_addr_o,
  output logic [31:0]            reg_wdata_o,
  input  wire logic              reg_ack_i,
  input  wire logic              reg_err_i,
  input  wire logic [31:0]       reg_rdata_i,
  output logic                   reg_lock_o,

  // array
  output logic                   arr_cmd_valid_o,
  input  wire logic              arr_cmd_ready_i,
  output logic [7:0]             arr_cmd_op_o,
  output logic [7:0]             arr_cmd_tile_o,
  output logic [31:0]            arr_cmd_start_o,
  output logic [15:0]            arr_cmd_count_o,
  output logic                   arr_cmd_apply_o,
  output logic                   arr_in_valid_o,
  input  wire logic              arr_in_ready_i,
  output logic [7:0]             arr_in_data_o,
  input  wire logic              arr_out_valid_i,
  output logic                   arr_out_ready_o,
  input  wire logic [7:0]        arr_out_data_i,
  input  wire logic              arr_out_last_i,
  input  wire logic              arr_done_i,
  input  wire logic              arr_busy_i,
  input  wire logic [31:0]       arr_pulses_i,
  input  wire logic [31:0]       arr_pulses_up_i,
  input  wire logic [31:0]       arr_pulses_stuck_i,

  // counter events
  output logic                   ev_pulses_o,
  output logic [31:0]            ev_pulses_n_o,
  output logic [31:0]            ev_pulses_up_n_o,     // of ev_pulses_n_o: up, working device
  output logic [31:0]            ev_pulses_stuck_n_o,  // of ev_pulses_n_o: to stuck devices
  output logic                   ev_update_o,
  output logic [15:0]            ev_update_n_o,    // samples of the update (CNT_UPDATES)
  output logic                   ev_read_o,
  output logic                   ev_read_trn_o,        // the read of ev_read_o is a transpose
  output logic                   ev_busy_o,
  output logic                   ev_error_o,
  output logic [7:0]             ev_error_code_o,
  output logic                   busy_o
);

  typedef enum logic [2:0] { E_IDLE, E_REG, E_BYTES, E_ARR_CMD, E_ARR_RUN, E_TX } state_e;

  localparam int unsigned GEN_N = 16;      // bytes of the longest locally built payload (PING)

  state_e            state_q, state_d;
  logic [BUF_AW:0]   rptr_q, rptr_d;       // next command-buffer byte for the array
  logic [BUF_AW:0]   wptr_q, wptr_d;       // response bytes collected
  logic [8*GEN_N-1:0] gen_q, gen_d;        // locally built payload, LSB first
  logic [4:0]        gen_n_q, gen_n_d;     // its length
  logic              done_seen_q, done_seen_d;
  logic [31:0]       pulses_q, pulses_d;
  logic [31:0]       pulses_up_q, pulses_up_d, pulses_stuck_q, pulses_stuck_d;
  logic              last_valid_q, last_valid_d;
  logic [7:0]        last_seq_q, last_seq_d;
  logic [7:0]        last_op_q, last_op_d;
  logic [BUF_AW:0]   last_len_q, last_len_d;
  logic              ok_q, ok_d;           // the response being sent is an OK one
  logic [15:0]       smp_q, smp_d;         // sample of a batched command running on the array

  logic              in_fire;
  logic              in_more;
  logic              is_array_op;
  logic              is_batch;
  logic              last_smp;
  logic [7:0]        arr_op;
  logic              apply;

  // batched reads run sample by sample; an update is one array command of all its samples
  assign is_batch = (desc_op_i == OP_FORWARD_B) || (desc_op_i == OP_TRANSPOSE_B);
  assign last_smp = !is_batch || (smp_q == desc_count_i - 16'd1);
  // every update applies (the flags byte is APPLY: checked by the parser)
  assign apply = 1'b1;

  always_comb begin
    unique case (desc_op_i)
      OP_FORWARD_B:   arr_op = OP_FORWARD;
      OP_TRANSPOSE_B: arr_op = OP_TRANSPOSE;
      OP_UPDATE_B:    arr_op = OP_UPDATE;
      default:        arr_op = desc_op_i;
    endcase
  end
  assign in_more = (rptr_q < desc_len_i);
  assign in_fire = arr_in_valid_o && arr_in_ready_i;

  always_comb begin
    unique case (desc_op_i)
      OP_PING, OP_WRITE_REG, OP_READ_REG: is_array_op = 1'b0;
      default:                            is_array_op = 1'b1;
    endcase
  end

  always_comb begin
    state_d       = state_q;
    rptr_d        = rptr_q;
    wptr_d        = wptr_q;
    gen_d         = gen_q;
    gen_n_d       = gen_n_q;
    done_seen_d   = done_seen_q;
    pulses_d      = pulses_q;
    pulses_up_d   = pulses_up_q;
    pulses_stuck_d = pulses_stuck_q;
    last_valid_d  = last_valid_q;
    last_seq_d    = last_seq_q;
    last_op_d     = last_op_q;
    last_len_d    = last_len_q;
    ok_d          = ok_q;
    smp_d         = smp_q;

    desc_done_o     = 1'b0;
    tx_start_o      = 1'b0;
    tx_seq_o        = desc_seq_i;
    tx_op_o         = desc_op_i;
    tx_status_o     = ST_OK;
    tx_len_o        = wptr_q;
    reg_req_o       = 1'b0;
    reg_we_o        = (desc_op_i == OP_WRITE_REG);
    reg_addr_o      = desc_addr_i;
    reg_wdata_o     = desc_value_i;
    rbuf_we_o       = 1'b0;
    rbuf_waddr_o    = wptr_q[BUF_AW-1:0];
    rbuf_wdata_o    = gen_q[7:0];
    arr_cmd_valid_o = 1'b0;
    arr_in_valid_o  = 1'b0;
    arr_out_ready_o = 1'b0;
    ev_pulses_o     = 1'b0;
    ev_pulses_n_o   = pulses_q;
    ev_pulses_up_n_o    = pulses_up_q;
    ev_pulses_stuck_n_o = pulses_stuck_q;
    ev_read_trn_o   = (arr_op == OP_TRANSPOSE);
    ev_update_o     = 1'b0;
    ev_read_o       = 1'b0;
    ev_error_o      = 1'b0;
    ev_error_code_o = desc_status_i;

    unique case (state_q)
      E_IDLE: begin
        wptr_d      = '0;
        rptr_d      = desc_var_off_i;
        done_seen_d = 1'b0;
        smp_d       = 16'd0;
        if (desc_valid_i && !arr_busy_i) begin   // the array may still be initialising
          if (desc_status_i != ST_OK) begin
            tx_start_o  = 1'b1;
            tx_status_o = desc_status_i;
            tx_len_o    = '0;
            ev_error_o  = 1'b1;
            ok_d        = 1'b0;
            state_d     = E_TX;
          end else if (last_valid_q && (desc_seq_i == last_seq_q) && (desc_op_i == last_op_q)) begin
            tx_start_o = 1'b1;
            tx_len_o   = last_len_q;
            ok_d       = 1'b0;         // a replay changes nothing
            state_d    = E_TX;
          end else if (desc_arg_bad_i) begin
            tx_start_o  = 1'b1;
            tx_status_o = ST_BAD_ARG;
            tx_len_o    = '0;
            ev_error_o  = 1'b1;
            ev_error_code_o = ST_BAD_ARG;
            ok_d        = 1'b0;
            state_d     = E_TX;
          end else if (desc_op_i == OP_PING) begin
            gen_d   = {8'(BUILD_BL_MAX), 16'(BATCH_MAX), 8'(PAYLOAD_LOG2), 8'(LANES), 8'(TILES),
                       16'(COLS), 16'(ROWS), 16'(CONTRACT_VERSION), MAGIC};
            gen_n_d = 5'(GEN_N);
            state_d = E_BYTES;
          end else if (!is_array_op) begin
            state_d = E_REG;
          end else begin
            state_d = E_ARR_CMD;
          end
        end
      end
      E_REG: begin
        reg_req_o = 1'b1;
        if (reg_ack_i) begin
          if (reg_err_i) begin
            tx_start_o  = 1'b1;
            tx_status_o = ST_BAD_ARG;
            tx_len_o    = '0;
            ev_error_o  = 1'b1;
            ev_error_code_o = ST_BAD_ARG;
            ok_d        = 1'b0;
            state_d     = E_TX;
          end else begin
            gen_d   = {(8 * GEN_N - 32)'(0), reg_rdata_i};
            gen_n_d = (desc_op_i == OP_READ_REG) ? 5'd4 : 5'd0;
            state_d = E_BYTES;
          end
        end
      end
      E_BYTES: begin
        if (wptr_q < (BUF_AW + 1)'(gen_n_q)) begin
          rbuf_we_o = 1'b1;
          gen_d     = gen_q >> 8;
          wptr_d    = wptr_q + 1'b1;
        end else begin
          tx_start_o = 1'b1;
          ok_d       = 1'b1;
          state_d    = E_TX;
        end
      end
      E_ARR_CMD: begin
        arr_cmd_valid_o = 1'b1;
        if (arr_cmd_ready_i) state_d = E_ARR_RUN;
      end
      E_ARR_RUN: begin
        arr_in_valid_o  = in_more;
        arr_out_ready_o = 1'b1;
        if (in_fire) rptr_d = rptr_q + 1'b1;
        if (arr_out_valid_i) begin
          rbuf_we_o    = 1'b1;
          rbuf_wdata_o = arr_out_data_i;
          wptr_d       = wptr_q + 1'b1;
        end
        if (arr_done_i) begin
          done_seen_d = 1'b1;
          pulses_d    = apply ? arr_pulses_i : 32'd0;
          pulses_up_d    = apply ? arr_pulses_up_i : 32'd0;
          pulses_stuck_d = apply ? arr_pulses_stuck_i : 32'd0;
        end
        if (done_seen_q) begin
          ev_read_o = (arr_op == OP_FORWARD) || (arr_op == OP_TRANSPOSE);
          if (!last_smp) begin
            // next sample of a batched read: its bytes follow in the buffer (rptr_q)
            done_seen_d = 1'b0;
            smp_d       = smp_q + 16'd1;
            state_d     = E_ARR_CMD;
          end else if (arr_op == OP_UPDATE) begin
            // the response is u32 pulses applied, built here from the array's count
            ev_update_o = 1'b1;
            ev_pulses_o = 1'b1;
            gen_d   = {(8 * GEN_N - 32)'(0), pulses_q};
            gen_n_d = 5'd4;
            wptr_d  = '0;
            state_d = E_BYTES;
          end else begin
            tx_start_o = 1'b1;
            ok_d       = 1'b1;
            state_d    = E_TX;
          end
        end
      end
      E_TX: begin
        if (tx_done_i) begin
          desc_done_o = 1'b1;
          if (ok_q) begin
            last_valid_d = 1'b1;
            last_seq_d   = desc_seq_i;
            last_op_d    = desc_op_i;
            last_len_d   = wptr_q;
          end
          state_d = E_IDLE;
        end
      end
      default: state_d = E_IDLE;
    endcase
  end

  // the RAM shows mem[rptr_q] in every cycle: the address is always the next pointer
  assign cbuf_raddr_o    = rptr_d[BUF_AW-1:0];
  assign arr_in_data_o   = cbuf_rdata_i;
  assign arr_cmd_op_o    = arr_op;
  assign arr_cmd_tile_o  = desc_tile_i;
  assign arr_cmd_start_o = desc_start_i;
  assign arr_cmd_count_o = (desc_op_i == OP_UPDATE) ? 16'd1 : desc_count_i;   // UPDATE_B: B
  assign arr_cmd_apply_o = apply;
  assign ev_update_n_o   = arr_cmd_count_o;
  assign reg_lock_o      = (state_q == E_ARR_CMD) || (state_q == E_ARR_RUN) || arr_busy_i;
  assign busy_o          = reg_lock_o;
  assign ev_busy_o       = (state_q != E_IDLE) && (state_q != E_TX);

  logic unused_exec;
  assign unused_exec = ^{arr_out_last_i, desc_flags_i};

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      state_q      <= E_IDLE;
      rptr_q       <= '0;
      wptr_q       <= '0;
      gen_q        <= '0;
      gen_n_q      <= 5'd0;
      done_seen_q  <= 1'b0;
      pulses_q     <= 32'd0;
      pulses_up_q  <= 32'd0;
      pulses_stuck_q <= 32'd0;
      last_valid_q <= 1'b0;
      last_seq_q   <= 8'h00;
      last_op_q    <= 8'h00;
      last_len_q   <= '0;
      ok_q         <= 1'b0;
      smp_q        <= 16'd0;
    end else begin
      state_q      <= state_d;
      rptr_q       <= rptr_d;
      wptr_q       <= wptr_d;
      gen_q        <= gen_d;
      gen_n_q      <= gen_n_d;
      done_seen_q  <= done_seen_d;
      pulses_q     <= pulses_d;
      pulses_up_q  <= pulses_up_d;
      pulses_stuck_q <= pulses_stuck_d;
      last_valid_q <= last_valid_d;
      last_seq_q   <= last_seq_d;
      last_op_q    <= last_op_d;
      last_len_q   <= last_len_d;
      ok_q         <= ok_d;
      smp_q        <= smp_d;
    end
  end

endmodule

`resetall
