"""``memhil sim-server``: run the simulated device behind a loopback socket and print its URL."""
from __future__ import annotations

HELP = "serve the simulated crossbar (Verilator RTL or twin) on a loopback socket"

EXAMPLES = """
  memhil sim-server --model twin                 # no Verilator needed; prints socket://...
  memhil sim-server --port 5555                  # the RTL (built on first use, about 2 min)
  memhil sim-server --build-only                 # build (or find cached) and print the binary
  memhil verify --backend serial --port socket://127.0.0.1:5555   # talk to it
"""


def add_arguments(p) -> None:
    from memhil.commands.common import (add_geometry_arguments, int_in_range, nonneg_int,
                                        positive_int)
    p.add_argument("--model", choices=("rtl", "twin"), default="rtl",
                   help="rtl: Verilator build of hdl/ (built on first use, cached); "
                        "twin: the protocol-level twin (no Verilator needed)")
    p.add_argument("--uart", action="store_true",
                   help="rtl: simulate memhil_uart_top (the UART bridge) instead of memhil_top")
    add_geometry_arguments(p, "columns read or written per clock (LANES)")
    p.add_argument("--g-w", type=positive_int, default=8, help="conductance register width G_W")
    p.add_argument("--port", type=int_in_range(0, 65535), default=0,
                   help="TCP port on 127.0.0.1 (0: any free)")
    p.add_argument("--idle-us", type=nonneg_int, default=200,
                   help="idle gap (microseconds) that marks TLAST on the byte link; 0: per chunk")
    p.add_argument("--build-only", action="store_true",
                   help="rtl: build (or find in the cache) and print the binary's path")


def _check_port_free(port: int) -> None:
    """A usage error when ``--port`` is taken on the loopback interface (found before the
    server starts, rather than as a child process's traceback)."""
    import socket

    from memhil.commands.common import UsageError
    from memhil.runtime.sim_link import LOOPBACK
    if not port:
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((LOOPBACK, port))
        except OSError as e:
            raise UsageError("--port", f"{LOOPBACK}:{port} is not free ({e.strerror or e}): "
                                       f"pick another port, or 0 for any free one") from None


def run(args) -> int:
    import signal
    import sys

    from memhil.commands.verify import sim_params
    from memhil.runtime import sim_link

    params = sim_params(args, g_w=args.g_w, uart=args.uart)
    if args.build_only:
        print(sim_link.build_sim(params, verbose=True))
        return 0
    _check_port_free(args.port)
    srv = sim_link.start_server(args.model, params, port=args.port, idle_us=args.idle_us,
                                verbose=True)
    print(srv.url, flush=True)
    print(f"serving the {args.model} model ({params.rows}x{params.cols}, tiles={params.tiles}"
          f"{', UART top' if args.uart else ''}) on {srv.url}; open it with "
          f"serial.serial_for_url({srv.url!r}) or `memhil verify --backend serial --port "
          f"{srv.url}`. Ctrl-C stops it.", file=sys.stderr, flush=True)
    signal.signal(signal.SIGTERM, lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        srv.proc.wait()
    except KeyboardInterrupt:
        pass
    finally:
        srv.close()
    return 0
