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
//
// Timing (100 MHz): the opcode arrives decoded (the parser's registered one-hot desc_is_*_i,
// desc_arr_op_i, desc_ok_i; desc_count_i is already the array's count), so no consumer here
// compares opcodes. The replay match (SEQ, OP against the last executed command) is a
// register: SEQ and OP are final several clocks before a good frame's descriptor appears, and
// the last_* registers change only in E_TX, at least one frame before the next descriptor.
// The array command waits (cfg_busy_i) while the register file still applies an access it
// granted before the command started, so the array sees that access as before. The array's
// busy is registered here (arr_busy_q, high from reset: the array initialises): it rises only
// at the array's reset or at a command handshake, when the executor is in E_ARR_CMD anyway,
// so the register only delays its fall by a clock. The last-sample flag is a register too.
// The handshakes to the array and the register file (arr_cmd_valid_o, arr_in_valid_o,
// arr_out_ready_o, reg_req_o, reg_lock_o) start at one-hot state flags registered from the next
// state (st_*_q: state_q == E_REG / E_ARR_CMD / E_ARR_RUN), not at a decode of state_q.

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
  input  wire logic              desc_ok_i,        // desc_status_i == ST_OK
  input  wire logic              desc_is_ping_i,
  input  wire logic              desc_is_wreg_i,
  input  wire logic              desc_is_rreg_i,
  input  wire logic              desc_is_batch_i,  // FORWARD_B, TRANSPOSE_B
  input  wire logic              desc_is_upd_i,    // UPDATE, UPDATE_B
  input  wire logic              desc_is_read_i,   // FORWARD, TRANSPOSE and their _B forms
  input  wire logic              desc_is_trn_i,    // TRANSPOSE, TRANSPOSE_B
  input  wire logic [7:0]        desc_arr_op_i,    // the array's opcode

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
  input  wire logic              cfg_busy_i,       // the register file still applies an access

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
  logic [4:0]        gen_left_q, gen_left_d; // its bytes still to write
  logic              done_seen_q, done_seen_d;
  logic [31:0]       pulses_q, pulses_d;
  logic [31:0]       pulses_up_q, pulses_up_d, pulses_stuck_q, pulses_stuck_d;
  logic              last_valid_q, last_valid_d;
  logic [7:0]        last_seq_q, last_seq_d;
  logic [7:0]        last_op_q, last_op_d;
  logic [BUF_AW:0]   last_len_q, last_len_d;
  logic              ok_q, ok_d;           // the response being sent is an OK one
  logic [15:0]       smp_left_q, smp_left_d; // samples after the one running on the array
  logic [BUF_AW:0]   in_left_q, in_left_d;   // command-buffer bytes still to stream
  logic              in_more_q, in_more_d;   // in_left_q != 0
  logic              last_smp_q, last_smp_d; // the sample on the array is the command's last
  logic              replay_q;               // the descriptor repeats the last command
  logic              arr_busy_q;             // arr_busy_i, a clock late
  logic              st_reg_q, st_cmd_q, st_run_q;  // state_q is E_REG / E_ARR_CMD / E_ARR_RUN

  logic              in_fire;
  logic              is_array_op;
  logic              last_smp;
  logic              apply;

  // batched reads run sample by sample; an update is one array command of all its samples
  assign last_smp = last_smp_q;
  // every update applies (the flags byte is APPLY: checked by the parser)
  assign apply = 1'b1;
  assign in_fire = arr_in_valid_o && arr_in_ready_i;
  assign is_array_op = !(desc_is_ping_i || desc_is_wreg_i || desc_is_rreg_i);

  always_comb begin
    state_d       = state_q;
    rptr_d        = rptr_q;
    wptr_d        = wptr_q;
    gen_d         = gen_q;
    gen_left_d    = gen_left_q;
    done_seen_d   = done_seen_q;
    pulses_d      = pulses_q;
    pulses_up_d   = pulses_up_q;
    pulses_stuck_d = pulses_stuck_q;
    last_valid_d  = last_valid_q;
    last_seq_d    = last_seq_q;
    last_op_d     = last_op_q;
    last_len_d    = last_len_q;
    ok_d          = ok_q;
    smp_left_d    = smp_left_q;
    last_smp_d    = last_smp_q;
    in_left_d     = in_left_q;
    in_more_d     = in_more_q;

    desc_done_o     = 1'b0;
    tx_start_o      = 1'b0;
    tx_seq_o        = desc_seq_i;
    tx_op_o         = desc_op_i;
    tx_status_o     = ST_OK;
    tx_len_o        = wptr_q;
    reg_req_o       = st_reg_q;
    reg_we_o        = desc_is_wreg_i;
    reg_addr_o      = desc_addr_i;
    reg_wdata_o     = desc_value_i;
    rbuf_we_o       = 1'b0;
    rbuf_waddr_o    = wptr_q[BUF_AW-1:0];
    rbuf_wdata_o    = gen_q[7:0];
    arr_cmd_valid_o = st_cmd_q && !cfg_busy_i;
    arr_in_valid_o  = st_run_q && in_more_q;
    arr_out_ready_o = st_run_q;
    ev_pulses_o     = 1'b0;
    ev_pulses_n_o   = pulses_q;
    ev_pulses_up_n_o    = pulses_up_q;
    ev_pulses_stuck_n_o = pulses_stuck_q;
    ev_read_trn_o   = desc_is_trn_i;
    ev_update_o     = 1'b0;
    ev_read_o       = 1'b0;
    ev_error_o      = 1'b0;
    ev_error_code_o = desc_status_i;

    unique case (state_q)
      E_IDLE: begin
        wptr_d      = '0;
        rptr_d      = desc_var_off_i;
        in_left_d   = desc_len_i - desc_var_off_i;
        in_more_d   = (desc_len_i != desc_var_off_i);
        done_seen_d = 1'b0;
        smp_left_d  = desc_count_i - 16'd1;
        last_smp_d  = !desc_is_batch_i || (desc_count_i == 16'd1);
        if (desc_valid_i && !arr_busy_q) begin   // the array may still be initialising
          if (!desc_ok_i) begin
            tx_start_o  = 1'b1;
            tx_status_o = desc_status_i;
            tx_len_o    = '0;
            ev_error_o  = 1'b1;
            ok_d        = 1'b0;
            state_d     = E_TX;
          end else if (replay_q) begin
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
          end else if (desc_is_ping_i) begin
            gen_d      = {8'(BUILD_BL_MAX), 16'(BATCH_MAX), 8'(PAYLOAD_LOG2), 8'(LANES), 8'(TILES),
                          16'(COLS), 16'(ROWS), 16'(CONTRACT_VERSION), MAGIC};
            gen_left_d = 5'(GEN_N);
            state_d = E_BYTES;
          end else if (!is_array_op) begin
            state_d = E_REG;
          end else begin
            state_d = E_ARR_CMD;
          end
        end
      end
      E_REG: begin
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
            gen_d      = {(8 * GEN_N - 32)'(0), reg_rdata_i};
            gen_left_d = desc_is_rreg_i ? 5'd4 : 5'd0;
            state_d = E_BYTES;
          end
        end
      end
      E_BYTES: begin
        if (gen_left_q != 5'd0) begin
          rbuf_we_o  = 1'b1;
          gen_d      = gen_q >> 8;
          gen_left_d = gen_left_q - 5'd1;
          wptr_d     = wptr_q + 1'b1;
        end else begin
          tx_start_o = 1'b1;
          ok_d       = 1'b1;
          state_d    = E_TX;
        end
      end
      E_ARR_CMD: begin
        if (arr_cmd_ready_i && !cfg_busy_i) state_d = E_ARR_RUN;
      end
      E_ARR_RUN: begin
        if (in_fire) begin
          rptr_d    = rptr_q + 1'b1;
          in_left_d = in_left_q - 1'b1;
          in_more_d = (in_left_q != (BUF_AW + 1)'(1));
        end
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
          ev_read_o = desc_is_read_i;
          if (!last_smp) begin
            // next sample of a batched read: its bytes follow in the buffer (rptr_q)
            done_seen_d = 1'b0;
            smp_left_d  = smp_left_q - 16'd1;
            last_smp_d  = (smp_left_q == 16'd1);
            state_d     = E_ARR_CMD;
          end else if (desc_is_upd_i) begin
            // the response is u32 pulses applied, built here from the array's count
            ev_update_o = 1'b1;
            ev_pulses_o = 1'b1;
            gen_d      = {(8 * GEN_N - 32)'(0), pulses_q};
            gen_left_d = 5'd4;
            wptr_d     = '0;
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
  assign arr_cmd_op_o    = desc_arr_op_i;
  assign arr_cmd_tile_o  = desc_tile_i;
  assign arr_cmd_start_o = desc_start_i;
  assign arr_cmd_count_o = desc_count_i;        // UPDATE: 1, UPDATE_B: B (the parser's count)
  assign arr_cmd_apply_o = apply;
  assign ev_update_n_o   = arr_cmd_count_o;
  assign reg_lock_o      = st_cmd_q || st_run_q || arr_busy_q;
  assign busy_o          = reg_lock_o;
  assign ev_busy_o       = (state_q != E_IDLE) && (state_q != E_TX);

  logic unused_exec;
  assign unused_exec = ^{arr_out_last_i, desc_flags_i};

  // the replay match, a clock ahead (see the header)
  always_ff @(posedge clk) begin
    if (!rst_n) begin
      replay_q   <= 1'b0;
      arr_busy_q <= 1'b1;
    end else begin
      replay_q   <= last_valid_q && (desc_seq_i == last_seq_q) && (desc_op_i == last_op_q);
      arr_busy_q <= arr_busy_i;
    end
  end

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      state_q      <= E_IDLE;
      st_reg_q     <= 1'b0;
      st_cmd_q     <= 1'b0;
      st_run_q     <= 1'b0;
      rptr_q       <= '0;
      wptr_q       <= '0;
      gen_q        <= '0;
      gen_left_q   <= 5'd0;
      done_seen_q  <= 1'b0;
      pulses_q     <= 32'd0;
      pulses_up_q  <= 32'd0;
      pulses_stuck_q <= 32'd0;
      last_valid_q <= 1'b0;
      last_seq_q   <= 8'h00;
      last_op_q    <= 8'h00;
      last_len_q   <= '0;
      ok_q         <= 1'b0;
      smp_left_q   <= 16'd0;
      last_smp_q   <= 1'b1;
      in_left_q    <= '0;
      in_more_q    <= 1'b0;
    end else begin
      state_q      <= state_d;
      st_reg_q     <= (state_d == E_REG);
      st_cmd_q     <= (state_d == E_ARR_CMD);
      st_run_q     <= (state_d == E_ARR_RUN);
      rptr_q       <= rptr_d;
      wptr_q       <= wptr_d;
      gen_q        <= gen_d;
      gen_left_q   <= gen_left_d;
      done_seen_q  <= done_seen_d;
      pulses_q     <= pulses_d;
      pulses_up_q  <= pulses_up_d;
      pulses_stuck_q <= pulses_stuck_d;
      last_valid_q <= last_valid_d;
      last_seq_q   <= last_seq_d;
      last_op_q    <= last_op_d;
      last_len_q   <= last_len_d;
      ok_q         <= ok_d;
      smp_left_q   <= smp_left_d;
      last_smp_q   <= last_smp_d;
      in_left_q    <= in_left_d;
      in_more_q    <= in_more_d;
    end
  end

endmodule

`resetall
