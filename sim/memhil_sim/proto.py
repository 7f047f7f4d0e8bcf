# SPDX-License-Identifier: MIT
"""Frame encoding for the testbenches: a thin facade over the host's protocol codec
``memhil.runtime.protocol`` (the one implementation of section 8 of the contract)."""
from __future__ import annotations

from memhil.contract.spec import SPEC
from memhil.runtime.protocol import crc16

P = SPEC.protocol
OP = SPEC.opcodes
ST = SPEC.status


def encode_command(seq: int, op: int, payload: bytes = b"", length: int | None = None) -> bytes:
    n = len(payload) if length is None else length
    body = bytes([seq & 0xFF, op & 0xFF, n & 0xFF, (n >> 8) & 0xFF]) + bytes(payload)
    return bytes([P["sof_cmd"]]) + body + crc16(body).to_bytes(2, "little")


def decode_response(raw: bytes):
    """(seq, op, status, payload) of one response frame; asserts SOF, LEN and CRC."""
    assert len(raw) >= 8, f"short response {raw.hex()}"
    assert raw[0] == P["sof_rsp"], f"bad SOF {raw.hex()}"
    n = raw[4] | (raw[5] << 8)
    assert len(raw) == 8 + n, f"response LEN {n} but {len(raw)} bytes: {raw.hex()}"
    assert crc16(raw[1:6 + n]) == int.from_bytes(raw[6 + n:8 + n], "little"), "bad CRC"
    return raw[1], raw[2], raw[3], bytes(raw[6:6 + n])
