// SPDX-License-Identifier: MIT
// memhil_lfsr: combinational leap of the contract's 32-bit Galois LFSR (contract section 4.1).
// out_states[k] is the state after (k + 1) * STEPS single steps of in_state, for k < OUTS.
// A single step: lsb = s & 1; s = s >> 1; if lsb: s ^= LFSR_TAPS. The leap is a pure XOR network.

`resetall
`default_nettype none

module memhil_lfsr
  import memhil_pkg::*;
#(
  parameter int unsigned STEPS = LFSR_STREAM_STEPS,
  parameter int unsigned OUTS  = 1
) (
  input  wire logic [LFSR_W-1:0]            in_state,
  output logic      [OUTS-1:0][LFSR_W-1:0]  out_states
);

  if (STEPS < 1 || OUTS < 1) begin : g_bad_param
    $fatal(1, "memhil_lfsr: STEPS (%0d) and OUTS (%0d) must be >= 1", STEPS, OUTS);
  end

  function automatic logic [LFSR_W-1:0] lfsr_step(input logic [LFSR_W-1:0] s);
    lfsr_step = s[0] ? ((s >> 1) ^ LFSR_TAPS) : (s >> 1);
  endfunction

  function automatic logic [OUTS-1:0][LFSR_W-1:0] leap(input logic [LFSR_W-1:0] s0);
    logic [LFSR_W-1:0] s;
    s = s0;
    for (int unsigned k = 0; k < OUTS; k++) begin
      for (int unsigned n = 0; n < STEPS; n++) begin
        s = lfsr_step(s);
      end
      leap[k] = s;
    end
  endfunction

  assign out_states = leap(in_state);

endmodule : memhil_lfsr

`resetall
