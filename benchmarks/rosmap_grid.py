"""How ``configs/rosmap.yaml``'s settings were chosen: a small grid scored on validation only.

Each setting is fitted with seeds 0-4 (each seed carves a different validation set out of
MOGONET's published training patients and initialises the model differently) and ranked by
mean validation ROC AUC. Test metrics are neither printed nor stored: the test split plays no
part in the choice. Run: ``python benchmarks/rosmap_grid.py`` (about 15 minutes on 2 cores);
writes ``benchmarks/results/rosmap_grid.md``. Needs the data root's ``mogonet/ROSMAP``.
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import pandas as pd

import graphfuse  # noqa: F401 - thread policy before torch
from graphfuse.config import load_config
from graphfuse.experiment import fit

ROOT = Path(__file__).resolve().parents[1]
GRID = {
    "graph.k": [3, 5, 10],
    "model.hidden": [32, 64, 128],
    "train.lr": [0.001, 0.005],
    "train.weight_decay": [0.001, 0.01],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "configs" / "rosmap.yaml"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    args = parser.parse_args()
    rows = []
    for values in itertools.product(*GRID.values()):
        setting = dict(zip(GRID, values, strict=True))
        scores, losses, epochs = [], [], []
        t = time.perf_counter()
        for seed in args.seeds:
            overrides = [f"{k}={v}" for k, v in setting.items()]
            cfg = load_config(args.config, [*overrides, f"seed={seed}", "tracking.enabled=false"])
            result = fit(cfg)
            scores.append(result.metrics["val"]["roc_auc"])
            losses.append(min(e["val_loss"] for e in result.history.epochs))
            epochs.append(result.history.best_epoch)
        row = setting | {
            "val_roc_auc": sum(scores) / len(scores),
            "val_roc_auc_min": min(scores),
            "best_val_loss": sum(losses) / len(losses),
            "best_epoch": sum(epochs) / len(epochs),
            "seconds": time.perf_counter() - t,
        }
        rows.append(row)
        print({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}, flush=True)
    df = pd.DataFrame(rows).sort_values("val_roc_auc", ascending=False).round(4)
    text = df.to_string(index=False)
    print(text)
    results = ROOT / "benchmarks" / "results"
    results.mkdir(exist_ok=True)
    (results / "rosmap_grid.md").write_text(
        "# ROSMAP settings scored on validation only (seeds "
        f"{' '.join(map(str, args.seeds))})\n\n`python benchmarks/rosmap_grid.py`\n\n"
        f"```\n{text}\n```\n"
    )


if __name__ == "__main__":
    main()
