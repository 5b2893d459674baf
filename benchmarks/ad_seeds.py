"""Test metrics of the default experiment (``configs/ad.yaml``) over several seeds.

Each seed changes the synthetic cohort, the split and the model initialisation together.
Run: ``python benchmarks/ad_seeds.py`` (``--seeds 0 1 2 3 4``, ``--config``, ``--set k=v``).
Prints one row per seed and mean ± sd, and writes ``benchmarks/results/<config>_seeds.md``
(``ad_seeds.md`` for the default config).
Tracking is off: this measures, it does not log runs.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd
from _tables import markdown

import graphfuse  # noqa: F401 - thread policy before torch
from graphfuse.config import load_config
from graphfuse.experiment import fit

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "configs" / "ad.yaml"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    rows = []
    for seed in args.seeds:
        cfg = load_config(args.config, [*args.overrides, f"seed={seed}", "tracking.enabled=false"])
        t = time.perf_counter()
        result = fit(cfg)
        test = result.metrics["test"]
        rows.append(
            {
                "seed": seed,
                "test_roc_auc": test["roc_auc"],
                "test_accuracy": test["accuracy"],
                "test_f1": test["f1"],
                "best_epoch": result.history.best_epoch,
                "seconds": time.perf_counter() - t,
            }
        )
        print(rows[-1], flush=True)
    df = pd.DataFrame(rows).set_index("seed")
    summary = df.agg(["mean", "std"])
    table = markdown(pd.concat([df, summary]).round(3))
    print(table)
    auc = df["test_roc_auc"]
    line = (
        f"test ROC AUC {auc.mean():.3f} ± {auc.std():.3f} (min {auc.min():.3f}) "
        f"over {len(df)} seeds"
    )
    print(line)
    results = ROOT / "benchmarks" / "results"
    results.mkdir(exist_ok=True)
    config = Path(args.config)
    cmd = "python benchmarks/ad_seeds.py "
    if config.resolve() != (ROOT / "configs" / "ad.yaml").resolve():
        cmd += f"--config {args.config} "
    cmd += " ".join(f"--set {o}" for o in args.overrides)
    (results / f"{config.stem}_seeds.md").write_text(
        f"# {Path(args.config).name} over seeds\n\n`{cmd.strip()}`\n\n{table}\n\n{line}\n"
    )


if __name__ == "__main__":
    main()
