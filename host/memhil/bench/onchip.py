"""What the integer training step (:mod:`memhil.onchip`) asks of the PL, and the array throughput
(cells per clock) it needs for a board training throughput target (docs/onchip-training.md;
issue 11, item 3). Pure arithmetic: no simulation, no device.

The scheme: per minibatch of ``B`` samples two commands, ``FWD_NET`` (input codes in; every
layer's forward read, ReLU and block-floating-point requantization on chip; the last layer's ADC
sums and exponents out) and ``BWD_NET`` (the host's 8-bit error codes of the logits and their
exponents in; every transpose, ReLU mask, update coding and pulse update on chip; the pulse
count out). The host keeps the logits' conversion, the softmax cross-entropy and the coding of
its gradient (``host_us_per_sample``).

Time per minibatch, sequential (nothing overlaps; as :func:`memhil.bench.board.project`):

* host: ``commands * host_us_per_command`` + frame bytes ``* host_ns_per_byte`` + ``B *
  host_us_per_sample``;
* device: the frame bytes over the stream (``stream_bytes_per_cycle``), the cell passes
  (``cell_ops / cells_per_clock * overhead``; ``overhead``: cycles over the bare
  ``ceil(R*C/LANES)`` bound, 1.16-1.18 for today's LANES-8 RTL on this network, docs/performance.md)
  and the element work of the integer step (``element_ops / elements_per_clock``: operand and
  result movement plus requantization, one element per clock as today's byte-serial array path).
"""
from __future__ import annotations

import math

from memhil.bench.board import (BATCH, CLOCK_HZ, HOST_NS_PER_BYTE, HOST_US_PER_COMMAND,
                                NETWORK)
from memhil.bench.rtl import CMD_FRAME, RSP_FRAME

#: the host's share per sample in the on-chip scheme: logits to float, hostmath's
#: softmax_cross_entropy, grad_codes, at batch 32 (float64, fdlibm exp). Measured on the 2-core
#: x86 VM under load (the onchip study running): 14.1 us per sample (2026-12-02).
HOST_US_PER_SAMPLE_ONCHIP = 14.0
#: bits of a per-sample exponent (E_b, G_b, X_b): int8
EXP_BITS = 8


def _check(network, batch):
    network = [int(n) for n in network]
    if len(network) < 2 or min(network) < 1:
        raise ValueError(f"network={network!r}: need at least two positive layer widths")
    if int(batch) < 1:
        raise ValueError(f"batch={batch!r}: need batch >= 1")
    return network, int(batch)


def onchip_plan(network=NETWORK, batch: int = BATCH, dac_bits: int = 8,
                adc_bits: int = 12) -> dict:
    """What one minibatch of the integer step needs: on-chip state (bits), arithmetic, bytes in
    and out, cell operations and element operations. Layer ``l`` has a tile of ``R = n_{l+1}``
    rows and ``C = n_l + 1`` columns (the bias column)."""
    net, B = _check(network, batch)
    tiles = [(b, a + 1) for a, b in zip(net[:-1], net[1:])]
    n = len(tiles)
    hidden = net[1:-1]
    inputs = [C for _, C in tiles]                       # layer inputs incl. the bias input
    outputs = [R for R, _ in tiles]
    state = {
        # kept from FWD_NET to BWD_NET: each layer's input codes (the update's x operand)
        "input_codes": B * sum(inputs) * dac_bits,
        # ReLU masks of the hidden layers (1 bit each)
        "relu_masks": B * sum(hidden),
        # exponents: E_b per layer input, G_b per layer error, X_b of the logits
        "exponents": B * (2 * n + 1) * EXP_BITS,
        # error codes of one layer at a time (the largest), and the next one being formed
        "error_codes": B * 2 * max(outputs) * dac_bits,
        # one sample's wide row before its coding (ADC sum << BIAS_FRAC, int64 in the model;
        # adc_bits + 16 + 2 bits suffice for one tile per layer)
        "wide_row": max(max(outputs), max(inputs)) * (adc_bits + 18),
    }
    state["total"] = sum(state.values())
    fwd = sum(R * C for R, C in tiles)
    tr = sum(R * C for R, C in tiles[1:])
    cell_ops = B * (fwd + tr + fwd)                      # forward, transpose (not layer 1), update
    # element work per sample: operands in, ADC results out, masks and coding, per command
    elem = (sum(inputs) + sum(outputs)                   # forward: operands in, results out
            + sum(outputs[1:]) + sum(inputs[1:])         # transposes
            + sum(inputs) + sum(outputs))                # update operands (x and d codes)
    cmd_f = CMD_FRAME + 3 + B * net[0]
    rsp_f = RSP_FRAME + B * (2 * net[-1] + 1)
    cmd_b = CMD_FRAME + 3 + B * (net[-1] + 1)
    rsp_b = RSP_FRAME + 4
    arithmetic = {
        "per_sample": {
            # forward codings (hidden outputs and bias inputs), transposes' codings, the
            # update's maxima (|e| per sample, |c| for coincidence's balance)
            "max_abs_compares": 2 * sum(hidden) + (n - 1) + sum(outputs) + sum(inputs),
            "priority_encoders": 2 * (n - 1),            # bit length of a row maximum
            "rounding_shifts": 2 * sum(hidden) + (n - 1) + sum(inputs) + sum(outputs),
            "multiplies_8x32": sum(outputs),             # update coding: e * f (or e * l_m)
            "dividers": 0,
        },
        "per_minibatch": {"dividers_rounding": n, "dividers_coincidence": 0},
    }
    return {"network": net, "batch": B, "tiles": tiles, "state_bits": state,
            "arithmetic": arithmetic, "cell_ops": cell_ops, "element_ops": B * elem,
            "commands": 2, "bytes": {"fwd_net": [cmd_f, rsp_f], "bwd_net": [cmd_b, rsp_b],
                                     "total": cmd_f + rsp_f + cmd_b + rsp_b}}


def onchip_time(plan: dict, cells_per_clock: float, *, clock_hz: float = CLOCK_HZ,
                stream_bytes_per_cycle: float = 1.0, elements_per_clock: float = 1.0,
                overhead: float = 1.0, host_us_per_command: float = HOST_US_PER_COMMAND,
                host_ns_per_byte: float = HOST_NS_PER_BYTE,
                host_us_per_sample: float = HOST_US_PER_SAMPLE_ONCHIP) -> dict:
    """Seconds per minibatch (host, device and its parts) and the board's samples/s."""
    for name, v in (("cells_per_clock", cells_per_clock), ("clock_hz", clock_hz),
                    ("stream_bytes_per_cycle", stream_bytes_per_cycle),
                    ("elements_per_clock", elements_per_clock), ("overhead", overhead)):
        if not (v > 0 and math.isfinite(v)):
            raise ValueError(f"{name}={v!r}: need a finite value > 0")
    host = _host_s(plan, host_us_per_command, host_ns_per_byte, host_us_per_sample)
    stream = plan["bytes"]["total"] / stream_bytes_per_cycle / clock_hz
    cells = plan["cell_ops"] * overhead / cells_per_clock / clock_hz
    elems = plan["element_ops"] / elements_per_clock / clock_hz
    total = host + stream + cells + elems
    return {"host_s": host, "stream_s": stream, "cells_s": cells, "elements_s": elems,
            "minibatch_s": total, "samples_per_s": plan["batch"] / total}


def _host_s(plan, host_us_per_command, host_ns_per_byte, host_us_per_sample) -> float:
    for name, v in (("host_us_per_command", host_us_per_command),
                    ("host_ns_per_byte", host_ns_per_byte),
                    ("host_us_per_sample", host_us_per_sample)):
        if not (v >= 0 and math.isfinite(v)):
            raise ValueError(f"{name}={v!r}: need a finite value >= 0")
    return (plan["commands"] * host_us_per_command * 1e-6
            + plan["bytes"]["total"] * host_ns_per_byte * 1e-9
            + plan["batch"] * host_us_per_sample * 1e-6)


def cells_per_clock_needed(target_samples_per_s: float, plan: dict, *,
                           clock_hz: float = CLOCK_HZ, stream_bytes_per_cycle: float = 1.0,
                           elements_per_clock: float = 1.0, overhead: float = 1.0,
                           host_us_per_command: float = HOST_US_PER_COMMAND,
                           host_ns_per_byte: float = HOST_NS_PER_BYTE,
                           host_us_per_sample: float = HOST_US_PER_SAMPLE_ONCHIP) -> float:
    """The array throughput (cells per clock) at which the board trains ``target_samples_per_s``;
    ``math.inf`` when the host, the stream and the element work alone take the whole budget."""
    if not (target_samples_per_s > 0 and math.isfinite(target_samples_per_s)):
        raise ValueError(f"target_samples_per_s={target_samples_per_s!r}: need a finite "
                         "value > 0")
    rest = onchip_time(plan, 1.0, clock_hz=clock_hz,
                       stream_bytes_per_cycle=stream_bytes_per_cycle,
                       elements_per_clock=elements_per_clock, overhead=overhead,
                       host_us_per_command=host_us_per_command,
                       host_ns_per_byte=host_ns_per_byte, host_us_per_sample=host_us_per_sample)
    budget = plan["batch"] / target_samples_per_s - (rest["minibatch_s"] - rest["cells_s"])
    if budget <= 0:
        return math.inf
    return plan["cell_ops"] * overhead / (budget * clock_hz)


def table(twin_samples_per_s: float = 8000.0, plan: dict | None = None) -> list[dict]:
    """The needed cells per clock at 1x and 10x the twin under a few host / stream assumptions
    (the rows of docs/onchip-training.md)."""
    plan = plan or onchip_plan()
    s8 = {"stream_bytes_per_cycle": 8, "elements_per_clock": 8}
    c20 = {**s8, "host_us_per_command": 20}
    pre = {**c20, "host_ns_per_byte": 0}
    loss = {**pre, "host_us_per_sample": 1.0}
    wide = {**loss, "elements_per_clock": 32}
    cases = [
        ("today's host and stream (100 us/command, 5 ns/byte, 14 us/sample, 8-bit stream, "
         "1 element/clock)", {}),
        ("64-bit stream, 8 elements/clock", s8),
        ("+ 20 us per command", c20),
        ("+ input frames prebuilt (no per-byte host work)", pre),
        ("+ loss on chip (1 us/sample of host)", loss),
        ("+ 32 elements/clock", wide),
    ]
    out = []
    for name, kw in cases:
        row = {"case": name, **kw}
        for x in (1, 10):
            row[f"cells_per_clock_{x}x"] = cells_per_clock_needed(x * twin_samples_per_s,
                                                                 plan, **kw)
        out.append(row)
    return out


#: the twin's training throughput the projection is set against by default: `memhil bench
#: board` measured 8,246-8,750 samples/s for 784-256-128-10 at batch 32 on the 2-core build VM
#: (docs/performance.md); `memhil bench board` measures it in its own run.
TWIN_SAMPLES_PER_S = 8000.0


def run(json_out: bool = False, *, twin_samples_per_s: float = TWIN_SAMPLES_PER_S) -> dict:
    """`memhil bench onchip`: the integer training step's needs on the PL for the paper network
    (state, arithmetic, bytes) and the cells per clock for 1x and 10x the twin. Arithmetic only:
    nothing is simulated or measured here."""
    plan = onchip_plan()
    rows = table(twin_samples_per_s, plan)
    # JSON has no infinity: a target the host and stream alone cannot meet is null there
    json_rows = [{k: (None if isinstance(v, float) and math.isinf(v) else v)
                  for k, v in r.items()} for r in rows]
    res = {"network": plan["network"], "batch": plan["batch"], "plan": plan,
           "twin_samples_per_s": twin_samples_per_s,
           "cells_per_clock_needed": json_rows,
           "assumptions": {"clock_hz": CLOCK_HZ, "host_us_per_command": HOST_US_PER_COMMAND,
                           "host_ns_per_byte": HOST_NS_PER_BYTE,
                           "host_us_per_sample": HOST_US_PER_SAMPLE_ONCHIP,
                           "sequential": True}}
    if not json_out:
        net = "-".join(str(n) for n in plan["network"])
        st = plan["state_bits"]
        print(f"on-PL training step, {net}, batch {plan['batch']} (docs/onchip-training.md)")
        print(f"  on-chip state: {st['total']:,} bits (~{math.ceil(st['total'] / 36864)} "
              f"BRAM36); bytes per minibatch: {plan['bytes']['total']:,} in 2 commands; "
              f"cell operations: {plan['cell_ops']:,}")
        print(f"  cells per clock needed at {CLOCK_HZ / 1e6:.0f} MHz against a twin of "
              f"{twin_samples_per_s:,.0f} samples/s:")
        for r in rows:
            one, ten = r["cells_per_clock_1x"], r["cells_per_clock_10x"]
            fmt = lambda v: "impossible" if math.isinf(v) else f"{v:,.0f}"   # noqa: E731
            print(f"    1x {fmt(one):>10}   10x {fmt(ten):>10}   {r['case']}")
    return res
