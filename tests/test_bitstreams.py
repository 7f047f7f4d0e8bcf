"""The Vivado flow, checked without Vivado (issue 12, deliverable 5): every file the Tcl names
exists, the IP wrapper's ports match the RTL top's, the IP is packaged under the VLNV the
pynq driver binds to, and build.tcl keeps its gates (board part, timing) in place."""
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BIT = REPO / "bitstreams"
TCL_FILES = sorted(BIT.glob("*.tcl"))


@pytest.mark.parametrize("tcl", TCL_FILES, ids=lambda p: p.name)
def test_every_file_the_tcl_names_exists(tcl):
    text = tcl.read_text()
    here, hdl = tcl.parent, (tcl.parent / ".." / "hdl").resolve()
    assert 'set hdl  [file normalize "$here/../hdl"]' in text or "$hdl" not in text
    named = 0
    for var, rel in re.findall(r'"\$(here|hdl)/([^"$\[\]]+)"', text):
        base = here if var == "here" else hdl
        if "*" in rel:
            assert list(base.glob(rel)), f"{tcl.name}: ${var}/{rel} matches no file"
        elif rel not in ("../hdl", "build"):     # $hdl itself; the build folder it makes
            assert (base / rel).is_file(), f"{tcl.name}: ${var}/{rel} does not exist"
        named += 1
    assert named >= 2
    # outputs written beside the .bit are not inputs; the inputs above include the wrapper
    assert "memhil_ip.v" in text and (BIT / "memhil_ip.v").is_file()


def test_the_makefile_names_existing_inputs():
    mk = (BIT / "Makefile").read_text()
    assert "build.tcl" in mk and (BIT / "build.tcl").is_file()
    assert "$(wildcard ../hdl/*.sv) memhil_ip.v" in mk
    assert list((REPO / "hdl").glob("*.sv"))


# ---------------------------------------------------------------- ports
_PORT = re.compile(r"^\s*(?:\(\*.*?\*\)\s*)*(input|output|inout)\s+(?:wire\s+)?(?:logic\s+)?"
                   r"(?:\[([^\]]+)\]\s*)?(\w+)\s*,?\s*(?://.*)?$", re.M)
_PARAM = re.compile(r"parameter\s+(?:int\s+)?(?:unsigned\s+)?(\w+)\s*=\s*([^,)\n]+)")


def _module(text: str, name: str) -> str:
    text = re.sub(r"//[^\n]*", "", text)       # (a comment may hold ");")
    m = re.search(rf"\bmodule\s+{name}\b(.*?)\);", text, re.S)
    assert m, f"module {name} not found"
    return m.group(1)


def _width(rng: str | None, params: dict[str, int]) -> int:
    if rng is None:
        return 1
    expr = rng
    for k, v in params.items():
        expr = re.sub(rf"\b{k}\b", str(v), expr)
    assert re.fullmatch(r"[\d\s+\-*/():$clog2]+", expr), f"cannot evaluate [{rng}]"
    hi, lo = (eval(e, {"__builtins__": {}}, {}) for e in expr.split(":"))   # noqa: S307
    return abs(hi - lo) + 1


def _value(v: str) -> int:
    """A parameter default: a number, or a memhil_pkg constant (from the contract)."""
    from memhil.contract.spec import SPEC

    v = v.removeprefix("memhil_pkg::")          # (memhil_top names the package explicitly)
    return int(v) if v.isdigit() else int(SPEC.limits[v.lower()])


def _ports(text: str, name: str) -> tuple[dict, dict]:
    head = _module(text, name)
    params = {k: _value(v.strip()) for k, v in _PARAM.findall(head)}
    ports = {p: (d, _width(r or None, params)) for d, r, p in _PORT.findall(head)}
    return ports, params


def test_ip_wrapper_ports_match_the_rtl_top():
    top_text = (REPO / "hdl" / "memhil_top.sv").read_text()
    ip_text = (BIT / "memhil_ip.v").read_text()
    top, top_params = _ports(top_text, "memhil_top")
    ip, ip_params = _ports(ip_text, "memhil_ip")
    assert len(top) >= 20 and len(ip) == len(top)
    assert set(ip_params) == set(top_params)
    # the wrapper's instance of memhil_top: every top port connected once, to a wrapper port
    # of the same direction and width (names equal except the clock and reset, which follow
    # Xilinx's interface inference: aclk, aresetn)
    inst = re.search(r"memhil_top\s*#\s*\((.*?)\)\s*u_\w+\s*\((.*?)\);", ip_text, re.S)
    assert inst, "memhil_ip does not instantiate memhil_top"
    overrides = dict(re.findall(r"\.(\w+)\s*\(\s*(\w+)\s*\)", inst.group(1)))
    assert overrides == {k: k for k in top_params}, "every parameter passed through"
    conns = re.findall(r"\.(\w+)\s*\(\s*(\w+)\s*\)", inst.group(2))
    assert sorted(p for p, _ in conns) == sorted(top), "instance connects exactly the top's ports"
    renamed = {"clk": "aclk", "rst_n": "aresetn"}
    for port, sig in conns:
        assert sig == renamed.get(port, port), (port, sig)
        assert sig in ip, f"{sig} is not a port of memhil_ip"
        assert ip[sig][0] == top[port][0], f"{port}: direction {top[port][0]} vs {ip[sig][0]}"
        assert ip[sig][1] == top[port][1], f"{port}: width {top[port][1]} vs {ip[sig][1]}"


def test_the_ip_is_packaged_under_the_drivers_vlnv():
    from memhil.runtime.pynq_transport import MEMHIL_VLNV

    vendor, library, name, version = MEMHIL_VLNV.split(":")
    tcl = (BIT / "build.tcl").read_text()
    assert f"-vendor {vendor} -library {library}" in tcl
    assert f"set_property name {name} $core" in tcl and f"set_property version {version}" in tcl
    assert f"-vlnv {MEMHIL_VLNV} memhil" in tcl                # cell name: overlay.memhil
    assert "axi_dma dma]" in tcl                               # cell name: overlay.dma


def test_build_tcl_gates():
    """No silent catch of the board part; a timing gate before write_bitstream; reports beside
    the .bit (the Tcl itself has never run here: there is no Vivado)."""
    tcl = (BIT / "build.tcl").read_text()
    code = "\n".join(line.split("#")[0] for line in tcl.splitlines())
    assert "catch" not in code
    assert "get_board_parts" in code and "exit 1" in code
    gate = code.index("get_timing_paths")
    assert gate < code.index("-to_step write_bitstream")
    assert "$wns < 0" in code
    assert "report_utilization -file" in code and "report_timing_summary" in code
    assert '"$here/$name.utilization.rpt"' in code and '"$here/$name.timing.rpt"' in code


def test_build_defaults_agree_with_make_synth():
    """The Vivado build (bitstreams/Makefile, the IP wrapper's parameter defaults) and `make
    synth` (memhil.tools.hdl.DEFAULTS) build the same paper-network configuration."""
    from memhil.tools.hdl import DEFAULTS

    mk = dict(re.findall(r"^(\w+)\s*\?=\s*(\d+)\s*$", (BIT / "Makefile").read_text(), flags=re.M))
    ip = dict(re.findall(r"^\s*parameter\s+(\w+)\s*=\s*(\d+)", (BIT / "memhil_ip.v").read_text(),
                         flags=re.M))
    for k, v in DEFAULTS.items():
        assert int(mk[k]) == v, f"bitstreams/Makefile {k} ?= {mk[k]}, make synth: {v}"
        assert int(ip[k]) == v, f"memhil_ip.v parameter {k} = {ip[k]}, make synth: {v}"
