"""Transports: how command bytes reach a device and response bytes come back.

A transport is deliberately small (bytes in, bytes out, timeouts) so that the driver
(:class:`memhil.runtime.driver.Crossbar`) runs unchanged over every backend:

========================  ==============================================================
:class:`LoopbackTransport` in-process :class:`~memhil.runtime.device_model.TwinDevice`
:class:`SerialTransport`   pyserial: a board's UART (``/dev/ttyUSB1``) or any pyserial URL,
                           e.g. the live simulation's ``socket://127.0.0.1:PORT``
``PynqTransport``          AXI DMA streams + MMIO on a PYNQ board
                           (:mod:`memhil.runtime.pynq_transport`; imports pynq there only)
:class:`FaultyTransport`   wraps any of them and corrupts, drops or duplicates bytes
========================  ==============================================================

``write(data)`` sends one command frame; on a link with TLAST (AXI4-Stream) the frame's last
byte carries TLAST, on a byte link the device's bridge marks TLAST after an idle gap.
``read(timeout)`` returns the bytes that arrived within ``timeout`` seconds (``b""`` if none);
it never blocks longer. ``quiet_s`` is how long the link must be silent before the driver may
assume that a device which answered with an error has finished answering (at least the
bridge's idle gap on byte links). It is not a limit on pauses inside a response: while part
of the answer it waits for has arrived, the driver waits for the rest until its timeout (a
slow device, or a USB-UART that holds bytes for its 16 ms latency timer, is not a fault).
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass, field


class TransportError(RuntimeError):
    """The link itself failed (closed socket, missing port): not a protocol error."""


class Transport:
    """Base class; see the module docstring."""

    name = "transport"
    quiet_s = 0.005
    #: seconds per byte on the wire (UARTs: 10 bits per byte); the driver adds it to timeouts
    byte_s = 0.0
    #: True when ``read`` cannot receive anything that was not already produced by ``write``
    #: (in-process devices): the driver then never waits for a timeout.
    synchronous = False
    #: the longest frame (bytes) this transport can carry in one piece; None: no limit
    max_frame: int | None = None

    def write(self, data: bytes) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def read(self, timeout: float) -> bytes:  # pragma: no cover - interface
        raise NotImplementedError

    def drain(self, quiet: float | None = None, limit: float = 1.0) -> bytes:
        """Read until the link has been silent for ``quiet`` seconds (at most ``limit``)."""
        quiet = self.quiet_s if quiet is None else quiet
        out = bytearray()
        end = time.monotonic() + limit
        while time.monotonic() < end:
            chunk = self.read(quiet)
            if not chunk:
                break
            out += chunk
        return bytes(out)

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def describe(self) -> str:
        return self.name


class LoopbackTransport(Transport):
    """In-process transport to a :class:`TwinDevice` (each ``write`` is one TLAST packet)."""

    name = "loopback"
    quiet_s = 0.0
    synchronous = True

    def __init__(self, device):
        self.device = device
        self._rx = bytearray()

    def write(self, data: bytes) -> None:
        self._rx += self.device.feed(bytes(data), tlast=True)

    def read(self, timeout: float) -> bytes:
        out = bytes(self._rx)
        self._rx.clear()
        return out

    def describe(self) -> str:
        d = self.device
        return f"loopback to TwinDevice({d.rows}x{d.cols}, tiles={d.tiles})"


class SerialTransport(Transport):
    """pyserial: a UART (``port="/dev/ttyUSB1"``) or a URL (``"socket://127.0.0.1:5555"``).

    Every read has a timeout; the port is opened with ``timeout=0`` semantics per call.
    ``idle_s`` is the device bridge's idle gap (``IDLE_BYTES`` byte times on a UART) that ends a
    packet; the driver waits at least that long before retrying after an error.
    """

    name = "serial"

    def __init__(self, url: str, *, baudrate: int = 115200, idle_s: float | None = None,
                 open_timeout: float = 5.0):
        import serial  # pyserial

        self.url = url
        self.baudrate = baudrate
        deadline = time.monotonic() + open_timeout
        last: Exception | None = None
        while True:
            try:
                self.port = serial.serial_for_url(url, baudrate=baudrate, timeout=0.1,
                                                  write_timeout=5.0)
                break
            except (serial.SerialException, OSError) as e:  # server not listening yet
                last = e
                if time.monotonic() > deadline:
                    raise TransportError(
                        f"cannot open {url!r}: {e}. Is the device connected, or is "
                        f"`memhil sim-server` running and printing this URL?") from last
                time.sleep(0.05)
        is_socket = url.startswith("socket://")
        self.byte_s = 0.0 if is_socket else 10.0 / baudrate
        if idle_s is None:
            # socket links: the simulation bridge's idle gap is well under 5 ms;
            # UARTs: 32 byte times (10 bits each) plus scheduling slack
            idle_s = 0.005 if is_socket else 320.0 / baudrate + 0.01
        self.quiet_s = idle_s + 0.002

    def write(self, data: bytes) -> None:
        try:
            self.port.write(bytes(data))
            self.port.flush()
        except Exception as e:  # serial.SerialException, OSError, SerialTimeoutException
            raise TransportError(f"write to {self.url!r} failed: {e}") from e

    def _set_timeout(self, t: float) -> None:
        if self.port.timeout != t:          # a real UART reconfigures termios on every change
            self.port.timeout = t

    def read(self, timeout: float) -> bytes:
        try:
            n = self.port.in_waiting
            if n:
                return self.port.read(n)
            self._set_timeout(max(0.0, timeout))
            first = self.port.read(1)
            if not first:
                return b""
            n = self.port.in_waiting
            if not n:
                return first
            self._set_timeout(0)
            return first + self.port.read(n)
        except Exception as e:
            raise TransportError(f"read from {self.url!r} failed: {e}") from e

    def close(self) -> None:
        try:
            self.port.close()
        except Exception:
            pass

    def describe(self) -> str:
        return f"serial {self.url}"


@dataclass
class FaultStats:
    injected: int = 0
    by_kind: dict = field(default_factory=lambda: {"corrupt": 0, "drop": 0, "dup": 0})
    by_dir: dict = field(default_factory=lambda: {"tx": 0, "rx": 0})


class FaultyTransport(Transport):
    """Wrap ``inner`` and inject byte faults at ``rate`` per byte (seeded, reproducible).

    Each byte that passes (host->device ``tx`` and/or device->host ``rx``) is, with
    probability ``rate``, corrupted (one bit flipped), dropped, or duplicated. ``max_faults``
    stops injecting after that many (so a test can end on a clean link).

    ``pause_rate``/``pause_s`` make a slow but correct device: after a received byte, with
    probability ``pause_rate``, the bytes after it are held back for ``pause_s`` seconds
    (nothing is lost or changed). Pauses draw from their own seeded generator, so adding them
    leaves the sequence of byte faults unchanged.
    """

    KINDS = ("corrupt", "drop", "dup")

    def __init__(self, inner: Transport, rate: float, *, seed: int = 0,
                 directions: tuple[str, ...] = ("tx", "rx"), kinds: tuple[str, ...] = KINDS,
                 max_faults: int | None = None, pause_rate: float = 0.0,
                 pause_s: float = 0.0):
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate={rate!r} is not allowed: must be in [0, 1]")
        if not 0.0 <= pause_rate <= 1.0:
            raise ValueError(f"pause_rate={pause_rate!r} is not allowed: must be in [0, 1]")
        if not 0.0 <= pause_s <= 60.0:
            raise ValueError(f"pause_s={pause_s!r} is not allowed: must be in [0, 60] seconds")
        bad = [k for k in kinds if k not in self.KINDS]
        if bad:
            raise ValueError(f"kinds={bad!r} is not allowed: must be among {self.KINDS}")
        self.inner = inner
        self.rate = rate
        self.rng = random.Random(seed)
        self.directions = tuple(directions)
        self.kinds = tuple(kinds)
        self.max_faults = max_faults
        self.stats = FaultStats()
        self.pause_rate = float(pause_rate)
        self.pause_s = float(pause_s)
        self.pauses = 0
        self._prng = random.Random(seed ^ 0x5EED5)
        self._held = b""
        self._release = 0.0
        self.name = f"faulty({inner.name})"
        self.quiet_s = inner.quiet_s
        self.byte_s = inner.byte_s
        # a held-back answer arrives later: the driver must wait for it, not poll once
        self.synchronous = inner.synchronous and not (self.pause_rate and self.pause_s)

    def enabled(self, on: bool = True) -> None:
        self.rate = self.rate if on else 0.0

    def _mangle(self, data: bytes, direction: str) -> bytes:
        if direction not in self.directions or self.rate == 0.0:
            return data
        out = bytearray()
        rng = self.rng
        for b in data:
            if (self.max_faults is not None and self.stats.injected >= self.max_faults) \
                    or rng.random() >= self.rate:
                out.append(b)
                continue
            kind = rng.choice(self.kinds)
            self.stats.injected += 1
            self.stats.by_kind[kind] += 1
            self.stats.by_dir[direction] += 1
            if kind == "corrupt":
                out.append(b ^ (1 << rng.randrange(8)))
            elif kind == "dup":
                out += bytes([b, b])
        return bytes(out)

    def write(self, data: bytes) -> None:
        self.inner.write(self._mangle(bytes(data), "tx"))

    def _pause(self, data: bytes, first: int = 0) -> bytes:
        """Hold back the bytes from a randomly chosen one on (see the class docstring);
        ``first``: the index of the first byte that may be held."""
        if self.pause_rate == 0.0 or self.pause_s == 0.0:
            return data
        for i in range(first, len(data)):
            if self._prng.random() < self.pause_rate:
                self.pauses += 1
                self._held = data[i:]
                self._release = time.monotonic() + self.pause_s
                return data[:i]
        return data

    def read(self, timeout: float) -> bytes:
        if self._held:
            wait = self._release - time.monotonic()
            if wait > 0:
                time.sleep(min(wait, max(0.0, timeout)))
                if wait > timeout:
                    return b""
            data, self._held = self._held, b""
            data = self._pause(data, 1)          # the released byte itself goes now
        else:
            data = self._pause(self.inner.read(timeout))
        return self._mangle(data, "rx")

    def close(self) -> None:
        self.inner.close()

    def describe(self) -> str:
        pauses = (f", pauses of {self.pause_s * 1e3:.0f} ms at rate {self.pause_rate}"
                  if self.pause_rate and self.pause_s else "")
        return f"{self.inner.describe()} with faults (rate {self.rate}{pauses})"
