"""PC-driven mode: the board's DMA behind a TCP socket, with the byte stream of ``memhil sim-server``.

``memhil board-server --bitfile memhil.bit`` runs on the PYNQ board; a PC then reaches the
crossbar exactly as it reaches the simulation server, through pyserial's ``socket://`` URL
(:class:`~memhil.runtime.transport.SerialTransport`)::

    memhil train  --backend board  --port socket://BOARD:5555 --out runs/b1
    memhil verify --backend serial --port socket://BOARD:5555

The byte stream (contract §8): command bytes in, response bytes out. A packet ends after an
idle gap (:class:`~memhil.runtime.sim_link.IdleGapFramer`, the same logic as the simulation
server and the UART bridge); each packet goes to the device as one DMA transfer (its last byte
carries TLAST), and every response frame the DMA brings back is streamed to the client.

One client at a time; a new connection takes the link over from the current one (a PC whose
run died leaves no stale connection that locks the board). The device state survives
reconnects. The server never blocks on a client: the socket is non-blocking, answers wait in a
buffer, and a client that reads nothing for ``stall_s`` (or lets ``max_backlog`` bytes pile
up) is dropped.
"""
from __future__ import annotations

import select
import socket
import sys
import threading
import time

from memhil.runtime.sim_link import IdleGapFramer
from memhil.runtime.transport import Transport, TransportError

BANNER = "memhil-board listening on "


class _DmaSink:
    """``feed(data, tlast)`` for :class:`IdleGapFramer`: bytes collect until TLAST, then the
    packet is one DMA transfer (longer packets, only ever garbage, are cut into transfers of
    the DMA buffer's size). Answers come back through :meth:`poll`."""

    def __init__(self, transport: Transport, max_transfer: int):
        self.transport = transport
        self.max_transfer = max_transfer
        self.buf = bytearray()
        self.sent_at = -1e9         # time.monotonic() of the last transfer

    def feed(self, data: bytes, tlast: bool) -> bytes:
        self.buf += data
        while len(self.buf) > self.max_transfer:
            self._send(bytes(self.buf[:self.max_transfer]))
            del self.buf[:self.max_transfer]
        if tlast and self.buf:
            self._send(bytes(self.buf))
            self.buf.clear()
        return b""

    def _send(self, packet: bytes) -> None:
        self.transport.write(packet)
        self.sent_at = time.monotonic()

    def poll(self) -> bytes:
        out = b""
        while True:                       # one S2MM transfer (response frame) per read
            data = self.transport.read(0.0)
            if not data:
                return out
            out += data


class BoardServer:
    """``transport`` (a :class:`~memhil.runtime.pynq_transport.PynqTransport`, or any
    frame-oriented transport) behind a TCP socket on ``host:port``.

    ``idle_s``: the gap that ends a packet (default 1 ms: well under the client's 5 ms quiet
    window, well over the gaps inside one TCP write on a LAN). ``answer_s``: after a transfer,
    the device is polled every ``poll_s`` for this long; otherwise every 50 ms."""

    def __init__(self, transport: Transport, *, host: str = "127.0.0.1", port: int = 0,
                 idle_s: float = 0.001, poll_s: float = 0.0002, answer_s: float = 2.0,
                 stall_s: float = 10.0, max_backlog: int = 1 << 20, log=None):
        from memhil.runtime.pynq_transport import MAX_FRAME

        self.transport = transport
        self.idle_s, self.poll_s, self.answer_s = float(idle_s), float(poll_s), float(answer_s)
        self.stall_s, self.max_backlog = float(stall_s), int(max_backlog)
        self.log = log if log is not None else (lambda msg: print(msg, file=sys.stderr,
                                                                  flush=True))
        self.sink = _DmaSink(transport, MAX_FRAME)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(2)
        self.sock.setblocking(False)
        self.host, self.port = self.sock.getsockname()[:2]
        self.clients = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"socket://{self.host}:{self.port}"

    def start(self) -> "BoardServer":
        """Serve in a daemon thread (tests, notebooks); :meth:`stop` ends it."""
        self._thread = threading.Thread(target=self.serve_forever, daemon=True,
                                        name="memhil-board-server")
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)
        self.sock.close()

    # ------------------------------------------------------------------ the loop
    def serve_forever(self) -> None:
        conn: socket.socket | None = None
        framer: IdleGapFramer | None = None
        out = bytearray()
        last_progress = time.monotonic()
        try:
            while not self._stop.is_set():
                busy = time.monotonic() - self.sink.sent_at < self.answer_s
                wait = self.poll_s if busy else 0.05
                if framer is not None:
                    wait = framer.timeout(wait)
                rlist = [self.sock] + ([conn] if conn is not None else [])
                wlist = [conn] if conn is not None and out else []
                r, w, _ = select.select(rlist, wlist, [], wait)
                if self.sock in r:
                    new = self._accept()
                    if new is not None:
                        if conn is not None:
                            self.log("a new client takes the link over from the current one")
                            self._drop(conn, framer)
                        conn, framer, out = new, IdleGapFramer(self.sink.feed, self.idle_s), \
                            bytearray()
                        last_progress = time.monotonic()
                if conn is not None and conn in r:
                    try:
                        data = conn.recv(65536)
                    except BlockingIOError:
                        data = None
                    except OSError:
                        data = b""
                    if data == b"":
                        self._drop(conn, framer)
                        conn = framer = None
                        out.clear()
                    elif data:
                        self._to_device(framer.received, data)
                if framer is not None:
                    self._to_device(framer.idle)
                answer = self.sink.poll()
                if conn is None:
                    continue                  # nobody to tell: the answer is dropped
                out += answer
                if out and (conn in w or answer):
                    try:
                        n = conn.send(out)
                        del out[:n]
                        if n:
                            last_progress = time.monotonic()
                    except BlockingIOError:
                        pass
                    except OSError:
                        self._drop(conn, framer)
                        conn = framer = None
                        out.clear()
                        continue
                if not out:
                    last_progress = time.monotonic()
                elif (len(out) > self.max_backlog
                      or time.monotonic() - last_progress > self.stall_s):
                    self.log(f"dropping a client that reads no answers ({len(out)} bytes "
                             f"waiting)")
                    self._drop(conn, framer)
                    conn = framer = None
                    out.clear()
        finally:
            if conn is not None:
                self._drop(conn, framer)

    def _to_device(self, fn, *args) -> None:
        try:
            fn(*args)
        except TransportError as e:       # the DMA did not take the packet: the client retries
            self.sink.buf.clear()
            self.log(f"device: {e}")

    def _accept(self) -> socket.socket | None:
        try:
            conn, addr = self.sock.accept()
        except (BlockingIOError, OSError):
            return None
        conn.setblocking(False)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.clients += 1
        self.log(f"client {addr[0]}:{addr[1]} connected")
        return conn

    def _drop(self, conn: socket.socket, framer: IdleGapFramer | None) -> None:
        try:
            if framer is not None:
                framer.close()                # its last bytes still end a packet
        except TransportError as e:
            self.log(f"the device refused the last packet: {e}")
        try:
            conn.close()
        except OSError:  # pragma: no cover
            pass
