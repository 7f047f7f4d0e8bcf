"""Training: accuracy on digits, checkpoints, bit-exact resume, corrupt checkpoints."""
import pytest
import torch

from memhil.config import DeviceConfig
from memhil.data import load_digits
from memhil.nn import CheckpointError, RunSpec, Trainer, load_checkpoint
from memhil.nn.trainer import final_state_equal, network_state




@pytest.fixture(scope="module")
def digits():
    return load_digits()


def _spec(**kw):
    base = dict(dataset="digits", hidden=[16], epochs=3, batch=16, lr=0.1, seed=3,
                config=DeviceConfig(c2c_sigma=0.2, d2d_sigma=0.1).to_dict())
    base.update(kw)
    return RunSpec(**base)


def test_float_and_memristive_reach_sensible_accuracy(digits):
    d = digits.subset(600, 300)
    accs = {}
    for dev in ("float", "memristive"):
        r = Trainer(_spec(device=dev, epochs=4, batch=8, hidden=[24]), d).fit()
        accs[dev] = r["test_accuracy"]
        assert len(r["history"]) == 4
    assert accs["float"] > 0.85, accs
    assert accs["memristive"] > 0.75, accs
    assert accs["memristive"] > accs["float"] - 0.12, accs


@pytest.mark.parametrize("mode", ["coincidence", "rounding"])
def test_resume_after_kill_is_bit_exact(digits, tmp_path, mode):
    d = digits.subset(300, 100)
    spec = _spec(config=DeviceConfig(c2c_sigma=0.3, d2d_sigma=0.1, read_noise_sigma=0.01,
                                     update_mode=mode).to_dict())
    full = Trainer(spec, d, out_dir=tmp_path / "a")
    full.fit()
    killed = Trainer(spec, d, out_dir=tmp_path / "b", stop_after=1)
    killed.fit()
    assert killed.epoch == 1
    del killed
    resumed = Trainer.from_checkpoint(tmp_path / "b", lambda s: d)
    assert resumed.epoch == 1
    resumed.fit()
    assert final_state_equal(network_state(full.model), network_state(resumed.model))
    strip = [{k: v for k, v in h.items() if k != "epoch_time_s"} for h in full.history]
    assert strip == [{k: v for k, v in h.items() if k != "epoch_time_s"} for h in resumed.history]
    a = load_checkpoint(tmp_path / "a")
    b = load_checkpoint(tmp_path / "b")
    assert final_state_equal(a["net"], b["net"]) and torch.equal(a["order"], b["order"])


def test_float_resume_bit_exact(digits, tmp_path):
    d = digits.subset(300, 100)
    spec = _spec(device="float")
    full = Trainer(spec, d, out_dir=tmp_path / "a")
    full.fit()
    Trainer(spec, d, out_dir=tmp_path / "b", stop_after=2).fit()
    r = Trainer.from_checkpoint(tmp_path / "b", lambda s: d)
    r.fit()
    assert final_state_equal(network_state(full.model), network_state(r.model))


def test_corrupt_and_truncated_checkpoints(digits, tmp_path):
    d = digits.subset(200, 50)
    spec = _spec(epochs=1)
    Trainer(spec, d, out_dir=tmp_path).fit()
    ck = tmp_path / "checkpoint.pt"
    raw = ck.read_bytes()
    (tmp_path / "trunc").mkdir()
    (tmp_path / "trunc" / "checkpoint.pt").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_checkpoint(tmp_path / "trunc")
    (tmp_path / "flip").mkdir()
    bad = bytearray(raw)
    mid = len(bad) // 2
    bad[mid] ^= 0xFF
    (tmp_path / "flip" / "checkpoint.pt").write_bytes(bytes(bad))
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "flip")
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_checkpoint(tmp_path / "nothing")
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "junk")
    # the good one still loads
    assert load_checkpoint(tmp_path)["epoch"] == 1
    # no temporary files left behind
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


_READ_COUNTERS = ("CNT_READS", "CNT_CELL_READS", "CNT_DAC", "CNT_ADC")


def _training_state(tr):
    """What training produced, without the evaluation's traces: the per-epoch losses, pulse
    counts and train accuracies, and the complete network state except the read counters
    (``CNT_READS`` and the energy counters ``CNT_CELL_READS``, ``CNT_DAC``, ``CNT_ADC`` count
    evaluation reads too; they are read-only on a device)."""
    hist = [{k: v for k, v in h.items() if k not in ("test_accuracy", "epoch_time_s")}
            for h in tr.history]
    net = network_state(tr.model)
    for b in net["backends"]:
        b["regs"] = {k: v for k, v in b["regs"].items() if k not in _READ_COUNTERS}
    return hist, net


@pytest.mark.parametrize("mode", ["coincidence", "rounding"])
def test_test_set_size_does_not_change_training_with_read_noise(digits, mode):
    """Issue 9 (defect 3): noisy reads advance the LFSRs that the updates draw from, so an
    evaluation between epochs used to change the training that followed (the size of the test
    set changed losses, pulse counts and weights). Evaluation now restores the LFSR states."""
    got = []
    for n_test in (40, 360):
        spec = _spec(test_subset=n_test,
                     config=DeviceConfig(read_noise_sigma=0.02, update_mode=mode).to_dict())
        tr = Trainer(spec, digits.subset(300, n_test))
        tr.fit()
        got.append(_training_state(tr))
    (h_small, net_small), (h_full, net_full) = got
    assert h_small == h_full
    assert final_state_equal(net_small, net_full)


def test_a_contract_v2_state_loads_only_with_zero_accumulators(digits):
    """A run state saved by contract version 2 carries each twin's accumulators ("acc"); saved
    after an apply they are all zero: it loads and training continues exactly as from the
    version-3 state. A non-zero accumulator is refused with a clear CheckpointError."""
    d = digits.subset(200, 60)
    spec = _spec(epochs=2)
    a = Trainer(spec, d)
    a.train_epoch()
    st = a.state()
    for s in st["net"]["backends"]:
        assert "acc" not in s
    old = {**st, "net": {**st["net"], "backends": [
        {**s, "acc": torch.zeros(s["gp"].shape, dtype=torch.int32)}
        for s in st["net"]["backends"]]}}
    b, c = Trainer(spec, d), Trainer(spec, d)
    b.load(old)
    c.load(st)
    b.train_epoch()
    c.train_epoch()
    assert final_state_equal(network_state(b.model), network_state(c.model))
    assert b.history[-1]["train_loss"] == c.history[-1]["train_loss"]
    bad = {**old, "net": {**old["net"], "backends": [dict(s) for s in old["net"]["backends"]]}}
    bad["net"]["backends"][1]["acc"] = bad["net"]["backends"][1]["acc"].clone()
    bad["net"]["backends"][1]["acc"][0, 1, 2] = 7
    with pytest.raises(CheckpointError, match=r"net.backends\[1\].acc has non-zero accumulators"):
        Trainer(spec, d).load(bad)
