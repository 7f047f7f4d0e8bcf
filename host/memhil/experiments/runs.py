"""One training run with all its outputs (used by ``memhil train``, ``demo`` and ``paper``)."""
from __future__ import annotations

import sys
import time
from pathlib import Path

from memhil.experiments.report import plot_histories, write_csv, write_json

HISTORY_COLUMNS = ["epoch", "lr", "train_loss", "train_accuracy", "test_accuracy", "pulses",
                   "epoch_time_s"]


def write_run_outputs(out: Path, trainer, elapsed: float | None, extra: dict | None = None,
                      argv: list[str] | None = None, energy_model=None) -> dict:
    """results.json, history.csv and curves.png of a trainer's run into ``out``; for a crossbar
    network also energy.json (memhil.energy, ``energy_model`` or the default model), whose
    one-line summary is ``doc["energy_summary"]``."""
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
    from memhil.energy import per_sample_totals, summary_line, trainer_report, write_energy
    edoc = trainer_report(trainer, energy_model)
    if edoc is not None:
        write_energy(out, edoc)
        doc["energy_summary"] = summary_line(edoc)
        doc["energy_per_sample_j"] = per_sample_totals(edoc)
    write_json(out / "results.json", doc)
    write_csv(out / "history.csv", res["history"], HISTORY_COLUMNS)
    if res["history"]:
        plot_histories(out / "curves.png", {spec.device: res["history"]},
                       f"{res['data']['name']}: {spec.device}, hidden {spec.hidden}")
    return doc
