"""Benchmark ``graphfuse tune --workers``: the same search with 1 worker and with N.

What it measures
----------------
Wall-clock seconds of ``graphfuse.experiment.tune`` for ``--trials`` trials on
``configs/ad_quick.yaml`` (80 patients, up to 30 epochs), with ``--workers`` 1 and then N,
each on a fresh journal file and a fresh MLflow SQLite store in a temporary folder. The
pruner is off (``tune.pruner=none``), so both runs train every trial to its end and do the
same amount of work up to the points drawn. The N-worker time includes starting the worker
processes (each imports torch, PyG and MLflow). The ratio ``N workers / 1 worker`` is the
figure; on an idle machine with N cores, about ``1/N`` plus the start-up.

How to run
----------
From the repository root, with the project's virtual environment active::

    python benchmarks/tune_workers.py                  # 16 trials, 1 vs 2 workers
    python benchmarks/tune_workers.py --storage postgresql://…  # a fresh study per run there

The load average before and after is printed: on a shared machine the figure is only as
good as the machine was quiet.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import uuid
from pathlib import Path

from graphfuse.config import load_config
from graphfuse.experiment import tune

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "ad_quick.yaml"


def run(trials: int, workers: int, storage: str | None) -> tuple[float, int, int]:
    """Seconds, trials and distinct points of one search on a fresh study."""
    with tempfile.TemporaryDirectory(prefix="graphfuse-tune-workers-") as folder:
        cfg = load_config(
            CONFIG,
            [f"tracking.uri=sqlite:///{folder}/mlflow.db", "tune.pruner=none"],
        )
        where = storage or str(Path(folder) / "optuna.journal")
        study = f"bench-{uuid.uuid4().hex[:8]}"
        result = tune(cfg, trials=trials, storage=where, study=study, workers=workers)
        points = {tuple(sorted(t.params.items())) for t in result.study.trials}
        return result.seconds, len(result.study.trials), len(points)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--storage", default=None, help="Optuna storage (default: a journal)")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}  ({os.cpu_count()} cores)")
    one, n1, p1 = run(args.trials, 1, args.storage)
    print(f"1 worker:  {one:.1f} s  ({n1} trials, {p1} distinct points)")
    many, nn, pn = run(args.trials, args.workers, args.storage)
    print(f"{args.workers} workers: {many:.1f} s  ({nn} trials, {pn} distinct points)")
    print(f"ratio {args.workers} workers / 1 worker: {many / one:.2f}")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
