"""Scoring new patients with a saved pipeline: how long, and is one patient its batch's equal?

A run is fitted on ``--train`` synthetic patients (``configs/ad.yaml``: expression,
methylation, imaging and clinical, every patient with all four, kNN graphs, a few epochs:
the model's quality is not what is measured), its pipeline saved to a folder. Then, in a
fresh Python process (imports timed apart):

- ``load``: :meth:`Pipeline.load` of the folder;
- ``batch``: :meth:`Pipeline.predict` of ``--new`` new patients (generated beforehand by the
  synthetic generator with another seed, in memory);
- ``one``: :meth:`Pipeline.predict` of one patient after loading (median of 5 patients);

and the largest difference between a patient's probabilities scored alone and in the batch.

Run: ``python benchmarks/predict.py`` (``--train 10000 --new 10000``, a few minutes on 2 cores).
The issue's targets: load + batch under 10 s, one patient under 0.5 s.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import json, sys, time
t0 = time.perf_counter()
import numpy as np
from graphfuse.data import make_synthetic_cohort
from graphfuse.experiment import Pipeline
t_import = time.perf_counter() - t0
folder, n_train, n_new = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
new = make_synthetic_cohort(n_train, seed=0, missing={"imaging": 0.0, "methylation": 0.0},
                            new_patients={"n": n_new, "seed": 1})
t = time.perf_counter()
pipe = Pipeline.load(folder)
t_load = time.perf_counter() - t
t = time.perf_counter()
batch = pipe.predict(new)
t_batch = time.perf_counter() - t
one, diff = [], 0.0
from graphfuse.data import NewPatients
for pid in new.patients[:5]:
    tables = {m: new.modality(m)[[pid]].copy() for m in new.modalities}
    t = time.perf_counter()
    alone = pipe.predict(NewPatients.from_tables(tables))
    one.append(time.perf_counter() - t)
    cols = [c for c in alone.columns if c.startswith("p_")]
    gap = np.abs(alone[cols].to_numpy() - batch.loc[[pid], cols].to_numpy()).max()
    diff = max(diff, float(gap))
print(json.dumps({"import": t_import, "load": t_load, "batch": t_batch,
                  "one": float(np.median(one)), "alone_vs_batch": diff}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=10_000, help="training cohort size")
    parser.add_argument("--new", type=int, default=10_000, help="new patients scored at once")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument(
        "--index",
        default="exact",
        choices=["exact", "approximate"],
        help="graph.index of the fit (approximate: HNSW, the graphfuse[ann] extra)",
    )
    args = parser.parse_args()

    from graphfuse.config import load_config
    from graphfuse.experiment import fit

    cfg = load_config(
        ROOT / "configs" / "ad.yaml",
        [
            f"data.synthetic.n_patients={args.train}",
            "data.synthetic.missing={imaging: 0.0, methylation: 0.0}",
            f"train.epochs={args.epochs}",
            "tracking.enabled=false",
            "train.val_fraction=0.1",
            "train.test_fraction=0.1",
            f"graph.index={args.index}",
        ],
    )
    t = time.perf_counter()
    result = fit(cfg)
    fit_seconds = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        folder = result.pipeline().save(Path(tmp) / "pipeline")
        save_seconds = time.perf_counter() - t
        size = sum(p.stat().st_size for p in folder.iterdir()) / 1e6
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(folder), str(args.train), str(args.new)],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        ).stdout
    figures = json.loads(out.strip().splitlines()[-1])
    n_train = len(result.splits["train"])
    print(f"graph.index: {args.index}")
    print(f"fit on {args.train:,} patients ({n_train:,} training): {fit_seconds:.1f} s")
    print(f"pipeline saved: {save_seconds:.2f} s, {size:.1f} MB")
    print(f"fresh process: imports {figures['import']:.2f} s")
    print(f"load pipeline:            {figures['load']:.2f} s")
    print(f"score {args.new:,} new patients: {figures['batch']:.2f} s")
    print(f"load + batch:             {figures['load'] + figures['batch']:.2f} s (target < 10 s)")
    print(f"one patient after load:   {figures['one']:.3f} s (median of 5; target < 0.5 s)")
    print(f"largest |p alone - p in batch|: {figures['alone_vs_batch']:.2e}")


if __name__ == "__main__":
    main()
