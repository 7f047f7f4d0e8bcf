"""Mapping a network onto a build's tiles (issue 11.1c): the geometry that holds the paper's
network without large padding, the refusal of a network that does not fit, and training on a
board whose tile shape is not the network's (layers split into blocks)."""
import numpy as np
import pytest
import torch

from memhil.config import DeviceConfig
from memhil.mapping import (NetworkDoesNotFit, choose_geometry, fit_network, plan_tiles,
                            tiles_needed)
from memhil.runtime.device_model import TwinDevice
from memhil.runtime.sim_link import TwinLinkServer

PAPER = [784, 256, 128, 10]


def _cells(sizes):
    return sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:]))


def test_paper_network_geometry_has_little_padding():
    r, c, t = choose_geometry(PAPER)
    assert (r, c, t) == (128, 262, 8)
    assert tiles_needed(PAPER, r, c) == [6, 1, 1]
    assert _cells(PAPER) == 235_146
    padded = t * r * (-(-c // 8) * 8)
    assert padded <= 1.15 * 235_146                      # vs 3 x 256 x 785 = 602,880 before
    # every layer's blocks cover it exactly once
    for (a, b) in zip(PAPER[:-1], PAPER[1:]):
        cover = np.zeros((b, a + 1), dtype=int)
        for r0, r1, c0, c1 in plan_tiles(b, a + 1, r, c):
            assert r1 - r0 <= r and c1 - c0 <= c
            cover[r0:r1, c0:c1] += 1
        assert (cover == 1).all()


@pytest.mark.parametrize("sizes", [[64, 32, 10], [784, 100, 10], [20, 1500, 3], [5, 2]])
def test_chosen_geometry_holds_the_network_within_the_slack(sizes):
    r, c, t = choose_geometry(sizes, slack=0.15)
    assert sum(tiles_needed(sizes, r, c)) == t <= 16
    assert fit_network(sizes, r, c, t)[-1][-1] == t - 1
    tight = choose_geometry(sizes, slack=0.0)
    cells = lambda g: g[2] * g[0] * (-(-g[1] // 8) * 8)  # noqa: E731
    assert cells((r, c, t)) <= 1.15 * cells(tight) and t <= tight[2]


def test_a_network_that_does_not_fit_is_refused_with_what_would():
    with pytest.raises(NetworkDoesNotFit) as ei:
        fit_network(PAPER, 256, 384, 1)
    msg = str(ei.value)
    assert "784-256-128-10 needs 5 tiles of 256x384" in msg and "the build has 1" in msg
    assert "256x785: 3" in msg and "ROWS=128 COLS=262 TILES=8" in msg
    assert isinstance(ei.value, ValueError)
    with pytest.raises(NetworkDoesNotFit, match="does not fit"):
        choose_geometry([4000, 1000, 10], max_tiles=2)


def _server(rows, cols, tiles):
    return TwinLinkServer(TwinDevice(rows, cols, tiles, g_w=8)).start()


def test_board_with_another_tile_shape_trains_the_network_split_into_blocks():
    """`--backend board` on a bitstream whose tiles are not the network's shape: the torch path
    and the numpy path split the layers onto the board's tiles the same way and agree bit for
    bit; a board with too few tiles is refused before anything is written."""
    from memhil.backend import backend_kinds  # noqa: F401  (registers sim/board)
    from memhil.nn.models import crossbar_mlp
    from memhil.npnn import NumpyMLP

    sizes, cfg = [64, 32, 10], DeviceConfig(update_mode="rounding", seed=2)
    srv_a, srv_b = _server(16, 33, 6), _server(16, 33, 6)
    try:
        net = crossbar_mlp(sizes, 1, cfg, backend="board",
                           backend_options={"port": srv_a.url, "timeout": 5.0})
        layers = [m for m in net if hasattr(m, "blocks")]
        assert [len(m.blocks) for m in layers] == [4, 1]       # 32x65 in 2x2 blocks, 10x33 in 1
        assert sorted(t for m in layers for t, *_ in m.blocks) == [0, 1, 2, 3, 4]
        npm = NumpyMLP("board", sizes, config=cfg, seed=1,
                       backend_options={"port": srv_b.url, "timeout": 5.0})
        from memhil.nn.layer import CrossbarSGD
        from memhil.nn.loss import CrossEntropyLoss

        g = torch.Generator().manual_seed(3)
        opt, loss_fn = CrossbarSGD(net, 0.1), CrossEntropyLoss()
        for step in range(3):                 # three minibatches of 6, both paths
            x, y = torch.rand(6, 64, generator=g), torch.randint(0, 10, (6,), generator=g)
            opt.zero_grad()
            out = net(x)
            loss_fn(out, y).backward()
            pulses = opt.step()
            r = npm.train_step(x.numpy(), y.numpy(), 0.1)
            assert np.array_equal(out.detach().numpy(), r["logits"]) and pulses == r["pulses"]
        assert pulses > 0
        ta, tb = srv_a.device.twin, srv_b.device.twin
        assert torch.equal(ta.gp, tb.gp) and torch.equal(ta.gm, tb.gm)
        assert ta.regs["CNT_UPDATES"] == tb.regs["CNT_UPDATES"] > 0
        for m in layers:
            m.backend.close()
        npm.close()
    finally:
        srv_a.stop()
        srv_b.stop()
    srv = _server(16, 33, 4)
    try:
        with pytest.raises(NetworkDoesNotFit, match="needs 5 tiles of 16x33"):
            crossbar_mlp(sizes, 1, cfg, backend="board",
                         backend_options={"port": srv.url, "timeout": 5.0})
        assert srv.device.twin.regs["CNT_READS"] == 0
    finally:
        srv.stop()


def test_default_synth_build_is_the_paper_network_build():
    """`make synth`'s default build (memhil.tools.hdl.DEFAULTS) is the one that holds
    784-256-128-10 with bias columns on its own tiles at once (issue 11, deliverable 2), and its
    6-bit codes take the paper's 32 levels with SUB_BITS 1; the default DeviceConfig (SUB_BITS
    3) is refused with a message that names the --sub-bits that fits."""
    from memhil.config import DeviceConfig
    from memhil.mapping import choose_geometry, fit_network
    from memhil.runtime.session import code_width_problem
    from memhil.tools.hdl import DEFAULTS

    sizes = [784, 256, 128, 10]
    r, c, t = choose_geometry(sizes, lanes=DEFAULTS["LANES"])
    assert (r, c, t) == (DEFAULTS["ROWS"], DEFAULTS["COLS"], DEFAULTS["TILES"])
    tiles_of = fit_network(sizes, r, c, t)
    assert sum(map(len, tiles_of)) <= t
    g_w = DEFAULTS["G_W"]
    assert code_width_problem(DeviceConfig(levels=32, sub_bits=1), g_w) is None
    msg = code_width_problem(DeviceConfig(levels=32), g_w)
    assert msg is not None and "--sub-bits 1" in msg and f"G_W={g_w}" in msg
    assert "fewer --levels" in code_width_problem(DeviceConfig(levels=128, sub_bits=0), g_w)
