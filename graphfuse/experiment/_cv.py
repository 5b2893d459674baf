"""``cross_validate``: stratified k-fold cross-validation, repeated over seeds."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from graphfuse.config import ExperimentConfig
from graphfuse.data import load_cohort
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
    """

    folds: pd.DataFrame
    summary: pd.DataFrame
    run_id: str | None = None
    source: str | None = None
    n_folds: int | None = None

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
        for stat, label in (("mean", "mean"), ("std", "sd")):
            rows.append([label, "", *(f"{self.summary.loc[c, stat]:.3f}" for c in cols)])
        print_table(console, title, columns, rows, styles=[None] * len(self.folds) + ["bold"] * 2)
        if self.run_id is not None:
            console.print(f"MLflow run {self.run_id} (folds are nested runs)")


def cross_validate(
    config: ExperimentConfig,
    *,
    folds: int = 5,
    seeds: Sequence[int] | None = None,
    progress: ProgressSetting = False,
) -> CVResult:
    """Stratified k-fold cross-validation, repeated over seeds.

    For cohorts without a published split. Each fold is a :func:`fit` whose test patients
    are that fold; validation (early stopping) is carved out of the other folds' patients
    (:func:`graphfuse.train.stratified_folds`). Each seed reassigns the folds and
    re-initialises the model. With tracking on, one parent run holds the mean ± sd of the
    test metrics and every fold is a nested run under it.

    Parameters
    ----------
    config
        The experiment; its ``seed`` is used when ``seeds`` is not given.
    folds
        Number of folds.
    seeds
        Repeat the whole cross-validation with each seed (default: ``[config.seed]``).
    progress
        ``True``: a progress bar over the folds (of all seeds) on standard error, with
        the last fold's test metric; a callable: called as ``progress("fold", done,
        total, {"seed": s, "fold": i, ...})`` (the protocol of
        :class:`graphfuse.experiment.RichProgress`); ``False``: nothing.

    Raises
    ------
    ConfigError
        The cohort has a published split (``obs["split"]``): cross-validation would ignore
        it; use :func:`fit` over seeds instead.
    """
    from graphfuse.errors import ConfigError
    from graphfuse.train import stratified_folds

    seeds = [config.seed] if seeds is None else list(seeds)
    cohort = load_cohort(config.data, seed=config.seed)
    if "split" in cohort.obs.columns:
        raise ConfigError(
            f"{config.source}: the cohort has a published train/test split (obs['split']); "
            "cross-validation would ignore it — run fit over several seeds instead"
        )
    rows = []
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
        for seed in seeds:
            seeded = config.model_copy(update={"seed": seed})
            parts = stratified_folds(
                cohort.y, folds=folds, val_fraction=config.train.val_fraction, seed=seed
            )
            for i, split in enumerate(parts):
                result = fit(
                    seeded,
                    progress=False,  # one live display at a time: the folds' bar
                    cohort=cohort,
                    splits=split,
                    parent_run_id=logger.run_id if logger else None,
                    run_tags={"graphfuse.cv_fold": str(i), "graphfuse.cv_seed": str(seed)},
                    run_suffix=f"fold{i}",
                )
                row = {"seed": seed, "fold": i}
                row |= {f"test_{k}": v for k, v in result.metrics["test"].items()}
                row |= {f"val_{k}": v for k, v in result.metrics["val"].items()}
                row |= {"best_epoch": result.history.best_epoch, "seconds": result.seconds}
                rows.append(row)
                if report is not None:
                    test = result.metrics["test"]
                    metric = next((m for m in ("roc_auc", "c_index") if m in test), None)
                    metric = metric or next(iter(test), None)
                    info = {"seed": seed, "fold": i}
                    if metric is not None:
                        info[f"test_{metric}"] = test[metric]
                    report("fold", len(rows), total, info)
        frame = pd.DataFrame(rows)
        summary = frame.drop(columns=["seed", "fold"]).agg(["mean", "std"]).T
        if logger is not None:
            logger.log_metrics(
                {f"cv_{k}_mean": v for k, v in summary["mean"].items()}
                | {f"cv_{k}_sd": v for k, v in summary["std"].items()}
            )
            with logger.staging() as folder:
                frame.to_csv(folder / "cv_folds.csv", index=False)
    run_id = logger.run_id if logger else None
    return CVResult(frame, summary, run_id, source=str(config.source), n_folds=folds)
