"""Benchmark the cost of logging metrics to MLflow on a local SQLite store.

What it measures
----------------
Wall-clock time to log ``--n`` metric values (default 1,000: one metric key,
steps ``0..n-1``) into an MLflow run whose tracking store is a fresh SQLite
database in a temporary directory
(``mlflow.set_tracking_uri(f"sqlite:///{tmpdir}/mlflow.db")``), two ways:

``log_metric``
    one ``mlflow.log_metric(key, value, step=i)`` call per value, as a
    training loop does when it logs every epoch as it goes.
``log_batch``
    ``MlflowClient().log_batch(run_id, metrics=[Metric(...), ...])`` in chunks
    of at most ``MAX_METRICS_PER_BATCH`` metrics. The limit is read from
    ``mlflow.utils.validation`` (1000 in MLflow 3.17; the store rejects a
    larger batch). Building the ``Metric`` objects is included in the time.

Each repeat uses a new run; the two methods alternate in order between
repeats; the database schema is created and a warm-up value logged before
any timing. Every run's metric history is read back afterwards to check that
all values arrived. The figure reported is the median over repeats, in
milliseconds per metric value, and the ratio of the two.

How to run
----------
From the repository root, with the project's virtual environment active::

    python benchmarks/mlflow_logging.py             # 1,000 values, 5 repeats, ~20 s

The markdown table is printed and written to
``benchmarks/results/mlflow_logging.md`` (see ``--output``). The script does
not import graphfuse.
"""

from __future__ import annotations

import argparse
import logging
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import mlflow
from mlflow import MlflowClient
from mlflow.entities import Metric
from mlflow.utils.validation import MAX_METRICS_PER_BATCH

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def log_one_by_one(run_id: str, key: str, values: Sequence[float]) -> None:
    """Log each value with its own ``mlflow.log_metric`` call (active run ``run_id``)."""
    for step, value in enumerate(values):
        mlflow.log_metric(key, value, step=step, run_id=run_id)


def log_batched(run_id: str, key: str, values: Sequence[float]) -> None:
    """Log all values through ``MlflowClient.log_batch`` in chunks of the batch limit."""
    client = MlflowClient()
    timestamp = int(time.time() * 1000)
    metrics = [Metric(key, value, timestamp, step) for step, value in enumerate(values)]
    for start in range(0, len(metrics), MAX_METRICS_PER_BATCH):
        client.log_batch(run_id, metrics=metrics[start : start + MAX_METRICS_PER_BATCH])


METHODS: dict[str, Callable[[str, str, Sequence[float]], None]] = {
    "log_metric": log_one_by_one,
    "log_batch": log_batched,
}
DESCRIPTIONS = {
    "log_metric": "one `mlflow.log_metric` call per value",
    "log_batch": f"`MlflowClient().log_batch`, chunks of ≤{MAX_METRICS_PER_BATCH}",
}


def run_benchmark(n: int, repeats: int, tmpdir: Path) -> dict[str, list[float]]:
    """Time both methods; return seconds per repeat for each method."""
    mlflow.set_tracking_uri(f"sqlite:///{tmpdir}/mlflow.db")
    mlflow.set_experiment("logging-benchmark")  # creates the schema: not timed
    client = MlflowClient()
    values = [1.0 / (step + 1) for step in range(n)]
    times: dict[str, list[float]] = {name: [] for name in METHODS}
    for rep in range(repeats):
        order = list(METHODS) if rep % 2 == 0 else list(METHODS)[::-1]
        for name in order:
            with mlflow.start_run(run_name=f"{name}-{rep}") as run:
                run_id = run.info.run_id
                mlflow.log_metric("warmup", 0.0, run_id=run_id)
                t0 = time.perf_counter()
                METHODS[name](run_id, "loss", values)
                times[name].append(time.perf_counter() - t0)
            logged = client.get_metric_history(run_id, "loss")
            if len(logged) != n:
                raise RuntimeError(f"{name}: {len(logged)} of {n} values in the store")
    return times


def format_report(times: dict[str, list[float]], n: int, repeats: int, command: str) -> str:
    """Render the results as markdown."""
    median_ms = {name: statistics.median(ts) * 1e3 / n for name, ts in times.items()}
    lines = [
        "# MLflow metric logging cost (local SQLite store)",
        "",
        f"Command: `{command}`",
        "",
        f"- python {platform.python_version()}, mlflow {mlflow.__version__}, {platform.platform()}",
        f"- {n} values of one metric per run, median of {repeats} repeats (new run each); "
        f"MAX_METRICS_PER_BATCH = {MAX_METRICS_PER_BATCH} (mlflow.utils.validation)",
        "",
        "| method | how | total for "
        f"{n} values (ms, median) | ms per metric (median) | min–max ms per metric "
        "| ratio to log_batch |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for name, ts in times.items():
        per = [t * 1e3 / n for t in ts]
        lines.append(
            f"| {name} | {DESCRIPTIONS[name]} | {statistics.median(ts) * 1e3:.1f} "
            f"| {median_ms[name]:.3f} | {min(per):.3f}–{max(per):.3f} "
            f"| **{median_ms[name] / median_ms['log_batch']:.1f}** |"
        )
    return "\n".join(lines) + "\n"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse command-line arguments."""
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--n", type=int, default=1000, help="metric values per run (default: 1000)")
    p.add_argument("--repeats", type=int, default=5, help="repeats per method (default: 5)")
    p.add_argument(
        "--output",
        type=Path,
        default=RESULTS_DIR / "mlflow_logging.md",
        help="markdown file to write (default: benchmarks/results/mlflow_logging.md)",
    )
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark, print the table and write it to ``--output``."""
    args = parse_args(argv)
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="mlflow-bench-") as tmpdir:
        times = run_benchmark(args.n, args.repeats, Path(tmpdir))
    command = "python benchmarks/mlflow_logging.py " + " ".join(
        argv if argv is not None else sys.argv[1:]
    )
    report = format_report(times, args.n, args.repeats, command.strip())
    print(report)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(report)
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
