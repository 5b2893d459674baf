"""``cross_validate``: stratified k-fold cross-validation, repeated over seeds."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from graphfuse._fanout import FanOut
from graphfuse.config import ExperimentConfig
from graphfuse.data import Cohort, load_cohort
from graphfuse.experiment._fit import fit
from graphfuse.experiment._progress import ProgressSetting, reporting
from graphfuse.experiment._track import run_name
from graphfuse.tracking import RunLogger, resolve_tracking_uri

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["CVResult", "cross_validate"]


@dataclass
class CVResult:
    """What :func:`cross_validate` produced.

    Attributes
    ----------
    folds
        One row per (seed, fold): ``seed``, ``fold``, the test metrics (``test_<metric>``),
        the validation metrics (``val_<metric>``), ``best_epoch`` and ``seconds``.
    summary
        Mean and standard deviation over all (seed, fold) rows, per metric.
    run_id
        The parent MLflow run (each fold is a nested run), or ``None`` without tracking.
    source, n_folds
        The config's file and the number of folds (for the printed title).
    repeat_summary
        Per metric, over repeats (seeds): ``mean`` of each seed's mean over its folds and
        ``std`` across those seed means (NaN with one seed) — how much a whole
        cross-validation moves when it is repeated, which the fold-level sd overstates.
    """

    folds: pd.DataFrame
    summary: pd.DataFrame
    run_id: str | None = None
    source: str | None = None
    n_folds: int | None = None
    repeat_summary: pd.DataFrame | None = None

    def print_summary(self, console: Console | None = None) -> None:
        """Print the per-fold test metrics and their mean and sd (what ``graphfuse cv``
        shows), within the console's width."""
        from rich.console import Console

        from graphfuse.experiment._tables import print_table

        console = console or Console()
        cols = [c for c in self.folds.columns if c.startswith("test_")]
        title = f"graphfuse cv — {self.source}, {self.n_folds} folds (test metrics)"
        columns = [("seed", "right"), ("fold", "right")]
        columns += [(c.removeprefix("test_"), "right") for c in cols]
        rows = [
            [str(r["seed"]), str(r["fold"]), *(f"{r[c]:.3f}" for c in cols)]
            for r in self.folds.to_dict("records")
        ]
        stats = [(self.summary, "mean", "mean"), (self.summary, "std", "sd")]
        repeats = self.folds["seed"].nunique()
        if self.repeat_summary is not None and repeats > 1:
            title += f", {repeats} repeats"
            stats += [(self.repeat_summary, "mean", "mean"), (self.repeat_summary, "std", "sd")]
        for i, (table, stat, label) in enumerate(stats):
            where = "" if i < 2 else "repeats"
            rows.append([label, where, *(f"{table.loc[c, stat]:.3f}" for c in cols)])
        styles = [None] * len(self.folds) + ["bold"] * len(stats)
        print_table(console, title, columns, rows, styles=styles)
        if len(stats) > 2:
            console.print(
                "mean/sd: over every (seed, fold); repeats: mean of each seed's fold mean, "
                "sd across seeds"
            )
        if self.run_id is not None:
            console.print(f"MLflow run {self.run_id} (folds are nested runs)")


def cross_validate(
    config: ExperimentConfig,
    *,
    folds: int = 5,
    seeds: Sequence[int] | None = None,
    repeats: int | None = None,
    progress: ProgressSetting = False,
    fanout: FanOut | None = None,
) -> CVResult:
    """Stratified k-fold cross-validation, repeated over seeds.

    For cohorts without a published split. Each fold is a :func:`fit` whose test patients
    are that fold; validation (early stopping) is carved out of the other folds' patients
    (:func:`graphfuse.train.stratified_folds`). Each seed reassigns the folds and
    re-initialises the model. The summary is the mean ± sd over every (seed, fold) and,
    over repeats, the mean of each seed's fold mean with the sd across seeds. With
    tracking on, one parent run holds both (``cv_<metric>_mean``/``_sd``,
    ``cv_<metric>_repeat_mean``/``_repeat_sd``) and every fold is a nested run under it.

    Parameters
    ----------
    config
        The experiment; its ``seed`` is used when ``seeds`` is not given.
    folds
        Number of folds.
    seeds
        Repeat the whole cross-validation with each seed (default: ``[config.seed]``).
    repeats
        Repeat it ``repeats`` times, with the seeds ``config.seed`` to ``config.seed +
        repeats - 1`` (``graphfuse cv --repeats R``); not together with ``seeds``.
    progress
        ``True``: a progress bar over the folds (of all seeds) on standard error, with
        the last fold's test metric; a callable: called as ``progress("fold", done,
        total, {"seed": s, "fold": i, ...})`` (the protocol of
        :class:`graphfuse.experiment.RichProgress`); ``False``: nothing.
    fanout
        Where the folds (of all seeds) run: serially (default), or on a Dask cluster
        (:class:`graphfuse.experiment.FanOut`, ``graphfuse cv --workers N`` /
        ``--scheduler ADDRESS``). Each fold is seeded by its seed alone, so the table is
        the serial path's. Each fold logs its own nested MLflow run from where it runs
        (its worker needs the tracking store: a tracking server, or a SQLite file on this
        machine); the driver logs the parent run and the summary.

    Raises
    ------
    ConfigError
        The cohort has a published split (``obs["split"]``): cross-validation would ignore
        it; use :func:`fit` over seeds instead. Both ``seeds`` and ``repeats``, or
        ``repeats`` below 1.
    """
    from graphfuse.errors import ConfigError
    from graphfuse.train import stratified_folds

    seeds = _seeds(config, seeds, repeats)
    cohort = load_cohort(config.data, seed=config.seed)
    if "split" in cohort.obs.columns:
        raise ConfigError(
            f"{config.source}: the cohort has a published train/test split (obs['split']); "
            "cross-validation would ignore it — run fit over several seeds instead"
        )
    logger: RunLogger | None = None
    total = folds * len(seeds)
    with ExitStack() as stack:
        report = stack.enter_context(reporting(progress))
        if report is not None:
            report("fold", 0, total, {"seed": seeds[0], "fold": 0})
        if config.tracking.enabled:
            logger = RunLogger(
                resolve_tracking_uri(config.tracking.uri),
                config.tracking.experiment,
                run_name(config, "cv"),
            )
            tags = {
                "graphfuse.cv_folds": str(folds),
                "graphfuse.cv_seeds": ",".join(map(str, seeds)),
                "graphfuse.model": config.model.name,
                "graphfuse.data_fingerprint": cohort.fingerprint(),
            }
            stack.enter_context(logger.start(tags=tags))
            logger.log_params(config.to_dict())
            logger.log_text(config.to_yaml(), "config.yaml")
        tasks = []
        fingerprint = cohort.fingerprint()
        uri = absolute_uri(logger.uri) if logger else None
        for seed in seeds:
            seeded = config.model_copy(update={"seed": seed})
            if uri is not None:  # a worker's working folder may differ from this one's
                tracking = seeded.tracking.model_copy(update={"uri": uri})
                seeded = seeded.model_copy(update={"tracking": tracking})
            parts = stratified_folds(
                cohort.y, folds=folds, val_fraction=config.train.val_fraction, seed=seed
            )
            for i, split in enumerate(parts):
                parent = logger.run_id if logger else None
                here = cohort if fanout is None or fanout.serial else None
                tasks.append(_Fold(seeded, here, fingerprint, split, seed, i, parent, config.seed))

        def done(index: int, row: dict) -> None:
            finished.append(row)
            if report is not None:
                metric = next((m for m in ("roc_auc", "c_index") if f"test_{m}" in row), None)
                metric = metric or next((k[5:] for k in row if k.startswith("test_")), None)
                info = {"seed": row["seed"], "fold": row["fold"]}
                if metric is not None:
                    info[f"test_{metric}"] = row[f"test_{metric}"]
                report("fold", len(finished), total, info)

        finished: list[dict] = []
        rows = (fanout or FanOut()).map(_run_fold, tasks, on_result=done)
        frame = pd.DataFrame(rows)
        summary = frame.drop(columns=["seed", "fold"]).agg(["mean", "std"]).T
        repeat_summary = frame.drop(columns="fold").groupby("seed").mean().agg(["mean", "std"]).T
        if logger is not None:
            logger.log_metrics(
                {f"cv_{k}_mean": v for k, v in summary["mean"].items()}
                | {f"cv_{k}_sd": v for k, v in summary["std"].items()}
                | {f"cv_{k}_repeat_mean": v for k, v in repeat_summary["mean"].items()}
                | {
                    f"cv_{k}_repeat_sd": v
                    for k, v in repeat_summary["std"].items()
                    if len(seeds) > 1
                }
            )
            with logger.staging() as folder:
                frame.to_csv(folder / "cv_folds.csv", index=False)
    run_id = logger.run_id if logger else None
    return CVResult(frame, summary, run_id, str(config.source), folds, repeat_summary)


def _seeds(config: ExperimentConfig, seeds: Sequence[int] | None, repeats: int | None) -> list[int]:
    """The seeds of a cross-validation: ``seeds``, ``repeats`` consecutive seeds from the
    config's, or the config's alone."""
    from graphfuse.errors import ConfigError

    if repeats is None:
        return [config.seed] if seeds is None else list(seeds)
    if seeds is not None:
        raise ConfigError(
            f"cross-validation: give seeds or repeats, not both (seeds {list(seeds)}, "
            f"repeats {repeats}); repeats R means the seeds {config.seed}..{config.seed}+R-1"
        )
    if repeats < 1:
        raise ConfigError(f"cross-validation: repeats must be at least 1, got {repeats}")
    return list(range(config.seed, config.seed + repeats))


@dataclass(frozen=True)
class _Fold:
    """One fold of one seed: everything its fit depends on (a picklable task)."""

    config: ExperimentConfig
    cohort: Cohort | None  # None on a cluster: the worker reads it again (_fold_cohort)
    fingerprint: str
    split: dict
    seed: int
    fold: int
    parent_run_id: str | None
    data_seed: int


def _run_fold(task: _Fold) -> dict:
    """Fit one fold (where a :class:`FanOut` runs it); its row of the folds table."""
    result = fit(
        task.config,
        progress=False,  # one live display at a time: the folds' bar
        cohort=task.cohort if task.cohort is not None else _fold_cohort(task),
        splits=task.split,
        parent_run_id=task.parent_run_id,
        run_tags={"graphfuse.cv_fold": str(task.fold), "graphfuse.cv_seed": str(task.seed)},
        run_suffix=f"fold{task.fold}",
    )
    row: dict = {"seed": task.seed, "fold": task.fold}
    row |= {f"test_{k}": v for k, v in result.metrics["test"].items()}
    row |= {f"val_{k}": v for k, v in result.metrics["val"].items()}
    row |= {"best_epoch": result.history.best_epoch, "seconds": result.seconds}
    return row


_cohorts: dict[str, Cohort] = {}  # a worker's cohorts, by fingerprint


def _fold_cohort(task: _Fold) -> Cohort:
    # the data's seed is the config's own (cross_validate reads it so), not the fold's
    return worker_cohort(task.config, task.fingerprint, task.data_seed)


def worker_cohort(config: ExperimentConfig, fingerprint: str, data_seed: int) -> Cohort:
    """The driver's cohort, read again from the config where a task runs (a Cohort does
    not travel: AnnData cannot be unpickled), once per worker process; checked against
    the driver's data fingerprint."""
    from graphfuse.errors import DataError

    if fingerprint not in _cohorts:
        cohort = load_cohort(config.data, seed=data_seed)
        if cohort.fingerprint() != fingerprint:
            raise DataError(
                f"{config.source}: the cohort read on a Dask worker differs from the "
                f"driver's (data fingerprint {cohort.fingerprint()} != {fingerprint}); "
                "the workers must see the same data files as the driver"
            )
        _cohorts[fingerprint] = cohort
    return _cohorts[fingerprint]


def absolute_uri(uri: str) -> str:
    """``uri`` with a relative SQLite path made absolute (``sqlite:///x.db`` is relative to
    the working folder, which a Dask worker's may not be)."""
    from graphfuse._store import sqlite_file

    db = sqlite_file(uri)
    if db is None or db.is_absolute():
        return uri
    return f"sqlite:///{db.resolve()}"
