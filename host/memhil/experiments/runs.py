"""One training run with all its outputs (used by ``memhil train``, ``demo`` and ``paper``)."""
from __future__ import annotations

import sys
import time
from pathlib import Path

from memhil.experiments.report import plot_histories, write_csv, write_json

HISTORY_COLUMNS = ["epoch", "lr", "train_loss", "train_accuracy", "test_accuracy", "pulses",
                   "epoch_time_s"]


def write_run_outputs(out: Path, trainer, elapsed: float | None, extra: dict | None = None,
                      argv: list[str] | None = None) -> dict:
    """results.json, history.csv and curves.png of a trainer's run into ``out``."""
    out = Path(out)
    res = trainer.result(elapsed)
    spec = trainer.spec
    doc = {
        "test_accuracy": res["test_accuracy"],
        "device": spec.device,
        "dataset": res["data"],
        "config": spec.to_dict(),
        "epochs_done": res["epochs_done"],
        "history": res["history"],
        "elapsed_s": elapsed,
        "command": argv if argv is not None else sys.argv,
        "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if extra:
        doc.update(extra)
    write_json(out / "results.json", doc)
    write_csv(out / "history.csv", res["history"], HISTORY_COLUMNS)
    if res["history"]:
        plot_histories(out / "curves.png", {spec.device: res["history"]},
                       f"{res['data']['name']}: {spec.device}, hidden {spec.hidden}")
    return doc
