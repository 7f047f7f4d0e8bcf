# SPDX-License-Identifier: MIT
"""Frame encoding for the testbenches: a thin facade over the host's protocol codec
``memhil.runtime.protocol`` (the one implementation of section 8 of the contract)."""
from __future__ import annotations

from memhil.contract.spec import SPEC
from memhil.runtime.protocol import crc16, pack_len

P = SPEC.protocol
OP = SPEC.opcodes
ST = SPEC.status


def encode_command(seq: int, op: int, payload: bytes = b"", length: int | None = None) -> bytes:
    n = len(payload) if length is None else length
    body = bytes([seq & 0xFF, op & 0xFF]) + pack_len(n) + bytes(payload)
    return bytes([P["sof_cmd"]]) + body + crc16(body).to_bytes(2, "little")


def decode_response(raw: bytes):
    """(seq, op, status, payload) of one response frame; asserts SOF, LEN and CRC."""
    hb = P["rsp_header_bytes"]
    assert len(raw) >= hb + 2, f"short response {raw.hex()}"
    assert raw[0] == P["sof_rsp"], f"bad SOF {raw.hex()}"
    n = int.from_bytes(raw[4:hb], "little")
    assert len(raw) == hb + 2 + n, f"response LEN {n} but {len(raw)} bytes: {raw.hex()}"
    assert crc16(raw[1:hb + n]) == int.from_bytes(raw[hb + n:hb + 2 + n], "little"), "bad CRC"
    return raw[1], raw[2], raw[3], bytes(raw[hb:hb + n])
