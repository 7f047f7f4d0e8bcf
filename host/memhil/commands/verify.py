"""``memhil verify``: run a random workload on a device in lockstep with the twin."""
from __future__ import annotations

HELP = "check a device (simulation, board) against the twin with a random lockstep workload"

EXAMPLES = """
  memhil verify --backend loopback --steps 50    # the twin in-process: no build, seconds
  memhil verify                                  # the Verilator RTL (built on first use)
  memhil verify --backend sim --fault-rate 0.001 # exercise the retry path
  memhil verify --backend serial --port socket://127.0.0.1:5555   # after `memhil sim-server`
  memhil verify --backend pynq --bitfile memhil.bit               # on the board
"""

BACKENDS = ("sim", "sim-uart", "twin-sim", "loopback", "serial", "pynq")


def add_arguments(p) -> None:
    from memhil.commands.common import (add_geometry_arguments, float_in_range, nonneg_int,
                                        positive_float, positive_int)
    p.add_argument("--backend", choices=BACKENDS, default="sim",
                   help="sim: Verilator build of hdl/memhil_top.sv behind a socket; "
                        "sim-uart: the same behind memhil_uart_top; twin-sim: the twin behind a "
                        "socket; loopback: the twin in-process; serial: --port; pynq: --bitfile")
    p.add_argument("--steps", type=positive_int, default=200,
                   help="random operations per update mode")
    p.add_argument("--seed", type=nonneg_int, default=0, help="seed of the random workload")
    p.add_argument("--modes", default="rounding,coincidence",
                   help="comma-separated update modes to run (rounding, coincidence)")
    add_geometry_arguments(p, "sim: LANES parameter of the build")
    p.add_argument("--no-noise", action="store_true",
                   help="turn off c2c/d2d/read noise (default: on, so every path runs)")
    p.add_argument("--port", help="serial: a pyserial port or URL (e.g. /dev/ttyUSB1, "
                                  "socket://127.0.0.1:5555 from `memhil sim-server`)")
    p.add_argument("--baud", type=positive_int, default=115200, help="serial: baud rate")
    p.add_argument("--bitfile", help="pynq: the overlay's .bit (with its .hwh alongside)")
    p.add_argument("--timeout", type=positive_float, default=None,
                   help="seconds per answer (default 2; 0.1 with --fault-rate on a sim link)")
    p.add_argument("--retries", type=nonneg_int, default=None,
                   help="tries per command after the first (default 8; 100 with --fault-rate)")
    p.add_argument("--fault-rate", type=float_in_range(0.0, 1.0), default=0.0,
                   help="inject byte faults at this rate per byte (tests the retry path)")
    p.add_argument("--pause-rate", type=float_in_range(0.0, 1.0), default=0.0,
                   help="a slow device: after each received byte, with this probability, hold "
                        "the rest of the answer back for --pause-ms (nothing is lost; a correct "
                        "driver needs no retry for it)")
    p.add_argument("--pause-ms", type=float_in_range(0.0, 60000.0), default=20.0,
                   help="length of each --pause-rate pause in ms")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")


def sim_params(args, **kw):
    """``SimParams`` of the geometry flags; a value the RTL does not allow is a usage error
    naming its flag."""
    import re

    from memhil.commands.common import UsageError
    from memhil.runtime import sim_link
    try:
        return sim_link.SimParams(rows=args.rows, cols=args.cols, tiles=args.tiles,
                                  lanes=args.lanes, **kw)
    except ValueError as e:
        m = re.match(r"(\w+)=", str(e))
        name = m.group(1) if m else "rows"
        raise UsageError("--" + name.replace("_", "-"), str(e)) from None


def open_backend(args):
    """A transport for ``args.backend`` (the caller wraps it in a LockstepCrossbar)."""
    from pathlib import Path

    from memhil.commands.common import UsageError
    from memhil.runtime import sim_link
    from memhil.runtime.transport import LoopbackTransport, SerialTransport

    if args.backend in ("sim", "sim-uart", "twin-sim"):
        params = sim_params(args, uart=args.backend == "sim-uart")
        model = "twin" if args.backend == "twin-sim" else "rtl"
        srv = sim_link.start_server(model, params, verbose=True)
        return sim_link.SimTransport(srv)
    if args.backend == "loopback":
        from memhil.runtime.device_model import TwinDevice

        return LoopbackTransport(TwinDevice(args.rows, args.cols, args.tiles, g_w=8))
    if args.backend == "serial":
        if not args.port:
            raise UsageError("--port", "--backend serial needs --port (a device or URL)")
        return SerialTransport(args.port, baudrate=args.baud)
    if args.backend == "pynq":
        from memhil.runtime.pynq_transport import PynqTransport

        if not args.bitfile:
            raise UsageError("--bitfile", "--backend pynq needs --bitfile (the overlay's .bit)")
        if not Path(args.bitfile).is_file():
            raise UsageError("--bitfile", f"{args.bitfile} does not exist")
        return PynqTransport.from_bitfile(args.bitfile)
    raise UsageError("--backend", f"{args.backend} is not allowed")


def run(args) -> int:
    import json
    import sys
    import time

    import torch
    from tqdm import tqdm

    from memhil.runtime.driver import DeviceError, LinkError
    from memhil.runtime.lockstep import DivergenceError, LockstepCrossbar
    from memhil.runtime.transport import FaultyTransport
    from memhil.runtime.workload import compare_state, random_session

    from memhil.commands.common import UsageError
    from memhil.config import UPDATE_MODES

    torch.set_num_threads(1)     # one command at a time: small tensors, no thread gains
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    bad = [m for m in modes if m not in UPDATE_MODES]
    if bad or not modes:
        raise UsageError("--modes", f"{','.join(bad) or 'nothing'} is not allowed: "
                                    f"comma-separated modes from {', '.join(UPDATE_MODES)}")
    summary = {"backend": args.backend, "steps": args.steps, "seed": args.seed, "modes": {}}
    code = 0
    from memhil.runtime.sim_link import SimBuildError
    from memhil.runtime.transport import TransportError

    try:
        tr = open_backend(args)
    except (TransportError, SimBuildError, OSError) as e:
        print(f"memhil verify: error: cannot open the {args.backend} backend: "
              f"{str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__}",
              file=sys.stderr)
        return 1
    if args.fault_rate or args.pause_rate:
        tr = FaultyTransport(tr, args.fault_rate, seed=args.seed, pause_rate=args.pause_rate,
                             pause_s=args.pause_ms / 1e3)
    t_start = time.monotonic()
    try:
        timeout = args.timeout if args.timeout is not None else (
            0.1 if args.fault_rate and args.backend != "serial" else 2.0)
        retries = args.retries if args.retries is not None else (100 if args.fault_rate else 8)
        xb = LockstepCrossbar(tr, timeout=timeout, retries=retries)
        for mode in modes:
            t0 = time.monotonic()
            with tqdm(total=args.steps, desc=f"verify {mode}", unit="op", file=sys.stderr,
                      disable=args.json or not sys.stderr.isatty()) as bar:
                rep = random_session(xb, mode, args.steps, args.seed, noisy=not args.no_noise,
                                     progress=bar)
            diff = compare_state(xb.snapshot(), xb.twin)
            summary["modes"][mode] = {"ops": rep.counts, "pulses": rep.pulses,
                                      "seconds": round(time.monotonic() - t0, 3),
                                      "state_differs": diff}
            if diff:
                code = 1
                print(f"memhil verify: {mode}: final state differs in {diff}", file=sys.stderr)
        summary["link"] = xb.stats.as_dict()
        summary["counters"] = xb.counters()
    except DivergenceError as e:
        print(f"memhil verify: error: DIVERGENCE: {e}", file=sys.stderr)
        summary["divergence"] = str(e)
        code = 1
    except (LinkError, DeviceError) as e:
        print(f"memhil verify: error: {type(e).__name__}: {e}", file=sys.stderr)
        summary["error"] = str(e)
        code = 1
    finally:
        tr.close()
    if isinstance(tr, FaultyTransport):
        summary["faults_injected"] = tr.stats.injected
        summary["pauses"] = tr.pauses
    summary["seconds"] = round(time.monotonic() - t_start, 3)
    summary["ok"] = code == 0
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        for mode, m in summary["modes"].items():
            print(f"{mode:12s} {sum(m['ops'].values())} ops, {m['pulses']} pulses, "
                  f"{m['seconds']} s, state {'DIFFERS ' + str(m['state_differs']) if m['state_differs'] else 'matches the twin'}")
        print("OK: no divergence" if code == 0 else "FAILED")
    return code
