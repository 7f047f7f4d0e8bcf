"""The simulation server (sim/host_link/main.cpp) against clients that misbehave (issue #9).

One main loop runs the Verilator model and serves two loopback sockets: the command/stream port
and the AXI4-Lite MMIO side channel. No client may hold that loop up:

* an MMIO client that sends half a request and waits (it used to block the loop in a read of
  the rest, so PING on the command port went unanswered);
* a command client that sends commands and never reads the answers (it used to block the loop
  in a send, so the MMIO side channel went dead);
* hostile bytes on either port (random bytes, truncated frames, bad CRCs, huge LENs, invalid
  opcodes and arguments): each gets its error answer, nothing else changes, and the device
  then still agrees with a lockstep twin that never saw them.

Every wait has a generous deadline; nothing depends on a short fixed time window.
"""
import random
import select
import socket
import struct
import time

import pytest

from memhil.contract.spec import SPEC
from memhil.runtime import protocol as pr
from memhil.runtime import sim_link
from memhil.runtime.driver import Crossbar
from memhil.runtime.lockstep import LockstepCrossbar
from memhil.runtime.protocol import Op, Status
from memhil.runtime.transport import SerialTransport
from memhil.runtime.workload import compare_state, random_session

pytestmark = [
    pytest.mark.sim,
    pytest.mark.xdist_group("sim-rtl"),
]

# the parameters of tests/test_sim_link.py: the cached build is shared
PARAMS = sim_link.SimParams(rows=8, cols=8, tiles=1, lanes=4, g_w=8)
R, C, T = PARAMS.rows, PARAMS.cols, PARAMS.tiles
ANSWER_S = 30.0          # the most any single answer may take on a busy machine
SLVERR = 2


@pytest.fixture
def server():
    srv = sim_link.start_server("rtl", PARAMS, start_timeout=120)
    assert srv.mmio_url, "the AXI build prints an MMIO port"
    yield srv
    srv.close()


def _addr(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("socket://").rsplit(":", 1)
    return host, int(port)


def _connect(url: str, *, rcvbuf: int | None = None) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:                     # before connect: it sets the TCP window
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(ANSWER_S)
    s.connect(_addr(url))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def _recv_exact(s: socket.socket, n: int, timeout: float = ANSWER_S, what: str = "") -> bytes:
    deadline = time.monotonic() + timeout
    out = b""
    while len(out) < n:
        left = deadline - time.monotonic()
        r, _, _ = select.select([s], [], [], max(0.0, left))
        if not r:
            pytest.fail(f"no answer {what} within {timeout:.0f} s ({len(out)} of {n} bytes): "
                        f"the simulation loop is blocked")
        chunk = s.recv(n - len(out))
        assert chunk, f"the server closed the connection {what}"
        out += chunk
    return out


def _mmio_request(write: bool, addr: int, value: int = 0) -> bytes:
    return struct.pack("<cHI", b"W" if write else b"R", addr & 0xFFFF, value & 0xFFFFFFFF)


def _mmio(m: socket.socket, write: bool, addr: int, value: int = 0) -> tuple[int, int]:
    m.sendall(_mmio_request(write, addr, value))
    return struct.unpack("<BI", _recv_exact(m, 5, what=f"to the MMIO request at 0x{addr:03x}"))


def _crossbar(srv) -> Crossbar:
    """A plain Crossbar on the command port; it PINGs in its constructor."""
    return Crossbar(SerialTransport(srv.url), timeout=5.0, retries=3)


# --------------------------------------------------------------------------- stalled clients
def test_stalled_mmio_request_does_not_freeze_the_command_port(server):
    """Half an MMIO request, with the socket kept open: the command port still answers, and
    the request completes correctly once its last bytes come."""
    m = _connect(server.mmio_url)
    try:
        m.sendall(b"R\x00")                       # 'R', addr low byte ... and then nothing
        xb = _crossbar(server)                    # PING (LinkError if the loop is stuck)
        try:
            info = xb.ping()
            assert (info["magic"], info["rows"], info["cols"], info["tiles"]) == (
                SPEC.magic, R, C, T)
            xb.write_reg(SPEC.reg("ADC_SHIFT"), 3)
            assert xb.read_reg(SPEC.reg("ADC_SHIFT")) == 3
        finally:
            xb.transport.close()
        m.sendall(b"\x00" + bytes(4))             # addr high byte (ID, 0x000) and the pad
        resp, data = struct.unpack("<BI", _recv_exact(m, 5, what="to the completed request"))
        assert (resp, data) == (0, SPEC.magic)
        assert _mmio(m, False, SPEC.reg("ADC_SHIFT")) == (0, 3)   # the same register file
        # a stalled write, too: the command port keeps answering while it waits
        m.sendall(_mmio_request(True, SPEC.reg("ADC_SHIFT"), 5)[:4])
        xb = _crossbar(server)
        try:
            assert xb.read_reg(SPEC.reg("ADC_SHIFT")) == 3
            m.sendall(_mmio_request(True, SPEC.reg("ADC_SHIFT"), 5)[4:])
            assert struct.unpack("<BI", _recv_exact(m, 5, what="to the completed write"))[0] == 0
            assert xb.read_reg(SPEC.reg("ADC_SHIFT")) == 5
            xb.write_reg(SPEC.reg("ADC_SHIFT"), 0)
        finally:
            xb.transport.close()
    finally:
        m.close()
    assert server.alive()


def test_command_client_that_does_not_read_stalls_only_itself():
    """A command client pipelines 16000 READ_CELLS (4.2 MB of answers, more than the socket
    buffers hold) and reads none of them: the MMIO side channel keeps answering all along,
    and once the client reads, it gets every answer, in order, with nothing lost or cut."""
    # The link ends a packet after an idle gap; a sender that pauses inside a frame for longer
    # (a busy machine can deschedule this process between two sends of the 224 KB stream)
    # would cut it. A 20 ms gap keeps that out of this test.
    srv = sim_link.start_server("rtl", PARAMS, idle_us=20000, start_timeout=120)
    n = 16000
    op = Op.READ_CELLS
    seqs = [1 + i % 255 for i in range(n)]        # consecutive SEQs differ: no replays
    blob = b"".join(pr.encode_command(s, op, pr.pack_range(0, 0, R * C)) for s in seqs)
    size = len(pr.encode_response(0, op, 0, bytes(4 * R * C)))
    c = _connect(srv.url, rcvbuf=4096)
    m = _connect(srv.mmio_url)
    try:
        # phase 1: send everything (the server takes it as it comes), read nothing; MMIO reads
        # (ID, CNT_BUSY) keep answering until the device has executed every command (CNT_BUSY
        # stops moving) while the answers wait in the server
        c.sendall(blob)
        deadline = time.monotonic() + 300
        busy, since = None, time.monotonic()
        while True:
            assert _mmio(m, False, SPEC.reg("ID")) == (0, SPEC.magic)
            resp, now_busy = _mmio(m, False, SPEC.reg("CNT_BUSY"))
            assert resp == 0
            now = time.monotonic()
            if now_busy != busy:
                busy, since = now_busy, now
            elif now - since >= 1.0:
                break
            assert now < deadline, "the device kept executing for 300 s"
            time.sleep(0.1)
        # phase 2: read everything
        got = bytearray()
        deadline = time.monotonic() + 300
        while len(got) < n * size:
            r, _, _ = select.select([c], [], [], 1.0)
            if r:
                chunk = c.recv(1 << 16)
                assert chunk, "the server closed the connection"
                got += chunk
            assert time.monotonic() < deadline, f"only {len(got)} of {n * size} bytes in 300 s"
        rsp = pr.ResponseDecoder().feed(bytes(got[:size]))
        assert len(rsp) == 1 and rsp[0].ok and rsp[0].op == op
        want = b"".join(pr.encode_response(s, op, 0, rsp[0].payload) for s in seqs)
        if bytes(got) != want:
            k = next(i for i in range(0, n * size, size) if got[i:i + size] != want[i:i + size])
            pytest.fail(f"answer {k // size} of {n} differs: {bytes(got[k:k + size]).hex()} "
                        f"!= {want[k:k + size].hex()}")
        assert _mmio(m, False, SPEC.reg("ID")) == (0, SPEC.magic)
        c.close()
        xb = _crossbar(srv)
        try:
            assert xb.ping()["magic"] == SPEC.magic
        finally:
            xb.transport.close()
    finally:
        c.close()
        m.close()
        srv.close()


# --------------------------------------------------------------------------- fuzz
VALID_OPS = {int(o) for o in Op}
RO_ADDRS = [r.addr for r in SPEC.registers.values() if r.access == "ro"]
UNKNOWN_ADDRS = [a for a in (0x05C, 0x08C, 0x0FC, 0x100, 0x200, 0x3FC, 0xC00, 0xFFC, 0x1000,
                             0x1030, 0x8000, 0xFFFC, 0x031, 0x402, 0x803)
                 if SPEC.reg_name(a) is None]
BAD_VALUES = [("CTRL", 2), ("CTRL", 0xFFFFFFFF), ("UPDATE_MODE", 2), ("CMAX", 0),
              ("CMAX", 1 << PARAMS.g_w), ("SUB_BITS", 9), ("C0", 1 << 16), ("BL", 0),
              ("BL", 256), ("ADC_BITS", 1), ("ADC_BITS", 17), ("ADC_SHIFT", 32),
              ("C2C_Q", 1 << 14), ("D2D_Q", 1 << 14), ("RN_Q", 1 << 16)]


def _bad_tile(rng) -> int:
    return rng.randrange(T, 256)


def _range_args(rng, size: int, *, max_count: int) -> tuple[int, int, int]:
    """(tile, start, count) that break exactly one rule: tile, count 0, or the range."""
    kind = rng.randrange(3)
    if kind == 0:
        return _bad_tile(rng), rng.randrange(size), rng.randint(1, min(4, max_count))
    if kind == 1:
        return 0, rng.randrange(size), 0
    count = rng.randint(1, max_count)
    return 0, rng.randint(max(0, size - count + 1), size + 100), count


def _bad_arg_command(rng) -> tuple[int, bytes]:
    """A command with the right LEN and invalid arguments (BAD_ARG: it must change nothing)."""
    k = rng.randrange(13)
    if k == 0:
        return Op.WRITE_REG, pr.pack_write_reg(rng.choice(RO_ADDRS), rng.getrandbits(32))
    if k == 1:
        return Op.WRITE_REG, pr.pack_write_reg(rng.choice(UNKNOWN_ADDRS), rng.getrandbits(32))
    if k == 2:
        if rng.random() < 0.25:
            base = SPEC.tables["step_up_base" if rng.random() < 0.5 else "step_dn_base"]
            return Op.WRITE_REG, pr.pack_write_reg(base + 4 * rng.randrange(256),
                                                   rng.randrange(1 << 16, 1 << 32))
        name, value = rng.choice(BAD_VALUES)
        return Op.WRITE_REG, pr.pack_write_reg(SPEC.reg(name), value)
    if k == 3:
        return Op.READ_REG, pr.pack_read_reg(rng.choice(UNKNOWN_ADDRS))
    if k == 4:
        return Op.READ_CELLS, pr.pack_range(*_range_args(rng, R * C, max_count=1024))
    if k == 5:                                  # UPDATE_B: flags other than exactly 1, or B = 0
        if rng.random() < 0.5:
            return Op.UPDATE_B, struct.pack("<BBH", 0, 1, 0)
        b = rng.randint(1, 4)
        return Op.UPDATE_B, struct.pack("<BBH", 0, rng.choice([0, 2, 3, 0x80, 0xFF]), b) + \
            rng.randbytes(b * (C + R))
    if k == 6:
        return Op.READ_RNG, pr.pack_range(*_range_args(rng, R + C, max_count=1024), start16=True)
    if k == 7:                                  # WRITE_CELLS: bad range, or one code > CMAX
        if rng.random() < 0.5:
            tile, start, count = _range_args(rng, R * C, max_count=12)
            codes = [rng.randrange(8) for _ in range(2 * count)]
        else:
            tile, count = 0, rng.randint(1, 8)
            start = rng.randrange(R * C - count + 1)
            codes = [rng.randrange(8) for _ in range(2 * count)]
            codes[rng.randrange(2 * count)] = rng.choice([1 << PARAMS.g_w, 300, 0xFFFF])
        return Op.WRITE_CELLS, pr.pack_range(tile, start, count) + pr.pack_cells(codes[0::2],
                                                                                 codes[1::2])
    if k == 8:                                  # WRITE_RNG: bad range, or a state of 0
        if rng.random() < 0.5:
            tile, start, count = _range_args(rng, R + C, max_count=12)
            states = [rng.randrange(1, 1 << 32) for _ in range(count)]
        else:
            tile, count = 0, rng.randint(1, R + C)
            start = rng.randrange(R + C - count + 1)
            states = [rng.randrange(1, 1 << 32) for _ in range(count)]
            states[rng.randrange(count)] = 0
        return Op.WRITE_RNG, pr.pack_range(tile, start, count, start16=True) + pr.pack_u32s(states)
    if k == 9:                                  # FORWARD_B / TRANSPOSE_B with B = 0
        return rng.choice([Op.FORWARD_B, Op.TRANSPOSE_B]), struct.pack("<BH", 0, 0)
    if k == 10:
        return Op.FORWARD, bytes([_bad_tile(rng)]) + rng.randbytes(C)
    if k == 11:
        return Op.TRANSPOSE, bytes([_bad_tile(rng)]) + rng.randbytes(R)
    if rng.random() < 0.5:                      # UPDATE: a bad tile, or flags other than 1
        return Op.UPDATE, bytes([_bad_tile(rng), rng.randrange(256)]) + rng.randbytes(C + R)
    flags = rng.choice([0, rng.randrange(1, 128) << 1 | rng.randrange(2)])
    return Op.UPDATE, bytes([0, flags]) + rng.randbytes(C + R)


def _valid_command(rng) -> tuple[int, bytes]:
    """A valid command that would change state (sent only with a corrupted CRC)."""
    k = rng.randrange(6)
    if k == 0:
        return Op.WRITE_REG, pr.pack_write_reg(SPEC.reg("BL"), rng.randint(1, 255))
    if k == 1:
        return Op.WRITE_REG, pr.pack_write_reg(SPEC.reg("CTRL"), 1)      # clear the counters
    if k == 2:
        count = rng.randint(1, R * C)
        codes = [rng.randrange(100) for _ in range(2 * count)]
        return Op.WRITE_CELLS, pr.pack_range(0, 0, count) + pr.pack_cells(codes[0::2],
                                                                          codes[1::2])
    if k == 3:
        return Op.WRITE_RNG, pr.pack_range(0, 0, R + C, start16=True) + pr.pack_u32s(
            [rng.randrange(1, 1 << 32) for _ in range(R + C)])
    if k == 4:
        return Op.UPDATE_B, struct.pack("<BBH", 0, 1, 2) + rng.randbytes(2 * (C + R))
    return Op.UPDATE, bytes([0, 1]) + rng.randbytes(C + R)


def _frame(seq: int, op: int, payload: bytes, length: int | None = None) -> bytes:
    """A command frame with a correct CRC (and LEN = ``length`` if given)."""
    body = bytes([seq, op]) + pr.pack_len(len(payload) if length is None else length) + payload
    return bytes([pr.SOF_CMD]) + body + struct.pack("<H", pr.crc16(body))


def _hostile(rng, kind: str) -> tuple[bytes, int | None]:
    """(bytes, the status of the first answer or None if none is certain)."""
    seq = rng.randrange(256)
    if kind == "random":
        n = rng.randint(1, 48)
        if rng.random() < 0.3:                  # start bytes and short lengths
            return bytes(rng.choice([pr.SOF_CMD, 0, 1, 0xFF, rng.randrange(256)])
                         for _ in range(n)), None
        return rng.randbytes(n), None
    if kind == "bad_crc":
        op, payload = _valid_command(rng)
        f = bytearray(_frame(seq, op, payload))
        bad = struct.unpack_from("<H", f, len(f) - 2)[0] ^ rng.randrange(1, 1 << 16)
        struct.pack_into("<H", f, len(f) - 2, bad)
        return bytes(f), Status.BAD_CRC
    if kind == "huge_len":
        head = bytes([pr.SOF_CMD, seq, rng.randrange(256)]) + pr.pack_len(
            rng.choice([rng.randrange(pr.MAX_PAYLOAD + 1, 1 << 16),
                        rng.randrange(1 << 16, 1 << 24)]))
        # at least one byte after LEN: the idle gap's TLAST must not fall inside the header
        return head + bytes([0]) + rng.randbytes(rng.randint(0, 15)), Status.BAD_LEN
    if kind == "bad_op":
        op = rng.choice(sorted(set(range(256)) - VALID_OPS))
        return _frame(seq, op, rng.randbytes(rng.randint(0, 24))), Status.BAD_OP
    if kind == "bad_len":
        op = rng.choice(sorted(VALID_OPS))
        while True:
            payload = rng.randbytes(rng.randint(0, 24))
            if pr.expected_len(op, payload, R, C) != len(payload):
                return _frame(seq, op, payload), Status.BAD_LEN
    if kind == "bad_arg":
        op, payload = _bad_arg_command(rng)
        assert pr.expected_len(op, payload, R, C) == len(payload)
        return _frame(seq, op, payload), Status.BAD_ARG
    assert kind == "truncated"
    src = rng.choice(["ping", "bad_op", "bad_len", "bad_arg"])
    if src == "ping":
        f = _frame(seq, Op.PING, b"")
    else:
        f = _hostile(rng, src)[0]
    return f[:rng.randint(1, len(f) - 1)], Status.TRUNCATED


KINDS = ("random", "bad_crc", "huge_len", "bad_op", "bad_len", "bad_arg", "truncated", "mmio")
WEIGHTS = (3, 2, 1, 1, 2, 4, 2, 2)


class _Link:
    """The raw command socket: responses in order, with every one kept in ``seen``."""

    def __init__(self, url: str):
        self.s = _connect(url)
        self.dec = pr.ResponseDecoder()
        self.queue: list[pr.Response] = []
        self.seen: list[pr.Response] = []
        self.ping_seq = 0
        self.pings = 0

    def next_response(self, timeout: float) -> pr.Response | None:
        deadline = time.monotonic() + timeout
        while not self.queue:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select([self.s], [], [], left)
            if r:
                data = self.s.recv(1 << 16)
                assert data, "the server closed the command connection"
                got = self.dec.feed(data)
                self.seen += got
                self.queue += got
        return self.queue.pop(0)

    def sync(self, deadline: float) -> None:
        """PING until the PING is answered: the parser is then hunting for a new frame, and
        every answer to the bytes before it has arrived. A PING that a hostile frame swallowed
        (as its payload) goes unanswered; the next one is sent after 3 s."""
        while True:
            self.ping_seq = self.ping_seq % 255 + 1
            self.s.sendall(pr.encode_command(self.ping_seq, Op.PING))
            self.pings += 1
            try_end = min(deadline, time.monotonic() + 3.0)
            while time.monotonic() < try_end:
                r = self.next_response(try_end - time.monotonic())
                if r is not None and r.op == Op.PING and r.seq == self.ping_seq and r.ok:
                    info = pr.unpack_ping(r.payload)
                    assert (info["magic"], info["rows"], info["cols"], info["tiles"]) == (
                        SPEC.magic, R, C, T)
                    return
            assert time.monotonic() < deadline, "PING unanswered: the server is stuck"


class _Mmio:
    """The raw MMIO socket. The request stream never has a 'W' at a request start except in
    the refused writes placed there on purpose; replies are checked in order."""

    def __init__(self, url: str):
        self.s = _connect(url)
        self.sent = 0                          # bytes sent
        self.expect: list[tuple[int, int | None]] = []   # (resp or -1: OKAY/SLVERR, data)
        self.got = b""

    def junk(self, rng, n: int) -> None:
        out = bytearray(rng.randbytes(n))
        for i in range(n):
            if (self.sent + i) % 7 == 0:
                while out[i] == ord("W"):
                    out[i] = rng.randrange(256)
                self.expect.append((-1, None))           # a read of a random address
        self._send(bytes(out))

    def align(self, rng) -> None:
        if self.sent % 7:
            self.junk(rng, 7 - self.sent % 7)

    def refused_write(self, rng) -> None:
        self.align(rng)
        k = rng.randrange(4)
        if k == 0:
            addr, value = rng.choice(RO_ADDRS), rng.getrandbits(32)
        elif k == 1:                                     # unknown (AXI ignores addr[1:0])
            addr, value = rng.choice([0x08C, 0x0FC, 0x200, 0xC00, 0xFFC]), rng.getrandbits(32)
        elif k == 2:
            name, value = rng.choice(BAD_VALUES)
            addr = SPEC.reg(name)
        else:                                            # STEP entries are 16-bit
            addr, value = SPEC.tables["step_up_base"] + 4 * rng.randrange(256), 1 << 16
        self.expect.append((0, None))    # refused: OKAY, never SLVERR (contract section 7)
        self._send(_mmio_request(True, addr, value))

    def read_id(self, rng) -> None:
        self.align(rng)
        self.expect.append((0, SPEC.magic))
        self._send(_mmio_request(False, SPEC.reg("ID")))

    def _send(self, data: bytes) -> None:
        self.s.sendall(data)
        self.sent += len(data)
        self.poll(0.0)

    def poll(self, timeout: float) -> None:
        while True:
            r, _, _ = select.select([self.s], [], [], timeout)
            if not r:
                return
            data = self.s.recv(1 << 16)
            assert data, "the server closed the MMIO connection"
            self.got += data
            timeout = 0.0

    def finish(self, timeout: float) -> None:
        assert self.sent % 7 == 0 and len(self.expect) == self.sent // 7
        n = self.sent // 7
        deadline = time.monotonic() + timeout
        while len(self.got) < 5 * n:
            assert time.monotonic() < deadline, f"{len(self.got) // 5} of {n} MMIO replies"
            self.poll(1.0)
        assert len(self.got) == 5 * n, "more MMIO replies than requests"
        for i, (resp, data) in enumerate(self.expect):
            r, d = struct.unpack_from("<BI", self.got, 5 * i)
            if resp == -1:
                assert r in (0, SLVERR), f"MMIO reply {i}: resp {r}"
            else:
                assert r == resp, f"MMIO reply {i}: resp {r}, expected {resp}"
                if data is not None:
                    assert d == data, f"MMIO reply {i}: data 0x{d:08x}, expected 0x{data:08x}"


def test_fuzz_hostile_bytes_change_nothing(server):
    """300 hostile items (fixed seed) on the command port and the MMIO port: every structured
    one gets its own error answer, no answer but PING's is OK, and afterwards the server
    answers PING and the device's whole state (registers, step tables, codes, LFSRs,
    counters but CNT_ERRORS/CNT_BUSY) is unchanged; a lockstep session from there on
    agrees with a twin that never saw the fuzz."""
    t_start = time.monotonic()
    # a device state worth keeping: configured, programmed, updated (checked in lockstep)
    xb = LockstepCrossbar(SerialTransport(server.url), timeout=5.0, retries=3)
    try:
        random_session(xb, "coincidence", 25, seed=31)
        before = xb.state_dict()
        twin = xb.twin_device
        assert compare_state(xb.snapshot(), xb.twin) == []
    finally:
        xb.transport.close()

    rng = random.Random(0x6D68696C)
    link = _Link(server.url)
    mm = _Mmio(server.mmio_url)
    deadline = time.monotonic() + 600
    counts: dict[str, int] = {}
    try:
        link.sync(deadline)                 # the last executed command is now a PING
        for i in range(300):
            kind = rng.choices(KINDS, WEIGHTS)[0]
            counts[kind] = counts.get(kind, 0) + 1
            if kind == "mmio":
                k = rng.randrange(4)
                if k == 0:
                    mm.junk(rng, rng.randint(1, 40))
                elif k == 1:
                    mm.junk(rng, 7 * 64 + rng.randrange(7))    # a burst of requests
                elif k == 2:
                    mm.refused_write(rng)
                else:
                    mm.read_id(rng)
                continue
            data, status = _hostile(rng, kind)
            link.s.sendall(data)
            if status is not None:
                r = link.next_response(ANSWER_S)
                assert r is not None, f"item {i} ({kind}, {data.hex()}): no answer"
                got = Status(r.status).name if r.status in Status._value2member_map_ else r.status
                assert r.status == status, (
                    f"item {i} ({kind}, {data.hex()}): answered {got}, expected {status.name}")
            else:
                time.sleep(0.005)           # usually past the idle gap: the PING stays apart
            link.sync(deadline)
            assert time.monotonic() < deadline
        mm.align(rng)
        mm.finish(ANSWER_S)
        # leave both with a partial frame/request in flight
        link.s.sendall(bytes([pr.SOF_CMD, 0x42, Op.WRITE_REG]))
        mm.s.sendall(_mmio_request(True, SPEC.reg("BL"), 7)[:5])
    finally:
        link.s.close()
        mm.s.close()
    oks = [r for r in link.seen if r.ok]
    assert all(r.op == Op.PING for r in oks), [r for r in oks if r.op != Op.PING]
    errors = [r for r in link.seen if not r.ok]
    assert len(errors) >= sum(counts.get(k, 0) for k in KINDS[1:-1])
    assert {r.status for r in errors} <= {int(s) for s in Status if s != Status.OK}
    assert server.alive()

    # the device counted the errors (and only the error registers differ from the twin's)
    xb = _crossbar(server)
    try:
        n_err = xb.read_reg(SPEC.reg("CNT_ERRORS"))
        status_reg = xb.read_reg(SPEC.reg("STATUS"))
    finally:
        xb.transport.close()
    assert n_err - before["regs"]["CNT_ERRORS"] >= len(errors)
    twin.errors = n_err
    twin.last_error = (status_reg >> 8) & 0xFF

    xb = LockstepCrossbar(SerialTransport(server.url), twin=twin, timeout=5.0, retries=3)
    try:
        after = xb.state_dict()             # every read checked against the twin
        for k in ("gp", "gm", "row_lfsr", "col_lfsr", "step_up", "step_dn"):
            assert after[k].equal(before[k]), k
        changed = {k for k in before["regs"] if before["regs"][k] != after["regs"][k]}
        assert changed <= {"CNT_ERRORS", "CNT_BUSY"}, changed
        random_session(xb, "rounding", 25, seed=32)
        assert compare_state(xb.snapshot(), xb.twin) == []
    finally:
        xb.transport.close()
    print(f"fuzz: {counts}, {len(link.seen)} answers ({len(errors)} errors), "
          f"{link.pings} PINGs, {mm.sent // 7} MMIO requests, "
          f"{time.monotonic() - t_start:.1f} s")
