"""The paper's experiment plan covers what issue #5 asks for; noisy evaluation helpers."""
import numpy as np
import torch

from memhil.experiments.paper import (C2C_VALUES, DR_VALUES, LEVEL_VALUES, MODES, SCALES, plan,
                                      summarize, tables_markdown)


def test_plan_covers_the_sweeps():
    sc = SCALES["quick"]
    runs = plan(sc)
    assert len(C2C_VALUES) >= 5 and len(LEVEL_VALUES) >= 5 and len(DR_VALUES) >= 4
    assert len(sc.seeds) >= 3
    tags = {t for r in runs for t in r["tags"]}
    for mode in MODES:
        for v in C2C_VALUES:
            assert f"c2c/{mode}/{v}" in tags
        for v in LEVEL_VALUES:
            assert f"levels/{mode}/{v}" in tags
        for v in DR_VALUES:
            assert f"dr/{mode}/{v}" in tags
        assert f"headline/{mode}" in tags
    keys = [r["spec"].to_dict() for r in runs]
    assert len(keys) == len({str(k) for k in keys})            # deduplicated
    head = [r for r in runs if any(t.startswith("headline/") for t in r["tags"])]
    for r in head:
        c = r["spec"].config
        assert c["levels"] == 32 and c["dynamic_range"] == 15.0
    fl = [r for r in runs if "float" in r["tags"]]
    assert len(fl) == len(sc.seeds) and all(r["noisy"] for r in fl)


def test_summary_and_tables_from_fake_records():
    from dataclasses import replace
    sc = replace(SCALES["quick"], seeds=[0, 1])
    recs = []
    for i, r in enumerate(plan(sc)):
        acc = 0.9 - 0.01 * (i % 5)
        rec = {"spec": r["spec"].to_dict(), "tags": r["tags"], "test_accuracy": acc,
               "history": [], "pulses": 0, "train_s": 0.0}
        if r["noisy"]:
            rec["noisy"] = {"clean": acc, "noise": {
                k: {"levels": lv, "accuracy": [acc * (1 - x) for x in lv],
                    "relative": [1 - x for x in lv]} for k, lv in sc.noise_levels.items()}}
        recs.append(rec)
    s = summarize(recs, sc)
    assert set(s["headline"]) == set(MODES)
    assert len(s["sweeps"]["c2c"]["coincidence"]) == len(C2C_VALUES)
    md = tables_markdown(s, sc)
    assert "(a) Headline" in md and "(b) Accuracy vs levels" in md and "(c) Noisy" in md


def test_noisy_accuracy_same_corruption_for_every_model():
    from torch import nn

    from memhil.experiments.noisy import noisy_accuracy
    torch.manual_seed(0)
    x = np.random.default_rng(0).random((50, 6)).astype(np.float32)
    y = np.arange(50) % 3
    m = nn.Sequential(nn.Linear(6, 3))
    a = noisy_accuracy(m, x, y, ["gaussian", "salt-pepper"],
                       {"gaussian": [0.0, 0.3], "salt-pepper": [0.0, 0.2]}, seed=1)
    b = noisy_accuracy(m, x, y, ["gaussian", "salt-pepper"],
                       {"gaussian": [0.0, 0.3], "salt-pepper": [0.0, 0.2]}, seed=1)
    assert a == b
    assert a["noise"]["gaussian"]["relative"][0] == 1.0
