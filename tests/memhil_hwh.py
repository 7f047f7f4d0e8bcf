"""The memhil block design as a Vivado hardware handoff file (.hwh), for the tests only.

On a board the .hwh is Vivado's: ``make -C bitstreams`` writes it beside the .bit and pynq reads
it when an ``Overlay`` is made. There is no Vivado here, so the tests write one with this module
and hand it to pynq's own parsers (``pynqmetadata`` through ``RuntimeMetadataParser``, what
``pynq.Overlay`` uses on pynq 3.0/3.1, and the older ``pynq.pl_server.hwh_parser``). To keep the
file from drifting away from the design, every name in it is read from the two sources Vivado
builds from:

* ``bitstreams/build.tcl``: the cells (``ps7``, ``dma``, ``memhil`` and their VLNVs), the
  ``CONFIG.*`` values the Tcl sets (DMA widths, scatter-gather off, FCLK0 frequency, the PS's
  GP0/HP0 ports), the stream connections (``dma/M_AXIS_MM2S`` -> ``memhil/s_axis_cmd``, ...),
  which AXI port reaches which slave and the register windows pinned by ``assign_bd_address``;
* ``bitstreams/memhil_ip.v``: the IP's ports, grouped into the bus interfaces Vivado's IP
  packager infers (``s_axil``, ``s_axis_cmd``, ``m_axis_rsp``, ``aclk``, ``aresetn``), and its
  parameters (their defaults, or what the Makefile passes: ROWS, COLS, TILES, LANES, G_W);
* ``bitstreams/Makefile``: the design name, the part and the default build's parameters.

What the file adds from outside those sources, as facts: the Vivado 2022.2 catalog versions of
the Xilinx IPs the Tcl names without a version (:data:`IP_VERSIONS`), the cells the connection
automation adds with Vivado's names for them (``ps7_axi_periph``: AXI Interconnect on GP0,
``axi_smc``: SmartConnect on HP0, ``rst_ps7_100M``: the reset), the PYNQ-Z2 board preset of the
PS (50 MHz PS_CLK, IO PLL 1000 MHz, ARM PLL 1300 MHz, DDR PLL 1050 MHz, 512 MB DDR at 0; the
values of PYNQ's own Pynq-Z2 base design) and the AXI signal sets of each port (PG021 for the DMA,
UG585 for the PS7). The file follows the layout of Vivado's .hwh files (PYNQ's resizer example's
.hwh, shipped with pynqmetadata's tests, was the model) but is abridged: no DDR/MIO pins, no
interrupt or GPIO nets (the design has none), register maps only for the DMA.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import quoteattr

REPO = Path(__file__).resolve().parents[1]
BITSTREAMS = REPO / "bitstreams"

#: catalog versions (Vivado 2022.2) of the IPs build.tcl creates without one
IP_VERSIONS = {
    "xilinx.com:ip:processing_system7": "5.5",
    "xilinx.com:ip:axi_dma": "7.1",
    "xilinx.com:ip:axi_interconnect": "2.1",
    "xilinx.com:ip:smartconnect": "1.0",
    "xilinx.com:ip:proc_sys_reset": "5.0",
}
#: PYNQ-Z2 board preset of the PS (PYNQ's boards/Pynq-Z2/base/base.tcl)
PS_CLK_MHZ, IO_PLL_FBDIV, ARM_PLL_FBDIV, DDR_PLL_FBDIV = 50, 20, 26, 21
DDR_HIGH = 0x1FFF_FFFF


# ------------------------------------------------------------------------ the sources
@dataclass
class Design:
    """What bitstreams/build.tcl (and the Makefile) say about the block design."""

    name: str
    part: str
    cells: dict[str, str]                          # cell -> VLNV (with version)
    config: dict[str, dict[str, str]]              # cell -> {CONFIG name: value (Tcl text)}
    streams: list[tuple[str, str]]                 # (master "cell/intf", slave "cell/intf")
    axi: list[tuple[str, str, str]]                # (master, slave, interconnect kind)
    addresses: dict[str, tuple[int, int, str]]     # "cell/intf" -> (offset, range, block)
    ports: list[tuple[str, str, int]] = field(default_factory=list)   # memhil_ip's ports
    params: dict[str, int] = field(default_factory=dict)   # memhil_ip's parameters, a default
    #                                                        build's values (Makefile, wrapper)


def _cell_of(var: str, cells_by_var: dict[str, str]) -> str:
    return cells_by_var[var.lstrip("$")]


def parse_design(tcl: str | None = None, wrapper: str | None = None,
                 makefile: str | None = None) -> Design:
    tcl = tcl if tcl is not None else (BITSTREAMS / "build.tcl").read_text()
    wrapper = wrapper if wrapper is not None else (BITSTREAMS / "memhil_ip.v").read_text()
    makefile = makefile if makefile is not None else (BITSTREAMS / "Makefile").read_text()
    code = "\n".join(line.split("#")[0] for line in tcl.splitlines()).replace("\\\n", " ")
    cells, by_var = {}, {}
    for var, vlnv, name in re.findall(
            r"set\s+(\w+)\s+\[create_bd_cell\s+-type\s+ip\s+-vlnv\s+(\S+)\s+(\w+)\]", code):
        if vlnv.count(":") == 2:
            vlnv = f"{vlnv}:{IP_VERSIONS[vlnv]}"
        cells[name], by_var[var] = vlnv, name
    config: dict[str, dict[str, str]] = {n: {} for n in cells}
    for body, var in re.findall(r"set_property\s+-dict\s+\[list\s+(.*?)\]\s+(\$\w+)", code, re.S):
        for k, v in re.findall(r"CONFIG\.(\w+)\s+(\{[^}]*\}|\$\w+)", body):
            config[_cell_of(var, by_var)][k] = v.strip("{}")
    streams = re.findall(r"connect_bd_intf_net\s+\[get_bd_intf_pins\s+(\S+)\]\s+"
                         r"\[get_bd_intf_pins\s+(\S+)\]", code)
    axi = []
    for cfg in re.findall(r"apply_bd_automation\s+-rule\s+xilinx\.com:bd_rule:axi4\s+-config\s+"
                          r"\{(.*?)\}\s+\[get_bd_intf_pins", code, re.S):
        kv = dict(re.findall(r"(\w+)\s+\{([^}]*)\}", cfg))
        axi.append((kv["Master"].strip("/"), kv["Slave"].strip("/"), kv["intc_ip"]))
    addresses = {}
    for off, rng, seg in re.findall(r"assign_bd_address\s+-offset\s+(0x[0-9A-Fa-f]+)\s+-range\s+"
                                    r"(0x[0-9A-Fa-f]+).*?\[get_bd_addr_segs\s+(\S+)\]", code, re.S):
        cell, intf, block = seg.split("/")
        addresses[f"{cell}/{intf}"] = (int(off, 16), int(rng, 16), block)
    name = re.search(r"^NAME\s*:?=\s*(\w+)", makefile, re.M).group(1)
    part = re.search(r"^PART\s*\?=\s*(\S+)", makefile, re.M).group(1)
    params = wrapper_params(wrapper)
    for k in params:
        m = re.search(rf"^{k}\s*\?=\s*(\d+)", makefile, re.M)
        if m:
            params[k] = int(m.group(1))
    return Design(name=name, part=part, cells=cells, config=config, streams=streams, axi=axi,
                  addresses=addresses, ports=wrapper_ports(wrapper), params=params)


def _no_comments(text: str) -> str:
    """Verilog text without its ``//`` comments (whose words, e.g. a ``);``, are not code)."""
    return re.sub(r"//[^\n]*", "", text)


def wrapper_params(text: str) -> dict[str, int]:
    """memhil_ip's parameters and their defaults (bitstreams/memhil_ip.v)."""
    text = _no_comments(text)
    head = re.search(r"\bmodule\s+memhil_ip\s*#\s*\((.*?)\)\s*\(", text, re.S).group(1)
    return {k: int(v) for k, v in re.findall(r"parameter\s+(\w+)\s*=\s*(\d+)", head)}


_PORT = re.compile(r"^\s*(input|output)\s+wire\s+(?:\[(\d+):(\d+)\]\s*)?(\w+)\s*,?\s*$", re.M)


def wrapper_ports(text: str) -> list[tuple[str, str, int]]:
    """(name, "I"/"O", width) of every port of memhil_ip (bitstreams/memhil_ip.v)."""
    text = _no_comments(text)
    head = re.search(r"\bmodule\s+memhil_ip\b(.*?)\);", text, re.S).group(1)
    return [(name, "I" if d == "input" else "O", int(hi) - int(lo) + 1 if hi else 1)
            for d, hi, lo, name in _PORT.findall(head)]


# ------------------------------------------------------------------------ signal sets
# (logical name, width, driven by the master?)
def _lite(addr: int, prot: bool = True, strb: bool = True):
    sig = [("AWADDR", addr, 1), ("AWPROT", 3, 1), ("AWVALID", 1, 1), ("AWREADY", 1, 0),
           ("WDATA", 32, 1), ("WSTRB", 4, 1), ("WVALID", 1, 1), ("WREADY", 1, 0),
           ("BRESP", 2, 0), ("BVALID", 1, 0), ("BREADY", 1, 1),
           ("ARADDR", addr, 1), ("ARPROT", 3, 1), ("ARVALID", 1, 1), ("ARREADY", 1, 0),
           ("RDATA", 32, 0), ("RRESP", 2, 0), ("RVALID", 1, 0), ("RREADY", 1, 1)]
    return [s for s in sig if (prot or "PROT" not in s[0]) and (strb or s[0] != "WSTRB")]


def _axi3(idw: int, dw: int):
    """An AXI3 port of the Zynq PS (UG585): GP0 has 12-bit IDs and 32-bit data, HP0 6/64."""
    ch = []
    for p in ("AW", "AR"):
        ch += [(p + "ID", idw, 1), (p + "ADDR", 32, 1), (p + "LEN", 4, 1), (p + "SIZE", 3, 1),
               (p + "BURST", 2, 1), (p + "LOCK", 2, 1), (p + "CACHE", 4, 1), (p + "PROT", 3, 1),
               (p + "QOS", 4, 1), (p + "VALID", 1, 1), (p + "READY", 1, 0)]
    ch += [("WID", idw, 1), ("WDATA", dw, 1), ("WSTRB", dw // 8, 1), ("WLAST", 1, 1),
           ("WVALID", 1, 1), ("WREADY", 1, 0), ("BID", idw, 0), ("BRESP", 2, 0),
           ("BVALID", 1, 0), ("BREADY", 1, 1), ("RID", idw, 0), ("RDATA", dw, 0),
           ("RRESP", 2, 0), ("RLAST", 1, 0), ("RVALID", 1, 0), ("RREADY", 1, 1)]
    return ch


def _dma_read(dw: int):
    return [("ARADDR", 32, 1), ("ARLEN", 8, 1), ("ARSIZE", 3, 1), ("ARBURST", 2, 1),
            ("ARPROT", 3, 1), ("ARCACHE", 4, 1), ("ARVALID", 1, 1), ("ARREADY", 1, 0),
            ("RDATA", dw, 0), ("RRESP", 2, 0), ("RLAST", 1, 0), ("RVALID", 1, 0),
            ("RREADY", 1, 1)]


def _dma_write(dw: int):
    return [("AWADDR", 32, 1), ("AWLEN", 8, 1), ("AWSIZE", 3, 1), ("AWBURST", 2, 1),
            ("AWPROT", 3, 1), ("AWCACHE", 4, 1), ("AWVALID", 1, 1), ("AWREADY", 1, 0),
            ("WDATA", dw, 1), ("WSTRB", dw // 8, 1), ("WLAST", 1, 1), ("WVALID", 1, 1),
            ("WREADY", 1, 0), ("BRESP", 2, 0), ("BVALID", 1, 0), ("BREADY", 1, 1)]


def _stream(width: int, keep: bool):
    sig = [("TDATA", width, 1), ("TVALID", 1, 1), ("TREADY", 1, 0), ("TLAST", 1, 1)]
    return sig + ([("TKEEP", max(1, width // 8), 1)] if keep else [])


# PG021, simple (direct register) mode: the registers pynq's DMA driver touches
DMA_REGISTERS = [
    ("MM2S_DMACR", 0x00, "MM2S DMA Control Register", [("RS", 0, 1), ("Reset", 2, 1),
                                                        ("IOC_IrqEn", 12, 1)]),
    ("MM2S_DMASR", 0x04, "MM2S DMA Status Register", [("Halted", 0, 1), ("Idle", 1, 1),
                                                       ("IOC_Irq", 12, 1)]),
    ("MM2S_SA", 0x18, "MM2S Source Address Register", []),
    ("MM2S_SA_MSB", 0x1C, "MM2S Source Address Register (upper 32 bits)", []),
    ("MM2S_LENGTH", 0x28, "MM2S Transfer Length Register", []),
    ("S2MM_DMACR", 0x30, "S2MM DMA Control Register", [("RS", 0, 1), ("Reset", 2, 1),
                                                        ("IOC_IrqEn", 12, 1)]),
    ("S2MM_DMASR", 0x34, "S2MM DMA Status Register", [("Halted", 0, 1), ("Idle", 1, 1),
                                                       ("IOC_Irq", 12, 1)]),
    ("S2MM_DA", 0x48, "S2MM Destination Address Register", []),
    ("S2MM_DA_MSB", 0x4C, "S2MM Destination Address Register (upper 32 bits)", []),
    ("S2MM_LENGTH", 0x58, "S2MM Buffer Length Register", []),
]


# ------------------------------------------------------------------------ the model
@dataclass
class _Intf:
    name: str
    vlnv: str              # xilinx.com:interface:aximm:1.0 / axis:1.0
    type: str              # MASTER/SLAVE (INITIATOR/TARGET for the DMA's streams)
    ports: dict[str, str]  # logical -> physical
    params: dict[str, str] = field(default_factory=dict)
    busname: str = "__NOC__"


@dataclass
class _Module:
    inst: str
    vlnv: str
    modtype: str
    params: dict[str, str] = field(default_factory=dict)
    ports: dict[str, tuple[str, int, str]] = field(default_factory=dict)  # name -> dir, w, sigis
    intfs: dict[str, _Intf] = field(default_factory=dict)
    memranges: list[dict] = field(default_factory=list)
    blocks: list[tuple[str, str, int, list]] = field(default_factory=list)
    attrs: dict[str, str] = field(default_factory=dict)

    def add_port(self, name, d, width=1, sigis="undef"):
        self.ports[name] = (d, width, sigis)

    def add_intf(self, name, kind, typ, signals, phys, params=None):
        """``signals``: (logical, width, by master); ``phys(logical)`` the port name."""
        vlnv = f"xilinx.com:interface:{kind}:1.0"
        master = typ in ("MASTER", "INITIATOR")
        intf = _Intf(name, vlnv, typ, {}, dict(params or {}))
        for logical, width, by_master in signals:
            d = "O" if bool(by_master) == master else "I"
            self.add_port(phys(logical), d, width)
            intf.ports[logical] = phys(logical)
        self.intfs[name] = intf
        return intf


class _Nets:
    """Nets by name: each a list of (instance, port)."""

    def __init__(self):
        self.nets: dict[str, list[tuple[str, str]]] = {}
        self.of: dict[tuple[str, str], str] = {}

    def join(self, net: str, *ends: tuple[str, str]):
        for e in ends:
            if e in self.of and self.of[e] != net:
                raise ValueError(f"{e} is on two nets: {self.of[e]}, {net}")
            self.nets.setdefault(net, [])
            if e not in self.nets[net]:
                self.nets[net].append(e)
            self.of[e] = net


def _connect_bus(nets, mods, master: tuple[str, str], slave: tuple[str, str]):
    (mi, mif), (si, sif) = master, slave
    a, b = mods[mi].intfs[mif], mods[si].intfs[sif]
    bus = f"{mi}_{mif}"
    a.busname = b.busname = bus
    for logical, phys in a.ports.items():
        if logical in b.ports:
            nets.join(f"{bus}_{logical.lower()}", (mi, phys), (si, b.ports[logical]))


def _divisors(src_mhz: float, want_mhz: float) -> tuple[int, int]:
    prod = round(src_mhz / want_mhz)
    for d1 in range(1, 64):
        if prod % d1 == 0 and prod // d1 < 64:
            return prod // d1, d1
    raise ValueError(f"no FCLK divisors for {want_mhz} MHz from {src_mhz} MHz")


def build(params: dict | None = None, design: Design | None = None) -> tuple[dict, _Nets, Design]:
    d = design or parse_design()
    given = {k.upper(): v for k, v in (params or {}).items()}
    unknown = set(given) - set(d.params)
    if unknown:
        raise ValueError(f"{sorted(unknown)}: not parameters of memhil_ip ({sorted(d.params)})")
    p = {**d.params, **given}
    nets = _Nets()
    mods: dict[str, _Module] = {}
    ps_name = next(n for n, v in d.cells.items() if ":processing_system7:" in v)
    dma_name = next(n for n, v in d.cells.items() if ":axi_dma:" in v)
    ip_name = next(n for n, v in d.cells.items() if v.startswith("memhil:"))
    fclk_mhz = float(d.config[ps_name].get("PCW_FPGA0_PERIPHERAL_FREQMHZ", 100))
    clk_net, rstn_net = f"{ps_name}_FCLK_CLK0", f"{ps_name}_FCLK_RESET0_N"
    rst_name = f"rst_{ps_name}_{int(fclk_mhz)}M"
    periph_rst, ic_rst = f"{rst_name}_peripheral_aresetn", f"{rst_name}_interconnect_aresetn"
    freq = str(int(fclk_mhz * 1e6))
    domain = f"{d.name}_{ps_name}_0_FCLK_CLK0"

    # --- the PS
    ps = mods[ps_name] = _Module(ps_name, d.cells[ps_name], "processing_system7",
                                 attrs={"CONFIGURABLE": "TRUE", "IS_PL": "FALSE"})
    io_pll = PS_CLK_MHZ * IO_PLL_FBDIV
    div0, div1 = _divisors(io_pll, fclk_mhz)
    ps.params.update({
        "PCW_CRYSTAL_PERIPHERAL_FREQMHZ": str(PS_CLK_MHZ),
        "PCW_IOPLL_CTRL_FBDIV": str(IO_PLL_FBDIV), "PCW_ARMPLL_CTRL_FBDIV": str(ARM_PLL_FBDIV),
        "PCW_DDRPLL_CTRL_FBDIV": str(DDR_PLL_FBDIV), "PCW_APU_PERIPHERAL_FREQMHZ": "650",
        "PCW_UIPARAM_DDR_FREQ_MHZ": "525", "PCW_DDR_RAM_HIGHADDR": f"0x{DDR_HIGH:08X}",
        "PCW_PACKAGE_NAME": _package(d.part),
        "PCW_FCLK0_PERIPHERAL_CLKSRC": "IO PLL",
        "PCW_ACT_FPGA0_PERIPHERAL_FREQMHZ": f"{io_pll / (div0 * div1):.6f}",
        "C_FCLK_CLK0_FREQ": freq,
    })
    for i in range(4):
        on = i == 0
        ps.params[f"PCW_FPGA_FCLK{i}_ENABLE"] = "1" if on else "0"
        ps.params[f"PCW_FCLK{i}_PERIPHERAL_DIVISOR0"] = str(div0 if on else 1)
        ps.params[f"PCW_FCLK{i}_PERIPHERAL_DIVISOR1"] = str(div1 if on else 1)
    ps.params.update(d.config[ps_name])
    ps.add_port("FCLK_CLK0", "O", sigis="clk")
    ps.add_port("FCLK_RESET0_N", "O", sigis="rst")
    ps.add_port("M_AXI_GP0_ACLK", "I", sigis="clk")
    ps.add_port("S_AXI_HP0_ACLK", "I", sigis="clk")
    ps.add_intf("M_AXI_GP0", "aximm", "MASTER", _axi3(12, 32), lambda s: f"M_AXI_GP0_{s}",
                {"PROTOCOL": "AXI3", "DATA_WIDTH": "32", "ADDR_WIDTH": "32", "ID_WIDTH": "12",
                 "FREQ_HZ": freq, "CLK_DOMAIN": domain})
    ps.add_intf("S_AXI_HP0", "aximm", "SLAVE", _axi3(6, 64), lambda s: f"S_AXI_HP0_{s}",
                {"PROTOCOL": "AXI3", "DATA_WIDTH": "64", "ADDR_WIDTH": "32", "ID_WIDTH": "6",
                 "FREQ_HZ": freq, "CLK_DOMAIN": domain})
    nets.join(clk_net, (ps_name, "FCLK_CLK0"), (ps_name, "M_AXI_GP0_ACLK"),
              (ps_name, "S_AXI_HP0_ACLK"))

    # --- the AXI DMA
    cfg = d.config[dma_name]
    mm2s_w, s2mm_w = int(cfg["c_m_axis_mm2s_tdata_width"]), int(cfg["c_s_axis_s2mm_tdata_width"])
    dma = mods[dma_name] = _Module(dma_name, d.cells[dma_name], "axi_dma")
    # axi_dma 7.1's defaults (PG021), then what build.tcl sets
    dma.params.update({"c_include_sg": "1", "c_sg_length_width": "14", "c_micro_dma": "0",
                       "c_include_mm2s": "1", "c_include_s2mm": "1",
                       "c_include_mm2s_dre": "0", "c_include_s2mm_dre": "0",
                       "c_m_axi_mm2s_data_width": "32", "c_m_axi_s2mm_data_width": "32",
                       "c_m_axis_mm2s_tdata_width": "32", "c_s_axis_s2mm_tdata_width": "32",
                       "c_mm2s_burst_size": "16", "c_s2mm_burst_size": "16",
                       "c_addr_width": "32", "c_enable_multi_channel": "0",
                       "Component_Name": f"{d.name}_{dma_name}_0", "EDK_IPTYPE": "PERIPHERAL"})
    dma.params.update(cfg)
    for clk in ("s_axi_lite_aclk", "m_axi_mm2s_aclk", "m_axi_s2mm_aclk"):
        dma.add_port(clk, "I", sigis="clk")
    dma.add_port("axi_resetn", "I", sigis="rst")
    dma.add_intf("S_AXI_LITE", "aximm", "SLAVE", _lite(10, prot=False, strb=False),
                 lambda s: f"s_axi_lite_{s.lower()}", {"PROTOCOL": "AXI4LITE"})
    dma.add_intf("M_AXI_MM2S", "aximm", "MASTER", _dma_read(32),
                 lambda s: f"m_axi_mm2s_{s.lower()}", {"PROTOCOL": "AXI4"})
    dma.add_intf("M_AXI_S2MM", "aximm", "MASTER", _dma_write(32),
                 lambda s: f"m_axi_s2mm_{s.lower()}", {"PROTOCOL": "AXI4"})
    dma.add_intf("M_AXIS_MM2S", "axis", "INITIATOR", _stream(mm2s_w, True),
                 lambda s: f"m_axis_mm2s_{s.lower()}",
                 {"TDATA_NUM_BYTES": str(mm2s_w // 8), "HAS_TLAST": "1", "HAS_TKEEP": "1"})
    dma.add_intf("S_AXIS_S2MM", "axis", "TARGET", _stream(s2mm_w, True),
                 lambda s: f"s_axis_s2mm_{s.lower()}",
                 {"TDATA_NUM_BYTES": str(s2mm_w // 8), "HAS_TLAST": "1", "HAS_TKEEP": "1"})
    dma.add_port("mm2s_introut", "O", sigis="INTERRUPT")
    dma.add_port("s2mm_introut", "O", sigis="INTERRUPT")
    off, rng, blk = d.addresses[f"{dma_name}/S_AXI_LITE"]
    dma.params.update({"C_BASEADDR": f"0x{off:08X}", "C_HIGHADDR": f"0x{off + rng - 1:08X}"})
    dma.blocks.append(("S_AXI_LITE", blk, rng, DMA_REGISTERS))
    nets.join(clk_net, *[(dma_name, c) for c in ("s_axi_lite_aclk", "m_axi_mm2s_aclk",
                                                  "m_axi_s2mm_aclk")])
    nets.join(periph_rst, (dma_name, "axi_resetn"))

    # --- the memhil IP: the wrapper's ports, grouped as Vivado's IP packager infers them
    ip = mods[ip_name] = _Module(ip_name, d.cells[ip_name], d.cells[ip_name].split(":")[2])
    ip.params.update({k: str(v) for k, v in p.items()})
    ip.params.update({"Component_Name": f"{d.name}_{ip_name}_0", "EDK_IPTYPE": "PERIPHERAL"})
    groups: dict[str, list] = {}
    for name, direction, width in d.ports:
        m = re.match(r"((?:s_axil)|(?:[sm]_axis_\w+?))_(\w+)$", name)
        if name in ("aclk", "aresetn") or not m:
            ip.add_port(name, direction, width, "clk" if name == "aclk" else "rst")
            continue
        groups.setdefault(m.group(1), []).append((m.group(2).upper(), name, direction, width))
    for intf, sigs in groups.items():
        slave = intf.startswith("s_")
        kind = "aximm" if intf == "s_axil" else "axis"
        typ = "SLAVE" if slave else "MASTER"
        # (logical, width, driven by the master) from the wrapper's directions
        signals = [(lg, w, (dr == "I") == slave) for lg, _, dr, w in sigs]
        names = {lg: ph for lg, ph, _, _ in sigs}
        widths = {lg: w for lg, _, _, w in sigs}
        params = ({"PROTOCOL": "AXI4LITE", "DATA_WIDTH": "32",
                   "ADDR_WIDTH": str(widths["AWADDR"])} if kind == "aximm" else
                  {"TDATA_NUM_BYTES": str(widths["TDATA"] // 8), "HAS_TLAST": "1",
                   "HAS_TKEEP": "0"})
        ip.add_intf(intf, kind, typ, signals, names.__getitem__, {**params, "FREQ_HZ": freq})
    off, rng, blk = d.addresses[f"{ip_name}/s_axil"]
    ip.blocks.append(("s_axil", blk, rng, []))
    nets.join(clk_net, (ip_name, "aclk"))
    nets.join(periph_rst, (ip_name, "aresetn"))

    # --- the streams (build.tcl's connect_bd_intf_net)
    for a, b in d.streams:
        (ai, aif), (bi, bif) = a.split("/"), b.split("/")
        if mods[ai].intfs[aif].type in ("MASTER", "INITIATOR"):
            _connect_bus(nets, mods, (ai, aif), (bi, bif))
        else:
            _connect_bus(nets, mods, (bi, bif), (ai, aif))

    # --- the connection automation: an AXI Interconnect on GP0, a SmartConnect on HP0
    gp_slaves = [s for m, s, _ in d.axi if m == f"{ps_name}/M_AXI_GP0"]
    hp_masters = [m for m, s, _ in d.axi if s == f"{ps_name}/S_AXI_HP0"]
    ic_name, smc_name = f"{ps_name}_axi_periph", "axi_smc"
    ic = mods[ic_name] = _Module(ic_name, "xilinx.com:ip:axi_interconnect:2.1",
                                 "axi_interconnect", {"NUM_SI": "1", "NUM_MI": str(len(gp_slaves))},
                                 attrs={"MODCLASS": "BUS", "IPTYPE": "BUS"})
    ic.add_intf("S00_AXI", "aximm", "SLAVE", _axi3(12, 32), lambda s: f"S00_AXI_{s.lower()}",
                {"PROTOCOL": "AXI3"})
    for clk in ("ACLK", "S00_ACLK"):
        ic.add_port(clk, "I", sigis="clk")
        nets.join(clk_net, (ic_name, clk))
    ic.add_port("ARESETN", "I", sigis="rst")
    ic.add_port("S00_ARESETN", "I", sigis="rst")
    nets.join(ic_rst, (ic_name, "ARESETN"))
    nets.join(periph_rst, (ic_name, "S00_ARESETN"))
    _connect_bus(nets, mods, (ps_name, "M_AXI_GP0"), (ic_name, "S00_AXI"))
    for k, slave in enumerate(gp_slaves):
        si, sif = slave.split("/")
        mi = f"M{k:02d}_AXI"
        sigs = [(lg, mods[si].ports[ph][1], None) for lg, ph in mods[si].intfs[sif].ports.items()]
        full = {s[0]: s[2] for s in _lite(32)}
        ic.add_intf(mi, "aximm", "MASTER", [(lg, w, full[lg]) for lg, w, _ in sigs],
                    lambda s, mi=mi: f"{mi}_{s.lower()}", {"PROTOCOL": "AXI4LITE"})
        for clk, rst in ((f"M{k:02d}_ACLK", f"M{k:02d}_ARESETN"),):
            ic.add_port(clk, "I", sigis="clk")
            ic.add_port(rst, "I", sigis="rst")
            nets.join(clk_net, (ic_name, clk))
            nets.join(periph_rst, (ic_name, rst))
        _connect_bus(nets, mods, (ic_name, mi), (si, sif))
        off, rng, blk = d.addresses[slave]
        ps.memranges.append({"ADDRESSBLOCK": blk, "BASENAME": "C_BASEADDR",
                             "BASEVALUE": f"0x{off:08X}", "HIGHNAME": "C_HIGHADDR",
                             "HIGHVALUE": f"0x{off + rng - 1:08X}", "INSTANCE": si,
                             "IS_DATA": "TRUE", "IS_INSTRUCTION": "TRUE",
                             "MASTERBUSINTERFACE": "M_AXI_GP0", "MEMTYPE": "REGISTER",
                             "SLAVEBUSINTERFACE": sif})
    smc = mods[smc_name] = _Module(smc_name, "xilinx.com:ip:smartconnect:1.0", "smartconnect",
                                   {"NUM_SI": str(len(hp_masters)), "NUM_MI": "1"},
                                   attrs={"MODCLASS": "BUS", "IPTYPE": "BUS"})
    smc.add_port("aclk", "I", sigis="clk")
    smc.add_port("aresetn", "I", sigis="rst")
    nets.join(clk_net, (smc_name, "aclk"))
    nets.join(periph_rst, (smc_name, "aresetn"))
    smc.add_intf("M00_AXI", "aximm", "MASTER", _axi3(6, 64), lambda s: f"M00_AXI_{s.lower()}",
                 {"PROTOCOL": "AXI3"})
    _connect_bus(nets, mods, (smc_name, "M00_AXI"), (ps_name, "S_AXI_HP0"))
    for k, master in enumerate(hp_masters):
        mi_, mif = master.split("/")
        si = f"S{k:02d}_AXI"
        sigs = [(lg, mods[mi_].ports[ph][1], 1 if mods[mi_].ports[ph][0] == "O" else 0)
                for lg, ph in mods[mi_].intfs[mif].ports.items()]
        smc.add_intf(si, "aximm", "SLAVE", sigs, lambda s, si=si: f"{si}_{s.lower()}",
                     {"PROTOCOL": "AXI4"})
        _connect_bus(nets, mods, (mi_, mif), (smc_name, si))
        mods[mi_].memranges.append({"ADDRESSBLOCK": "HP0_DDR_LOWOCM", "BASENAME": "C_BASEADDR",
                                    "BASEVALUE": "0x00000000", "HIGHNAME": "C_HIGHADDR",
                                    "HIGHVALUE": f"0x{DDR_HIGH:08X}", "INSTANCE": ps_name,
                                    "IS_DATA": "TRUE", "IS_INSTRUCTION": "TRUE",
                                    "MASTERBUSINTERFACE": mif, "MEMTYPE": "MEMORY",
                                    "SLAVEBUSINTERFACE": "S_AXI_HP0"})

    # --- the reset
    rst = mods[rst_name] = _Module(rst_name, "xilinx.com:ip:proc_sys_reset:5.0",
                                   "proc_sys_reset")
    rst.add_port("slowest_sync_clk", "I", sigis="clk")
    rst.add_port("ext_reset_in", "I", sigis="rst")
    rst.add_port("interconnect_aresetn", "O", sigis="rst")
    rst.add_port("peripheral_aresetn", "O", sigis="rst")
    nets.join(clk_net, (rst_name, "slowest_sync_clk"))
    nets.join(rstn_net, (ps_name, "FCLK_RESET0_N"), (rst_name, "ext_reset_in"))
    nets.join(ic_rst, (rst_name, "interconnect_aresetn"))
    nets.join(periph_rst, (rst_name, "peripheral_aresetn"))
    return mods, nets, d


def _package(part: str) -> str:
    m = re.search(r"(clg\d+)", part)
    return m.group(1) if m else ""


# ------------------------------------------------------------------------ XML
def _a(**kw) -> str:
    return " ".join(f"{k}={quoteattr(str(v))}" for k, v in kw.items() if v is not None)


def hwh(params: dict | None = None, design: Design | None = None) -> str:
    """The .hwh text of the block design for the IP parameters ``params`` (e.g. ROWS, COLS,
    TILES, LANES, G_W; the others: bitstreams/Makefile's default build)."""
    mods, nets, d = build(params, design)
    device = d.part[2:].split("clg")[0] if d.part.startswith("xc") else d.part
    package = _package(d.part)
    fclk = mods[next(n for n, m in mods.items() if m.modtype == "processing_system7")].params[
        "C_FCLK_CLK0_FREQ"]
    out = ['<?xml version="1.0" encoding="UTF-8" standalone="no" ?>',
           '<EDKSYSTEM EDWVERSION="1.2" TIMESTAMP="generated by tests/memhil_hwh.py" '
           'VIVADOVERSION="2022.2">', "",
           "  <SYSTEMINFO " + _a(ARCH="zynq", DEVICE=device, NAME=d.name, PACKAGE=package,
                                 SPEEDGRADE="-" + d.part.rsplit("-", 1)[1]) + "/>",
           "", "  <EXTERNALPORTS/>", "", "  <EXTERNALINTERFACES/>", "", "  <MODULES>"]
    for name in sorted(mods):
        m = mods[name]
        ver = m.vlnv.split(":")[3]
        attrs = {"COREREVISION": "1", "FULLNAME": f"/{name}", "HWVERSION": ver, "INSTANCE": name,
                 "IPTYPE": "PERIPHERAL", "IS_ENABLE": "1", "MODCLASS": "PERIPHERAL",
                 "MODTYPE": m.modtype, "VLNV": m.vlnv, **m.attrs}
        out.append(f"    <MODULE {_a(**dict(sorted(attrs.items())))}>")
        out.append("      <DOCUMENTS/>")
        if m.blocks:
            out.append("      <ADDRESSBLOCKS>")
            for intf, blk, rng, regs in m.blocks:
                out.append("        <ADDRESSBLOCK " + _a(ACCESS="read-write", INTERFACE=intf,
                                                      NAME=blk, RANGE=rng, USAGE="register") + ">")
                out.append("          <REGISTERS>")
                for rname, roff, desc, fields in regs:
                    out.append(f"            <REGISTER {_a(NAME=rname)}>")
                    for k, v in (("DESCRIPTION", desc), ("ADDRESS_OFFSET", hex(roff)),
                                 ("SIZE", 32), ("ACCESS", "read-write"), ("IS_ENABLED", "true"),
                                 ("RESET_VALUE", "0x0")):
                        out.append(f"              <PROPERTY {_a(NAME=k, VALUE=v)}/>")
                    out.append("              <FIELDS>")
                    for fname, bit, width in fields:
                        out.append(f"                <FIELD {_a(NAME=fname)}>")
                        for k, v in (("DESCRIPTION", fname), ("ADDRESS_OFFSET", bit // 8),
                                     ("ACCESS", "read-write"), ("BIT_OFFSET", bit),
                                     ("BIT_WIDTH", width)):
                            out.append(f"                  <PROPERTY {_a(NAME=k, VALUE=v)}/>")
                        out.append("                </FIELD>")
                    out.append("              </FIELDS>")
                    out.append("            </REGISTER>")
                out.append("          </REGISTERS>")
                out.append("        </ADDRESSBLOCK>")
            out.append("      </ADDRESSBLOCKS>")
        out.append("      <PARAMETERS>")
        for k, v in m.params.items():
            out.append(f"        <PARAMETER {_a(NAME=k, VALUE=v)}/>")
        out.append("      </PARAMETERS>")
        out.append("      <PORTS>")
        for pname, (dr, width, sigis) in m.ports.items():
            rng = {"LEFT": width - 1, "RIGHT": 0} if width > 1 else {}
            net = nets.of.get((name, pname))
            clkf = {"CLKFREQUENCY": fclk} if sigis == "clk" else {}
            head = _a(**clkf, DIR=dr, **rng, NAME=pname, SIGIS=sigis, SIGNAME=net)
            # an input lists the net's driver, an output its loads (as Vivado writes them)
            others = [e for e in nets.nets.get(net, []) if mods[e[0]].ports[e[1]][0] != dr]
            if not others:
                out.append(f"        <PORT {head}/>")
                continue
            out.append(f"        <PORT {head}>")
            out.append("          <CONNECTIONS>")
            for inst, port in others:
                out.append(f"            <CONNECTION {_a(INSTANCE=inst, PORT=port)}/>")
            out.append("          </CONNECTIONS>")
            out.append("        </PORT>")
        out.append("      </PORTS>")
        out.append("      <BUSINTERFACES>")
        for intf in m.intfs.values():
            out.append("        <BUSINTERFACE " + _a(BUSNAME=intf.busname, NAME=intf.name,
                                                      TYPE=intf.type, VLNV=intf.vlnv) + ">")
            for k, v in intf.params.items():
                out.append(f"          <PARAMETER {_a(NAME=k, VALUE=v)}/>")
            out.append("          <PORTMAPS>")
            for logical, phys in intf.ports.items():
                out.append(f"            <PORTMAP {_a(LOGICAL=logical, PHYSICAL=phys)}/>")
            out.append("          </PORTMAPS>")
            out.append("        </BUSINTERFACE>")
        out.append("      </BUSINTERFACES>")
        if m.memranges:
            out.append("      <MEMORYMAP>")
            for r in m.memranges:
                out.append(f"        <MEMRANGE {_a(**r)}/>")
            out.append("      </MEMORYMAP>")
            out.append("      <PERIPHERALS>")
            for inst in dict.fromkeys(r["INSTANCE"] for r in m.memranges):
                out.append(f"        <PERIPHERAL {_a(INSTANCE=inst)}/>")
            out.append("      </PERIPHERALS>")
        out.append("    </MODULE>")
    out += ["  </MODULES>", "", "</EDKSYSTEM>", ""]
    return "\n".join(out)


def write_hwh(path, params: dict | None = None) -> Path:
    """Write the .hwh to ``path``; return it."""
    path = Path(path)
    path.write_text(hwh(params), encoding="utf-8")
    return path


if __name__ == "__main__":      # python tests/memhil_hwh.py [ROWS COLS TILES LANES G_W] > x.hwh
    import sys

    args = [int(a) for a in sys.argv[1:]]
    sys.stdout.write(hwh(dict(zip(("ROWS", "COLS", "TILES", "LANES", "G_W"), args))))
