"""``memhil board-server``: on the PYNQ board, serve the overlay's DMA on a TCP socket (PC-driven
mode; the byte stream of ``memhil sim-server``)."""
from __future__ import annotations

HELP = "on the board: serve the overlay's crossbar on a TCP socket for a PC (PC-driven mode)"

EXAMPLES = """
  memhil board-server --bitfile memhil.bit                 # 127.0.0.1:5555 (an SSH tunnel)
  memhil board-server --bitfile memhil.bit --host 0.0.0.0  # reachable from the network
  # then, on the PC (torch, lockstep against the twin):
  memhil verify --backend serial --port socket://pynq:5555
  memhil train --backend board --port socket://pynq:5555 --out runs/b1
"""


def add_arguments(p) -> None:
    from memhil.commands.common import int_in_range, nonneg_int, positive_float
    p.add_argument("--bitfile", metavar="FILE", required=True,
                   help="the overlay's .bit (its .hwh beside it), built by bitstreams/")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on; 0.0.0.0 exposes the crossbar, unauthenticated, "
                        "to every machine that can reach the board")
    p.add_argument("--port", type=int_in_range(0, 65535), default=5555,
                   help="TCP port (0: any free one, printed at start)")
    p.add_argument("--idle-us", type=nonneg_int, default=1000,
                   help="idle gap (microseconds) that ends a packet (one DMA transfer); "
                        "0: every received chunk")
    p.add_argument("--dma-timeout", type=positive_float, default=2.0,
                   help="seconds a DMA transfer may take before the device counts as stuck")


def _check_port_free(host: str, port: int) -> None:
    import socket

    from memhil.commands.common import UsageError
    if not port:
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as e:
            raise UsageError("--port" if e.errno == 98 else "--host",
                             f"cannot listen on {host}:{port} ({e.strerror or e}): pick "
                             f"another port (0: any free one) or address") from None


def run(args) -> int:
    import signal
    import sys
    import threading
    from pathlib import Path

    from memhil.commands.common import UsageError
    from memhil.runtime.board_server import BANNER, BoardServer
    from memhil.runtime.pynq_transport import PynqTransport

    bit = Path(args.bitfile)
    if not bit.is_file():
        raise UsageError("--bitfile", f"{bit} does not exist")
    _check_port_free(args.host, args.port)
    tr = PynqTransport.from_bitfile(str(bit), dma_timeout=args.dma_timeout)
    try:
        srv = BoardServer(tr, host=args.host, port=args.port, idle_s=args.idle_us * 1e-6)
        run.server = srv                        # tests stop it through this
        print(f"{BANNER}{srv.url}", flush=True)
        print(f"serving {tr.describe()} on {srv.url}; on the PC: `memhil train --backend board "
              f"--port socket://<board>:{srv.port}` or `memhil verify --backend serial --port "
              f"socket://<board>:{srv.port}`. Ctrl-C stops it.", file=sys.stderr, flush=True)
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, lambda *a: srv._stop.set())
        srv.serve_forever()                     # until Ctrl-C (exit 130) or SIGTERM (exit 0)
        srv.sock.close()
    finally:
        tr.close()
    return 0
