# SPDX-License-Identifier: MIT
"""memhil_crc16 (one byte of CRC-16/CCITT-FALSE) against the host codec's crc16, byte by byte
over random messages, plus the catalogue check value of "123456789" (0x29B1)."""
from __future__ import annotations

import random
from pathlib import Path

import cocotb
import pytest
from cocotb.triggers import Timer

from memhil_sim import proto


async def _chain(dut, data: bytes) -> int:
    crc = 0xFFFF
    for i, b in enumerate(data):
        dut.crc_i.value = crc
        dut.data_i.value = b
        await Timer(1, unit="ns")
        crc = int(dut.crc_o.value)
        assert crc == proto.crc16(data[: i + 1]), f"byte {i}: rtl {crc:04x}"
    return crc


@cocotb.test()
async def test_check_value(dut):
    assert await _chain(dut, b"123456789") == 0x29B1


@cocotb.test()
async def test_random(dut):
    rng = random.Random(7)
    for _ in range(40):
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40)))
        await _chain(dut, data)


@pytest.mark.sim
def test_memhil_crc16():
    from memhil_sim import run_cocotb

    run_cocotb("memhil_crc16", "test_memhil_crc16", Path(__file__).resolve().parent, {})
