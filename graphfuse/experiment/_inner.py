"""``train.selection: cv``: the number of epochs chosen by k-fold cross-validation inside the
training patients, and the members of the final predictor (``train.ensemble``).

Each inner fold is a whole fit of its own: preprocessing, graph builders and model are
fitted on the fold's training patients (:func:`~graphfuse.experiment.prepare` with the
fold's split), early stopping watches the fold's held-out patients, and the test patients
are only attached and scored. Nothing fitted in one fold is seen by another, and no test
patient is looked at before the end.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from torch_geometric.data import HeteroData

from graphfuse.config import ExperimentConfig
from graphfuse.data import Preprocessor
from graphfuse.errors import DataError
from graphfuse.experiment._prepare import Prepared, prepare, seed_everything
from graphfuse.experiment._training import build_fit_model, train_fit_model
from graphfuse.models import FusionModel, save_checkpoint
from graphfuse.tracking import RunLogger
from graphfuse.train import TrainHistory, task_class

__all__ = ["CVFit", "InnerCV", "Member", "fit_cv", "fit_member", "inner_folds", "select_by_cv"]

EpochCallback = Callable[[dict[str, float]], None]
FoldCallback = Callable[[int, dict[str, float]], None]


@dataclass
class Member:
    """One fitted model of a fit's final predictor, with everything it was fitted with.

    Attributes
    ----------
    name
        ``fold0`` ... ``fold<k-1>`` (an inner fold's model) or ``refit``.
    prepared
        Its data stage: the fold's split (``train``: the fold's training patients, ``val``:
        its held-out fold, ``test``: the run's test patients) or the refit's (``train``: all
        training patients, ``val`` empty), its fitted preprocessing, graph and graph states.
    model, history
        The trained model (eval mode) and its training history.
    proba
        Its prediction of every patient of the cohort (class probabilities, or the risk as
        one column).
    """

    name: str
    prepared: Prepared
    model: FusionModel
    history: TrainHistory
    proba: np.ndarray

    @property
    def preprocessor(self) -> Preprocessor:
        return self.prepared.preprocessor

    @property
    def data(self) -> HeteroData:
        return self.prepared.data

    @property
    def graph_states(self) -> dict[str, tuple[dict, dict]]:
        return self.prepared.graph_states


@dataclass
class InnerCV:
    """What ``train.selection: cv`` measured.

    Attributes
    ----------
    scores
        One row per inner fold (index ``fold``): ``patients_train``, ``patients_val``,
        ``best_epoch``, ``stopped_epoch``, ``seconds`` and the validation metrics at the
        fold's best epoch (``val_loss``, ``val_<metric>``).
    epochs
        The chosen number of epochs: the median of the folds' best epochs, rounded.
    oof
        Out-of-fold prediction of every training patient (rows of the other patients are
        NaN): each patient predicted by the one fold model that held it out.
    oof_metrics
        The task's metrics of :attr:`oof` over the training patients.
    members
        The folds' fitted models (:class:`Member`, ``fold0`` ...).
    """

    scores: pd.DataFrame
    epochs: int
    oof: np.ndarray
    oof_metrics: dict[str, float]
    members: list[Member] = field(default_factory=list, repr=False)

    def summary(self) -> pd.DataFrame:
        """Mean and standard deviation over the folds of every numeric column of
        :attr:`scores` (rows ``mean``, ``sd``)."""
        numeric = self.scores.select_dtypes("number")
        return pd.DataFrame({"mean": numeric.mean(), "sd": numeric.std(ddof=1)}).T


def inner_folds(
    y: np.ndarray, pool: np.ndarray, *, folds: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified ``folds``-fold split of the training patients ``pool``: ``(train, val)``
    positions per fold, each patient held out once.

    Raises
    ------
    DataError
        A class has fewer training patients than folds.
    """
    from sklearn.model_selection import StratifiedKFold

    pool = np.sort(np.asarray(pool, dtype=np.int64))
    labels = np.asarray(y)[pool]
    values, counts = np.unique(labels, return_counts=True)
    if counts.min() < folds:
        raise DataError(
            f"train.inner_folds: {folds} stratified folds need at least {folds} training "
            f"patients per class; class code {values[counts.argmin()].item()} has "
            f"{counts.min()} (training patients per class code: "
            f"{dict(zip(values.tolist(), counts.tolist(), strict=True))}); use fewer folds"
        )
    kfold = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return [(pool[tr], pool[va]) for tr, va in kfold.split(np.zeros(len(pool)), labels)]


def fit_member(
    name: str,
    config: ExperimentConfig,
    prepared: Prepared,
    *,
    epochs: int,
    patience: int | None,
    on_epoch: EpochCallback | None = None,
    progress: bool = False,
) -> Member:
    """Build, train (from the run's seed) and score the config's model on ``prepared``."""
    seed_everything(config.seed)
    model = build_fit_model(config, prepared)
    history = train_fit_model(
        model,
        prepared.data,
        config,
        epochs=epochs,
        patience=patience,
        on_epoch=on_epoch,
        progress=progress,
    )
    proba = task_class(config.task).predict(model, prepared.data)
    return Member(name, prepared, model, history, proba)


def select_by_cv(
    config: ExperimentConfig,
    final: Prepared,
    *,
    on_epoch: EpochCallback | None = None,
    on_fold: FoldCallback | None = None,
    progress: bool = False,
) -> InnerCV:
    """Run the inner folds of ``train.selection: cv`` over ``final``'s training patients.

    Parameters
    ----------
    config
        The run's config (``train.inner_folds``, ``train.epochs``, ``train.patience``,
        ``train.monitor``).
    final
        The run's data stage with every training patient in ``train`` (``val`` empty) and
        the test patients in ``test``: what the folds split.
    on_epoch
        Called with every epoch's record of every fold, the record carrying ``fold``.
    on_fold
        Called as ``on_fold(k, record)`` after fold ``k`` with its :attr:`InnerCV.scores`
        row; it may raise to stop (a pruned tuning trial).

    Returns
    -------
    InnerCV
    """
    cohort, task = final.cohort, task_class(config.task)
    pool, test = final.splits["train"], final.splits["test"]
    parts = inner_folds(cohort.y, pool, folds=config.train.inner_folds, seed=config.seed)
    rows, members = [], []
    oof = np.full((cohort.n_patients, final_width(config, cohort)), np.nan)
    for k, (train, val) in enumerate(parts):
        started = time.perf_counter()
        prepared = prepare(config, cohort=cohort, splits={"train": train, "val": val, "test": test})
        callback = None
        if on_epoch is not None:

            def callback(record: dict[str, float], k: int = k) -> None:
                on_epoch(record | {"fold": k})

        member = fit_member(
            f"fold{k}",
            config,
            prepared,
            epochs=config.train.epochs,
            patience=config.train.patience,
            on_epoch=callback,
            progress=progress,
        )
        oof[val] = member.proba[val]
        best = _best_record(member.history)
        row = {
            "fold": k,
            "patients_train": len(train),
            "patients_val": len(val),
            "best_epoch": member.history.best_epoch,
            "stopped_epoch": member.history.stopped_epoch,
            "seconds": time.perf_counter() - started,
        } | {key: value for key, value in best.items() if key.startswith("val_")}
        rows.append(row)
        members.append(member)
        if on_fold is not None:
            on_fold(k, dict(row))
    scores = pd.DataFrame(rows).set_index("fold")
    epochs = max(1, round(float(np.median(scores["best_epoch"]))))
    oof_metrics = task.score(oof, cohort.y, {"val": pool}, final.outcome, classes=cohort.classes)
    oof_metrics = oof_metrics["val"]
    return InnerCV(scores, epochs, oof, oof_metrics, members)


def final_width(config: ExperimentConfig, cohort: object) -> int:
    """Columns of the task's prediction: one per class, or one (the risk)."""
    task = task_class(config.task)
    return 1 if task.output == "risk" else len(cohort.classes)


def _best_record(history: TrainHistory) -> dict[str, float]:
    """The record of the history's best epoch (a fitted baseline's one record)."""
    for record in history.epochs:
        if int(record["epoch"]) == history.best_epoch:
            return record
    return history.epochs[-1] if history.epochs else {}


def average(members: list[Member]) -> np.ndarray:
    """The final predictor's output: the equal-weight mean of the members' predictions."""
    return np.mean([m.proba for m in members], axis=0)


@dataclass
class CVFit:
    """The final predictor of a ``train.selection: cv`` fit (:func:`fit_cv`).

    Attributes
    ----------
    inner
        The inner folds' scores and models.
    members
        The final predictor's members (``train.ensemble``): the fold models, the refit, or
        both; its output is their equal-weight mean (:attr:`proba`).
    primary
        The member that stands for the predictor where one model is needed (a checkpoint):
        the refit when there is one, else ``fold0``.
    metrics
        ``train`` (the predictor on the training patients; with fold members, partly
        patients a member held out), ``val`` (the inner folds' out-of-fold metrics) and
        ``test``.
    """

    inner: InnerCV
    members: list[Member]
    primary: Member
    proba: np.ndarray
    metrics: dict[str, dict[str, float]]


def fit_cv(
    config: ExperimentConfig,
    final: Prepared,
    *,
    logger: RunLogger | None = None,
    on_epoch: EpochCallback | None = None,
    on_fold: FoldCallback | None = None,
    progress: bool = False,
) -> CVFit:
    """Select the number of epochs by inner cross-validation (:func:`select_by_cv`), then
    build the final predictor ``train.ensemble`` names: the fold models, a refit on every
    training patient (``final``) for the chosen epochs without early stopping, or both.
    With a ``logger``, the inner folds are logged (:func:`log_inner`) and the refit's
    per-epoch training loss as ``refit_train_loss``."""
    inner = select_by_cv(config, final, on_epoch=on_epoch, on_fold=on_fold, progress=progress)
    ensemble = str(config.train.ensemble)
    members = list(inner.members) if "folds" in ensemble else []
    primary = inner.members[0]
    if "refit" in ensemble:
        callback = None
        if logger is not None:

            def callback(record: dict[str, float]) -> None:
                logger.log_metrics({"refit_train_loss": record["train_loss"]}, int(record["epoch"]))

        primary = fit_member(
            "refit",
            config,
            final,
            epochs=inner.epochs,
            patience=None,
            on_epoch=callback,
            progress=progress,
        )
        members.append(primary)
    proba = average(members)
    task = task_class(config.task)
    y = final.cohort.y
    scored = {"train": final.splits["train"], "test": final.splits["test"]}
    metrics = task.score(proba, y, scored, final.outcome, classes=final.cohort.classes)
    metrics = {"train": metrics["train"], "val": inner.oof_metrics, "test": metrics["test"]}
    if logger is not None:
        log_inner(logger, inner, members)
    return CVFit(inner, members, primary, proba, metrics)


def log_inner(logger: RunLogger, inner: InnerCV, members: list[Member]) -> None:
    """Log the inner folds: per fold (step = fold) ``inner_best_epoch`` and
    ``inner_val_<metric>``; over folds ``inner_val_<metric>_mean`` / ``_sd``;
    ``selected_epochs``; the ``inner_cv.csv`` table (:attr:`InnerCV.scores`), the
    ``inner_history.csv`` of every fold's epochs, the tag ``graphfuse.ensemble_members``
    and, for an ensemble, every member's ``members/<name>/checkpoint/`` (the run's
    ``checkpoint/`` is the refit's, else ``fold0``'s)."""
    for k, row in inner.scores.iterrows():
        values = {f"inner_{c}": float(v) for c, v in row.items() if c.startswith("val_")}
        values["inner_best_epoch"] = float(row["best_epoch"])
        logger.log_metrics(values, int(k))
    summary = inner.summary()
    overall = {"selected_epochs": float(inner.epochs)}
    for c in summary.columns:
        if c.startswith("val_"):
            overall[f"inner_{c}_mean"] = float(summary.loc["mean", c])
            overall[f"inner_{c}_sd"] = float(summary.loc["sd", c])
    logger.log_metrics(overall)
    logger.set_tags({"graphfuse.ensemble_members": ",".join(m.name for m in members)})
    with logger.staging() as folder:
        if len(members) > 1:
            for member in members:
                save_checkpoint(member.model, folder / "members" / member.name / "checkpoint")
        inner.scores.to_csv(folder / "inner_cv.csv")
        history = [
            pd.DataFrame(m.history.epochs).assign(fold=k) for k, m in enumerate(inner.members)
        ]
        pd.concat(history, ignore_index=True).to_csv(folder / "inner_history.csv", index=False)
