// SPDX-License-Identifier: MIT
// memhil_rsp_tx: response framer (docs/hardware-contract.md section 8).
//
// On start_i sends SOF_RSP, SEQ, OP, STATUS, LEN (24 bits, LE), LEN payload bytes read from the response
// buffer (registered read, one cycle of latency, prefetched so that a byte leaves every cycle the
// sink is ready) and the CRC-16 over SEQ .. end of payload, with TLAST on the last CRC byte.
// Honours m_axis_tready backpressure at every byte.
// Timing (100 MHz): the frame's registers load in every idle clock (start_i only moves the
// state); the last payload byte and the empty payload are registered flags (plast_q:
// ptr_q == len - 1, kept by a down-counter of the bytes after the current one; lzero_q:
// len == 0), formed from the registered length during the header; no compare of the pointer
// with the length. No cycle moves.

`resetall
`default_nettype none

module memhil_rsp_tx
  import memhil_pkg::*;
#(
  parameter  int unsigned PAYLOAD_LOG2 = PAYLOAD_LOG2_DEFAULT,
  localparam int unsigned BUF_AW = PAYLOAD_LOG2
) (
  input  wire logic              clk,
  input  wire logic              rst_n,

  input  wire logic              start_i,
  input  wire logic [7:0]        seq_i,
  input  wire logic [7:0]        op_i,
  input  wire logic [7:0]        status_i,
  input  wire logic [BUF_AW:0]   len_i,
  output logic                   busy_o,
  output logic                   done_o,

  // response buffer read port
  output logic [BUF_AW-1:0]      buf_raddr_o,
  input  wire logic [7:0]        buf_rdata_i,

  output logic [7:0]             m_axis_tdata,
  output logic                   m_axis_tvalid,
  input  wire logic              m_axis_tready,
  output logic                   m_axis_tlast
);

  typedef enum logic [2:0] { S_IDLE, S_HDR, S_PAY, S_CRC0, S_CRC1 } state_e;

  state_e            state_q, state_d;
  logic [2:0]        hidx_q, hidx_d;
  logic [BUF_AW:0]   ptr_q, ptr_d;
  logic [BUF_AW:0]   len_q, len_d;
  logic [BUF_AW:0]   left_q, left_d;      // payload bytes after the one at ptr_q
  logic              plast_q, plast_d;    // left_q == 0: the byte at ptr_q is the last
  logic              lzero_q, lzero_d;    // the payload is empty
  logic [15:0]       crc_q, crc_d;
  logic [15:0]       crc_next;
  logic              fire;

  // the header as sent (SOF SEQ OP STATUS LEN[3]), loaded at start_i and shifted a byte per
  // header byte sent, so the output byte and the CRC do not wait for a header mux
  logic [8*RSP_HEADER_BYTES-1:0] hdr_q, hdr_d;

  assign fire = m_axis_tvalid && m_axis_tready;

  memhil_crc16 u_crc (
    .crc_i  (crc_q),
    .data_i (m_axis_tdata),
    .crc_o  (crc_next)
  );

  // output byte
  always_comb begin
    m_axis_tvalid = (state_q != S_IDLE);
    m_axis_tlast  = (state_q == S_CRC1);
    unique case (state_q)
      S_HDR:   m_axis_tdata = hdr_q[7:0];
      S_PAY:   m_axis_tdata = buf_rdata_i;
      S_CRC0:  m_axis_tdata = crc_q[7:0];
      S_CRC1:  m_axis_tdata = crc_q[15:8];
      default: m_axis_tdata = 8'h00;
    endcase
  end

  always_comb begin
    state_d  = state_q;
    hidx_d   = hidx_q;
    ptr_d    = ptr_q;
    len_d    = len_q;
    left_d   = left_q;
    plast_d  = plast_q;
    lzero_d  = lzero_q;
    crc_d    = crc_q;
    hdr_d    = hdr_q;
    done_o   = 1'b0;
    unique case (state_q)
      S_IDLE: begin
        // the pointer rests at 0, so the buffer address does not wait for start_i; the frame's
        // registers load in every idle clock (start_i only moves the state: the header and
        // the length do not wait for the executor's decision)
        ptr_d    = '0;
        len_d    = len_i;
        hidx_d   = 3'd0;
        crc_d    = CRC_INIT;
        hdr_d    = {24'(len_i), status_i, op_i, seq_i, SOF_RSP};   // LEN: 24 bits, LE
        if (start_i) begin
          state_d  = S_HDR;
        end
      end
      S_HDR: begin
        // (the header is RSP_HEADER_BYTES > 1 clocks: the flags are ready for S_PAY)
        left_d  = len_q - 1'b1;
        plast_d = (len_q == (BUF_AW + 1)'(1));
        lzero_d = (len_q == '0);
        if (fire) begin
          if (hidx_q != 3'd0) crc_d = crc_next;
          hidx_d = hidx_q + 3'd1;
          hdr_d  = hdr_q >> 8;
          if (hidx_q == 3'(RSP_HEADER_BYTES - 1)) state_d = lzero_q ? S_CRC0 : S_PAY;
        end
      end
      S_PAY: begin
        if (fire) begin
          crc_d = crc_next;
          ptr_d   = ptr_q + 1'b1;
          left_d  = left_q - 1'b1;
          plast_d = (left_q == (BUF_AW + 1)'(1));
          if (plast_q) state_d = S_CRC0;
        end
      end
      S_CRC0: begin
        if (fire) state_d = S_CRC1;
      end
      S_CRC1: begin
        if (fire) begin
          done_o  = 1'b1;
          state_d = S_IDLE;
        end
      end
      default: state_d = S_IDLE;
    endcase
  end

  // the RAM shows mem[ptr_q] in every cycle: the address is always the next pointer
  assign buf_raddr_o = ptr_d[BUF_AW-1:0];
  assign busy_o = (state_q != S_IDLE);

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      state_q  <= S_IDLE;
      hidx_q   <= 3'd0;
      ptr_q    <= '0;
      len_q    <= '0;
      left_q   <= '0;
      plast_q  <= 1'b0;
      lzero_q  <= 1'b1;
      crc_q    <= CRC_INIT;
      hdr_q    <= '0;
    end else begin
      state_q  <= state_d;
      hidx_q   <= hidx_d;
      ptr_q    <= ptr_d;
      len_q    <= len_d;
      left_q   <= left_d;
      plast_q  <= plast_d;
      lzero_q  <= lzero_d;
      crc_q    <= crc_d;
      hdr_q    <= hdr_d;
    end
  end

endmodule

`resetall
