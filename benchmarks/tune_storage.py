"""Benchmark Optuna's per-trial storage overhead: journal file vs SQLite (vs in memory).

What it measures
----------------
Wall-clock milliseconds per trial of ``study.optimize`` with a trivial objective, so
that the time is Optuna's own bookkeeping and the storage's. The objective draws three
values (a log-float, an int, a categorical — the shape of a ``tune.space``) and, like a
graphfuse trial reporting its validation metric each epoch, reports ``--steps``
intermediate values, asking the pruner (Optuna's ``MedianPruner``, graphfuse's default)
after each. Sampling is random (``RandomSampler``) so the sampler's own cost, which grows
with the number of trials under TPE, stays out of the figure.

Storages, each created fresh in a temporary folder for every repeat:

``journal``
    ``graphfuse.tune.open_storage(path)``: Optuna's ``JournalStorage`` on a
    ``JournalFileBackend`` — graphfuse's default.
``sqlite``
    ``optuna.create_study(storage="sqlite:///…")``: Optuna's RDB storage as a plain URL gives it.
``sqlite+heartbeat``
    ``graphfuse.tune.open_storage("sqlite:///…")``: the same with the 60 s heartbeat
    graphfuse turns on for database URLs (what ``--storage sqlite:///…`` uses).
``memory``
    ``InMemoryStorage``: no persistence, the floor.

Each storage is timed twice per repeat: trials with no reports (the bare per-trial cost:
create the trial, store three values, finish it) and trials with ``--steps`` reports; the
difference divided by ``--steps`` is the cost of one report. Figures are medians over
``--repeats``; study creation is not timed.

How to run
----------
From the repository root, with the project's virtual environment active::

    python benchmarks/tune_storage.py                 # 50 trials, 0 and 10 steps, 3 repeats

The markdown table is printed and written to ``benchmarks/results/tune_storage.md``
(see ``--output``).
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import optuna

from graphfuse.tune import open_storage

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def make_objective(steps: int) -> Callable[[optuna.Trial], float]:
    """A trivial objective shaped like a graphfuse trial: 3 values, ``steps`` reports."""

    def objective(trial: optuna.Trial) -> float:
        lr = trial.suggest_float("train.lr", 1e-4, 1e-1, log=True)
        hidden = trial.suggest_int("model.params.hidden", 8, 256, log=True)
        dropout = trial.suggest_categorical("model.dropout", [0.2, 0.5])
        value = lr * hidden * (1 - dropout)
        for step in range(1, steps + 1):
            trial.report(value / step, step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return value

    return objective


STORAGES: dict[str, Callable[[Path], object]] = {
    "journal": lambda d: open_storage(d / "optuna.journal"),
    "sqlite": lambda d: f"sqlite:///{d}/optuna.db",
    "sqlite+heartbeat": lambda d: open_storage(f"sqlite:///{d}/optuna.db"),
    "memory": lambda d: optuna.storages.InMemoryStorage(),
}


def time_storage(name: str, trials: int, steps: int, seed: int) -> float:
    """Seconds for ``trials`` trials on a fresh storage of kind ``name``."""
    with tempfile.TemporaryDirectory(prefix="tune-storage-") as tmp:
        study = optuna.create_study(
            storage=STORAGES[name](Path(tmp)),  # type: ignore[arg-type]
            study_name="bench",
            direction="maximize",
            sampler=optuna.samplers.RandomSampler(seed=seed),
            pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=5),
        )
        t0 = time.perf_counter()
        study.optimize(make_objective(steps), n_trials=trials)
        seconds = time.perf_counter() - t0
        if len(study.trials) != trials:
            raise RuntimeError(f"{name}: {len(study.trials)} of {trials} trials stored")
    return seconds


def run(trials: int, steps: int, repeats: int) -> dict[str, dict[str, list[float]]]:
    """Per storage: ms per trial without reports (``bare``), with ``steps`` reports
    (``reports``), and ms per report, per repeat (storages alternate in order)."""
    out = {name: {"bare": [], "reports": [], "per_report": []} for name in STORAGES}
    time_storage("journal", 5, steps, seed=99)  # warm-up: imports, first file creation
    for rep in range(repeats):
        order = list(STORAGES) if rep % 2 == 0 else list(STORAGES)[::-1]
        for name in order:
            bare = time_storage(name, trials, 0, seed=rep) * 1e3 / trials
            full = time_storage(name, trials, steps, seed=rep) * 1e3 / trials
            out[name]["bare"].append(bare)
            out[name]["reports"].append(full)
            out[name]["per_report"].append((full - bare) / max(steps, 1))
    return out


def format_report(
    ms: dict[str, dict[str, list[float]]], args: argparse.Namespace, command: str
) -> str:
    """The results as markdown."""
    med = {n: {k: statistics.median(v) for k, v in d.items()} for n, d in ms.items()}
    lines = [
        "# Optuna storage overhead per trial (graphfuse tune)",
        "",
        f"Command: `{command}`",
        "",
        f"- python {platform.python_version()}, optuna {optuna.__version__}, "
        f"{platform.platform()}, {os.cpu_count()} CPUs (load average at the end: "
        f"{os.getloadavg()[0]:.1f})",
        f"- {args.trials} trials per run, without and with {args.steps} intermediate reports "
        f"per trial, RandomSampler, MedianPruner; median of {args.repeats} repeats, fresh "
        "storage each run",
        "",
        f"| storage | ms per trial, no reports | min–max | ms per trial, {args.steps} reports "
        "| ms per report | trial cost vs journal |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, m in med.items():
        bare = ms[name]["bare"]
        lines.append(
            f"| {name} | {m['bare']:.1f} | {min(bare):.1f}–{max(bare):.1f} | {m['reports']:.1f} "
            f"| {m['per_report']:.1f} | {m['bare'] / med['journal']['bare']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark, print the table and write it to ``--output``."""
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--trials", type=int, default=50, help="trials per run (default: 50)")
    p.add_argument("--steps", type=int, default=10, help="reports per trial (default: 10)")
    p.add_argument("--repeats", type=int, default=3, help="repeats per storage (default: 3)")
    p.add_argument("--output", type=Path, default=RESULTS_DIR / "tune_storage.md")
    args = p.parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    ms = run(args.trials, args.steps, args.repeats)
    command = "python benchmarks/tune_storage.py " + " ".join(
        argv if argv is not None else sys.argv[1:]
    )
    report = format_report(ms, args, command.strip())
    print(report)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(report)
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
