"""`memhil bench board`'s arithmetic (memhil.bench.board), without a simulation: the linearity
check and the exact extrapolation to B = 32, the projection's keys and sums, the bare-bound
ratio, and the loud failure on counts that are not linear in B. The simulator and the twin are
replaced by stand-ins (counts from the documented cycle formula, fixed twin speeds); the real
measurement is `memhil bench board` (docs/performance.md)."""
import json
import math
import re

import pytest

from memhil.bench import board, rtl
from memhil.cli import main as cli_main

NET = (6, 4, 3)                     # tiles 4x7 and 3x5: tiny, LANES 4 pads every row
TWIN = {"rounding": 4000.0, "coincidence": 2500.0, "data": "stand-in", "threads": 1,
        "repeats": 1, "samples_per_epoch": 64}
WREG = 31                           # cycles of one WRITE_REG in the stand-in


def fake_simulate(R, C, L, plan, payload_log2, build_root, *, bend=0):
    """What sim/bench_rtl/bench_board.py writes, from the documented formulas; ``bend``
    adds B*B cycles to FORWARD_B (not linear)."""
    assert plan["bs"] == [1, 2, 3] and plan["modes"] == [0, 1] and plan["bl"] == board.BL
    assert payload_log2 >= 12
    res = {"rows": R, "cols": C, "write_reg": WREG, "sim_cycles": 1000, "cycles_per_s": 1e4}
    for read in plan["reads"]:
        res[read] = rtl.top_cycles(R, C, L, read, 0, False, board.BL)
        res[f"{read}_b"] = {str(b): board.batched_cycles(R, C, L, f"{read}_b", b)
                            + (bend * b * b if read == "forward" else 0) for b in plan["bs"]}
    for m in plan["modes"]:
        res[f"update_m{m}"] = rtl.top_cycles(R, C, L, "update", m, True, board.BL)
        res[f"update_b_m{m}"] = {str(b): board.batched_cycles(R, C, L, "update_b", b, m)
                                 for b in plan["bs"]}
    return res


def fake_twin(network, batch):
    assert network == NET and batch == board.BATCH
    return dict(TWIN)


def measure(**kw):
    return board.measure(network=NET, lanes=(4,), simulate_fn=kw.pop("simulate_fn", fake_simulate),
                         twin_fn=fake_twin, **kw)


def test_linear_fit_and_exact_extrapolation():
    assert board.linear_fit({1: 110, 2: 207, 3: 304}) == (13, 97)
    assert board.linear_fit({"3": 304, "1": 110, "2": 207}) == (13, 97)   # JSON keys, any order
    assert board.extrapolate({1: 110, 2: 207, 3: 304}, 32) == 13 + 97 * 32
    assert isinstance(board.extrapolate({1: 110, 2: 207, 3: 304}, 32), int)


@pytest.mark.parametrize("counts,why", [
    ({1: 110, 2: 207, 3: 305}, "second differences [1], not 0"),
    ({1: 110, 2: 207, 3: 303}, "second differences [-1], not 0"),
    ({1: 100, 2: 150, 3: 200, 4: 251}, "second differences [0, 1], not 0"),
    ({1: 100, 3: 201, 5: 302}, "not on one line"),   # slope 50.5 is not whole
])
def test_counts_that_are_not_linear_are_refused(counts, why):
    with pytest.raises(board.CountsNotLinear, match=re.escape(why)):
        board.linear_fit(counts, "forward_b 4x7")


def test_two_points_cannot_show_linearity():
    with pytest.raises(ValueError, match="3 or more"):
        board.linear_fit({1: 10, 2: 20})


def test_minibatch_is_the_papers_commands():
    assert board.layer_tiles() == [(256, 785), (128, 257), (10, 129)]
    cmds = board.minibatch_commands(3)
    assert sorted(cmds) == sorted([(0, "forward_b"), (1, "forward_b"), (2, "forward_b"),
                                   (1, "transpose_b"), (2, "transpose_b"),
                                   (0, "update_b"), (1, "update_b"), (2, "update_b")])
    # B = 3 of the 785-input layer fits the default 4096-byte build; B = 32 needs 2^16
    assert board.payload_log2_needed(256, 785, ["forward_b", "update_b"], 3) == 12
    assert board.payload_log2_needed(256, 785, ["forward_b", "update_b"], 32) == 16
    assert board.frame_bytes(256, 785, "update_b", 32) == (8 + 4 + 32 * 1041, 9 + 4)


def test_batched_formula_is_the_single_formula_at_b1():
    """B = 1 costs the single-sample command plus the u16 B field's two bytes."""
    for (R, C, L) in ((4, 7, 4), (256, 785, 8), (10, 129, 32)):
        for op, single, mode in (("forward_b", "forward", 0), ("transpose_b", "transpose", 0),
                                 ("update_b", "update", 0), ("update_b", "update", 1)):
            assert board.batched_cycles(R, C, L, op, 1, mode) == \
                rtl.top_cycles(R, C, L, single, mode, single == "update", board.BL) + 2


def test_projection_arithmetic():
    res = measure(host_us_per_command=80.0, host_ns_per_byte=4.0, host_us_per_sample=20.0,
                  reg_writes_per_minibatch=3)
    for k in ("board_samples_per_s", "twin_samples_per_s", "board_vs_twin",
              "device_only_samples_per_s", "cycles_vs_bare_bound", "builds", "twin",
              "assumptions", "host", "formula_exact", "batch", "lanes", "wall_s",
              "command_cycles", "cycles_per_minibatch", "bytes_per_minibatch", "stream_share",
              "host_only_samples_per_s"):
        assert k in res, k
    assert set(res["board_vs_twin"]) == {"rounding", "coincidence", "worst", "worst_mode"}
    assert res["formula_exact"] is True and res["batch"] == 32 and res["lanes"] == 4
    assert res["host"] == {"clock_hz": 100e6, "host_us_per_command": 80.0,
                           "host_ns_per_byte": 4.0, "host_us_per_sample": 20.0,
                           "reg_writes_per_minibatch": 3}
    json.dumps(res)                                           # the --json output
    b = res["builds"]["L4"]
    tiles = board.layer_tiles(NET)
    for name, m in (("rounding", 0), ("coincidence", 1)):
        cycles = nbytes = 0
        for i, op in board.minibatch_commands(len(tiles)):
            R, C = tiles[i]
            cycles += board.batched_cycles(R, C, 4, op, 32, m)       # exact at B = 32
            cb, rb = board.frame_bytes(R, C, op, 32)
            nbytes += cb + rb
        cycles += 3 * WREG
        nbytes += 3 * (8 + 6 + 9)
        mode = b["modes"][name]
        assert mode["cycles_per_minibatch"] == cycles
        assert mode["bytes_per_minibatch"] == nbytes == res["bytes_per_minibatch"][name]
        assert res["cycles_per_minibatch"][name] == cycles
        n_cmd = len(board.minibatch_commands(len(tiles))) + 3      # 5 commands + 3 WRITE_REG
        host_s = n_cmd * 80e-6 + nbytes * 4e-9 + 32 * 20e-6
        assert math.isclose(mode["host_s_per_minibatch"], host_s)
        want = 32 / (cycles / 100e6 + host_s)
        assert math.isclose(res["board_samples_per_s"][name], want)
        assert math.isclose(res["device_only_samples_per_s"][name], 32 / (cycles / 100e6))
        assert math.isclose(res["host_only_samples_per_s"][name], 32 / host_s)
        assert res["twin_samples_per_s"][name] == TWIN[name]
        assert math.isclose(res["board_vs_twin"][name], want / TWIN[name])
    bt = res["board_vs_twin"]
    assert bt["worst"] == min(bt["rounding"], bt["coincidence"])
    assert bt["worst_mode"] in ("rounding", "coincidence")
    # cycles against the bare ceil(R*C/LANES) per sample, per command
    ratios = res["cycles_vs_bare_bound"]
    assert set(ratios) == {"l1_forward_b", "l2_forward_b", "l2_transpose_b",
                           "l1_update_b_rounding", "l1_update_b_coincidence",
                           "l2_update_b_rounding", "l2_update_b_coincidence"}
    c = b["commands"]["l1_forward_b"]
    assert c["bare_bound_per_sample"] == math.ceil(4 * 7 / 4) == 7
    assert c["cycles"] == board.batched_cycles(4, 7, 4, "forward_b", 32)
    assert c["extrapolated"] is True and c["measured"] == {
        str(k): board.batched_cycles(4, 7, 4, "forward_b", k) for k in (1, 2, 3)}
    assert math.isclose(ratios["l1_forward_b"], c["cycles"] / (32 * 7))
    assert c["stream_cycles"] + c["array_byte_cycles"] + c["core_cycles"] + \
        c["other_cycles"] == c["cycles"]
    assert c["core_cycles"] == 32 * 4 * 2                  # R * ceil(C/L) per sample (padded)
    assert b["single_formula_exact"] is True


def test_nonlinear_counts_fail_the_measurement():
    with pytest.raises(board.CountsNotLinear, match="forward_b 4x7 LANES=4.*not linear in B"):
        measure(simulate_fn=lambda *a: fake_simulate(*a, bend=1))


def test_formula_mismatch_is_reported_not_fatal():
    def off_by_one(*a):
        res = fake_simulate(*a)
        res["forward_b"] = {k: v + 1 for k, v in res["forward_b"].items()}   # still linear
        return res
    res = measure(simulate_fn=off_by_one)
    assert res["formula_exact"] is False
    assert res["builds"]["L4"]["commands"]["l1_forward_b"]["formula_exact"] is False


def test_cli(monkeypatch, capsys):
    monkeypatch.setattr(board, "simulate", fake_simulate)
    monkeypatch.setattr(board, "measure_twin", lambda network, batch: dict(TWIN))
    monkeypatch.setattr(board, "NETWORK", NET)
    assert cli_main(["bench", "board", "--json", "--lanes", "4",
                     "--host-us-per-command", "0"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["host"]["host_us_per_command"] == 0.0 and list(res["builds"]) == ["L4"]
    assert cli_main(["bench", "board", "--json", "--lanes", "4", "--host-us-per-command", "0",
                     "--host-ns-per-byte", "0", "--host-us-per-sample", "0"]) == 0
    res = json.loads(capsys.readouterr().out)                 # strict JSON: no Infinity
    assert res["host_only_samples_per_s"] == {"rounding": None, "coincidence": None}
    assert res["board_samples_per_s"] == res["device_only_samples_per_s"]
    assert cli_main(["bench", "board", "--lanes", "4"]) == 0          # the table
    out = capsys.readouterr().out
    assert "board_vs_twin" in out and "l1_forward_b" in out
    monkeypatch.setattr(board, "simulate", lambda *a: fake_simulate(*a, bend=1))
    assert cli_main(["bench", "board", "--lanes", "4"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not linear in B" in err


def test_cycles_from_an_earlier_run(monkeypatch, capsys, tmp_path):
    """--cycles-from reprojects an earlier run's counts (other host figures) without
    simulating; the twin is measured again."""
    monkeypatch.setattr(board, "NETWORK", NET)
    monkeypatch.setattr(board, "measure_twin", lambda network, batch: dict(TWIN))
    monkeypatch.setattr(board, "simulate", fake_simulate)
    assert cli_main(["bench", "board", "--json", "--lanes", "4,8"]) == 0
    first = capsys.readouterr().out
    (tmp_path / "b.json").write_text(first)

    def no_simulation(*a):
        raise AssertionError("simulated again")
    monkeypatch.setattr(board, "simulate", no_simulation)
    assert cli_main(["bench", "board", "--json", "--cycles-from", str(tmp_path / "b.json"),
                     "--host-us-per-sample", "500"]) == 0
    again = json.loads(capsys.readouterr().out)
    first = json.loads(first)
    assert again["simulation"]["counts_from_earlier_run"] is True
    assert again["lanes"] == 4 and sorted(again["builds"]) == ["L4", "L8"]
    for mode in ("rounding", "coincidence"):
        assert again["builds"]["L8"]["modes"][mode]["cycles_per_minibatch"] == \
            first["builds"]["L8"]["modes"][mode]["cycles_per_minibatch"]
        assert again["board_samples_per_s"][mode] < first["board_samples_per_s"][mode]
    assert again["cycles_vs_bare_bound"] == first["cycles_vs_bare_bound"]
    (tmp_path / "other.json").write_text(json.dumps({"builds": {"L8": {}}}))
    for argv, words in (
            (["--cycles-from", str(tmp_path / "nope.json")], ["does not exist"]),
            (["--cycles-from", str(tmp_path / "other.json")], ["not the output"]),
            (["--cycles-from", str(tmp_path / "b.json"), "--lanes", "8"], ["--lanes"])):
        assert cli_main(["bench", "board", *argv]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and all(w in err for w in words), err


@pytest.mark.parametrize("argv,words", [
    (["bench", "board", "--lanes", "3"], ["--lanes"]),
    (["bench", "board", "--host-us-per-command", "-1"], ["--host-us-per-command"]),
    (["bench", "rtl", "--lanes", "8"], ["--lanes", "memhil bench board"]),
])
def test_cli_usage_errors(argv, words, capsys):
    assert cli_main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and all(w in err for w in words), err


def test_board_md_figures_are_the_formulas():
    """docs/board.md's "Expected throughput" quotes the default build's batched commands; they
    must be today's cycle formulas (a latency change that moves them must update the page)."""
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "board.md").read_text()
    m = re.search(r"`FORWARD_B` of 32 samples on one tile is ([\d,]+) cycles.*?`UPDATE_B`\s+"
                  r"([\d,]+) \(rounding\) or ([\d,]+) \(coincidence\)", text, re.S)
    assert m, "docs/board.md no longer quotes the default build's FORWARD_B / UPDATE_B cycles"
    got = [int(g.replace(",", "")) for g in m.groups()]
    from memhil.tools.hdl import DEFAULTS

    R, C, L = DEFAULTS["ROWS"], DEFAULTS["COLS"], DEFAULTS["LANES"]      # the default build
    assert got == [board.batched_cycles(R, C, L, "forward_b", 32),
                   board.batched_cycles(R, C, L, "update_b", 32, 0),
                   board.batched_cycles(R, C, L, "update_b", 32, 1)]
