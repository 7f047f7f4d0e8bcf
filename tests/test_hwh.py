"""The .hwh of the memhil block design through pynq's own parsers (issue 12, deliverable 3).

tests/memhil_hwh.py writes the hardware handoff file from bitstreams/build.tcl and
bitstreams/memhil_ip.v (there is no Vivado here); these tests check that its names agree with
the Tcl, the IP wrapper, the driver's ``bindto`` and the stand-in's address decoding, that pynq's
parsers (pynqmetadata under ``RuntimeMetadataParser``, what ``pynq.Overlay`` uses on pynq
3.0/3.1, and the older ``pynq.pl_server.hwh_parser``) read it, and that an Overlay made from it
binds the drivers and sets the PL clock as on a board.
"""
import inspect
import re
from pathlib import Path
from xml.etree import ElementTree

import pytest

import memhil_hwh as mh
import pynq
import pynq_standin as ps
from memhil.contract.spec import SPEC
from memhil.runtime.device_model import TwinDevice

PARAMS = {"ROWS": 5, "COLS": 4, "TILES": 1, "LANES": 2, "G_W": 8}


@pytest.fixture
def bit(tmp_path):
    return ps.make_bitfile(tmp_path, params=PARAMS)


def test_names_agree_with_build_tcl_and_the_drivers():
    from memhil.runtime.pynq_overlay import MEMHIL_VLNV, MemhilIP
    from memhil.runtime.pynq_transport import MEMHIL_VLNV as TRANSPORT_VLNV, PynqTransport

    d = mh.parse_design()
    assert set(d.cells) == {"ps7", "dma", "memhil"}
    assert d.cells["memhil"] == MEMHIL_VLNV == TRANSPORT_VLNV == MemhilIP.bindto[0]
    assert d.cells["dma"] == "xilinx.com:ip:axi_dma:7.1"
    # the transport's default cell names are build.tcl's
    sig = inspect.signature(PynqTransport.__init__).parameters
    assert sig["dma"].default in d.cells and sig["ip"].default in d.cells
    # the register windows build.tcl pins are where the stand-in's bus decodes them
    assert d.addresses["memhil/s_axil"][:2] == (ps.MEMHIL_BASE, ps.MEMHIL_RANGE)
    assert d.addresses["dma/S_AXI_LITE"][:2] == (ps.DMA_BASE, ps.DMA_RANGE)
    # ... and docs/board.md names the same
    board_md = (mh.REPO / "docs" / "board.md").read_text()
    assert f"0x{ps.MEMHIL_BASE:08X}" in board_md and f"0x{ps.DMA_BASE:08X}" in board_md
    # streams and AXI ports as the Tcl connects them
    assert sorted(d.streams) == [("dma/M_AXIS_MM2S", "memhil/s_axis_cmd"),
                                 ("memhil/m_axis_rsp", "dma/S_AXIS_S2MM")]
    assert {(m, s) for m, s, _ in d.axi} == {
        ("ps7/M_AXI_GP0", "memhil/s_axil"), ("ps7/M_AXI_GP0", "dma/S_AXI_LITE"),
        ("dma/M_AXI_MM2S", "ps7/S_AXI_HP0"), ("dma/M_AXI_S2MM", "ps7/S_AXI_HP0")}
    # the IP's parameters: the wrapper's, each set on the cell by the Tcl, in the .hwh
    assert set(d.params) == set(d.config["memhil"]) >= {"ROWS", "COLS", "TILES", "LANES", "G_W"}
    root = ElementTree.fromstring(mh.hwh(PARAMS, d))
    ip_mod = next(m for m in root.iter("MODULE") if m.get("INSTANCE") == "memhil")
    got = {p.get("NAME"): p.get("VALUE") for p in ip_mod.iter("PARAMETER")}
    assert {k: got[k] for k in d.params} == {k: str(PARAMS.get(k, d.params[k])) for k in d.params}
    assert d.config["dma"]["c_include_sg"] == "0"
    assert d.config["dma"]["c_m_axis_mm2s_tdata_width"] == "8"
    # the IP's bus interfaces are the wrapper's ports, as Vivado's packager groups them
    mods, nets, _ = mh.build(PARAMS)
    ip = mods["memhil"]
    assert set(ip.intfs) == {"s_axil", "s_axis_cmd", "m_axis_rsp"}
    assert {p for i in ip.intfs.values() for p in i.ports.values()} | {"aclk", "aresetn"} == \
        {name for name, _, _ in d.ports}
    assert ip.intfs["s_axil"].type == "SLAVE" and ip.intfs["m_axis_rsp"].type == "MASTER"
    assert nets.of[("memhil", "s_axis_cmd_tdata")] == nets.of[("dma", "m_axis_mm2s_tdata")]
    assert nets.of[("memhil", "m_axis_rsp_tlast")] == nets.of[("dma", "s_axis_s2mm_tlast")]


def test_the_generator_reads_the_tcl():
    """A renamed cell or a moved window in build.tcl changes the .hwh (they cannot drift)."""
    tcl = (mh.BITSTREAMS / "build.tcl").read_text()
    moved = tcl.replace("-offset 0x43C00000", "-offset 0x43C10000") \
               .replace("memhil:user:memhil_ip:1.0 memhil]", "memhil:user:memhil_ip:1.0 xbar]") \
               .replace("memhil/", "xbar/")
    assert moved != tcl
    d = mh.parse_design(tcl=moved)
    root = ElementTree.fromstring(mh.hwh(PARAMS, d))
    ranges = {r.get("INSTANCE"): r.get("BASEVALUE") for r in root.iter("MEMRANGE")
              if r.get("MASTERBUSINTERFACE") == "M_AXI_GP0"}
    assert ranges == {"xbar": "0x43C10000", "dma": "0x40400000"}


def test_it_uses_only_what_real_hwh_files_have():
    """Every element and attribute name in the generated file also occurs in a .hwh Vivado
    wrote (PYNQ's resizer design for the PYNQ-Z2, shipped with pynqmetadata's tests)."""
    import pynqmetadata

    real = Path(pynqmetadata.__file__).parent / "tests" / "hwhs" / "resizer.hwh"
    assert real.is_file(), f"{real}: the pynqmetadata of the test extra's pynq ships it"
    vocab = {(e.tag, a) for e in ElementTree.parse(real).iter() for a in [None, *e.attrib]}
    ours = {(e.tag, a) for e in ElementTree.fromstring(mh.hwh(PARAMS)).iter()
            for a in [None, *e.attrib]}
    assert ours - vocab == set()


def test_pynqs_parsers_read_it(bit):
    """pynq 3.x's parser (pynqmetadata) and the older hwh_parser give the same addressable IP,
    parameters and PL clock."""
    from pynq.pl_server.hwh_parser import _HWHZynq

    new = ps.parse_hwh(bit)
    old = _HWHZynq(str(Path(bit).with_suffix(".hwh")))
    for parser in (new, old):
        ip = parser.ip_dict
        assert set(ip) == {"ps7", "dma", "memhil"}
        assert ip["memhil"]["type"] == "memhil:user:memhil_ip:1.0"
        assert (ip["memhil"]["phys_addr"], ip["memhil"]["addr_range"]) == (0x43C0_0000, 0x1000)
        assert ip["memhil"]["mem_id"] == "s_axil"
        assert {k: int(ip["memhil"]["parameters"][k]) for k in PARAMS} == PARAMS
        assert (ip["dma"]["phys_addr"], ip["dma"]["addr_range"]) == (0x4040_0000, 0x1_0000)
        assert ip["dma"]["mem_id"] == "S_AXI_LITE"
        dp = ip["dma"]["parameters"]
        assert (dp["c_include_sg"], dp["c_m_axis_mm2s_tdata_width"],
                dp["c_s_axis_s2mm_tdata_width"], dp["c_sg_length_width"]) == ("0", "8", "8", "23")
        assert ip["dma"]["registers"]["S2MM_LENGTH"]["address_offset"] == 0x58
        assert ip["ps7"]["parameters"]["PCW_FPGA0_PERIPHERAL_FREQMHZ"] == "100"
        clk = parser.clock_dict
        assert clk[0]["enable"] == 1 and 1000 / (clk[0]["divisor0"] * clk[0]["divisor1"]) == 100
        assert not any(clk[i]["enable"] for i in (1, 2, 3))
        assert parser.interrupt_pins == {} and parser.gpio_dict == {}
    assert new.mem_dict == {} and new.hierarchy_dict == {}


def test_overlay_from_the_hwh_binds_drivers_and_sets_the_clock(bit):
    from pynq.lib.dma import DMA

    from memhil.runtime.pynq_overlay import MemhilIP, MemhilOverlay

    dev = ps.SimDevice(ps.TwinBackend(TwinDevice(5, 4, g_w=8, lanes=2)))
    ps.SLCR.update(ps.SLCR_RESET)                       # the PL clocks at power-on
    try:
        ol = MemhilOverlay(bit, device=dev)
        assert type(ol.memhil) is MemhilIP and type(ol.dma) is DMA
        assert ps.SLCR[0x170] != ps.SLCR_RESET[0x170]     # FPGA0_CLK_CTRL written by pynq
        assert pynq.Clocks.fclk0_mhz == 100.0
        # the .hwh's parameters describe the logic the bitstream holds
        hw = {k.lower(): int(v) for k, v in ol.ip_dict["memhil"]["parameters"].items()
              if k in PARAMS}
        geo = ol.memhil.geometry
        assert (geo["rows"], geo["cols"], geo["tiles"], geo["g_w"]) == \
            (hw["rows"], hw["cols"], hw["tiles"], hw["g_w"])
        assert ol.memhil.read_reg("ID") == SPEC.magic
        # the DMA's register map, from the .hwh, over the stand-in's DMA model
        ol.dma.register_map.S2MM_DMACR.RS = 1
        assert ol.dma.register_map.S2MM_DMASR.Halted == 0
        assert re.search(r"memhil", ol.__doc__ or "")
    finally:
        dev.close()


def test_no_hwh_is_pynqs_error(tmp_path):
    dev = ps.SimDevice(ps.TwinBackend(TwinDevice(5, 4, g_w=8)))
    bit = ps.make_bitfile(tmp_path, hwh=False)
    with pytest.raises(RuntimeError, match="metadata"):
        pynq.Overlay(bit, device=dev)
    dev.close()
