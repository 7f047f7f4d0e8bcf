"""``memhil sim-server``: run the simulated device behind a loopback socket and print its URL."""
from __future__ import annotations

HELP = "serve the simulated crossbar (Verilator RTL or twin) on a loopback socket"


def add_arguments(p) -> None:
    p.add_argument("--model", choices=("rtl", "twin"), default="rtl",
                   help="rtl: Verilator build of hdl/ (built on first use, cached); "
                        "twin: the protocol-level twin (no Verilator needed)")
    p.add_argument("--uart", action="store_true",
                   help="rtl: simulate memhil_uart_top (the UART bridge) instead of memhil_top")
    p.add_argument("--rows", type=int, default=8)
    p.add_argument("--cols", type=int, default=8)
    p.add_argument("--tiles", type=int, default=1)
    p.add_argument("--lanes", type=int, default=4)
    p.add_argument("--g-w", type=int, default=8, help="conductance register width G_W")
    p.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0: any free)")
    p.add_argument("--idle-us", type=int, default=200,
                   help="idle gap (microseconds) that marks TLAST on the byte link; 0: per chunk")
    p.add_argument("--build-only", action="store_true",
                   help="rtl: build (or find in the cache) and print the binary's path")


def run(args) -> int:
    import signal
    import sys

    from memhil.runtime import sim_link

    params = sim_link.SimParams(rows=args.rows, cols=args.cols, tiles=args.tiles,
                                lanes=args.lanes, g_w=args.g_w, uart=args.uart)
    if args.build_only:
        print(sim_link.build_sim(params, verbose=True))
        return 0
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
