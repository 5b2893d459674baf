"""``fit``: an experiment from data to a trained, scored (and tracked) model."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from torch_geometric.data import HeteroData

from graphfuse._device import resolve_device
from graphfuse._threads import auto_threads, torch_threads
from graphfuse.config import ExperimentConfig
from graphfuse.data import Cohort, Preprocessor
from graphfuse.experiment._ensemble import EnsemblePipeline
from graphfuse.experiment._final import ensemble_pipeline, final_pipeline, pipeline_of
from graphfuse.experiment._inner import CVFit, InnerCV, Member, fit_cv
from graphfuse.experiment._intervals import fit_intervals, format_interval
from graphfuse.experiment._pipeline import Pipeline
from graphfuse.experiment._prepare import (
    SPLITS,
    Prepared,
    annotate_graph,
    build_graph,
    prepare,
    seed_everything,
    split_cohort,
)
from graphfuse.experiment._track import epoch_logger, log_fit, start_run, tracking_uri_of
from graphfuse.experiment._training import build_fit_model, train_fit_model
from graphfuse.models import FusionModel
from graphfuse.tracking import RunLogger
from graphfuse.train import LEVEL, N_BOOT, TrainHistory, task_class

if TYPE_CHECKING:
    from rich.console import Console

__all__ = [
    "SPLITS",
    "FitResult",
    "Prepared",
    "annotate_graph",
    "build_graph",
    "fit",
    "prepare",
    "seed_everything",
    "split_cohort",
]


@dataclass
class FitResult:
    """Everything a fitted experiment produced.

    Attributes
    ----------
    config
        The resolved config.
    cohort, preprocessor, data, model
        The cohort, the preprocessing fitted on training patients, the patient graph
        and the trained model (best validation weights, eval mode), both on the CPU
        whatever ``train.device`` trained and scored on. With
        ``train.refit``: the refit's, fitted on training + validation patients (the
        graph's ``train_mask`` holds both, its ``val_mask`` is empty).
    splits
        ``{"train", "val", "test"}`` -> patient positions (the selection fit's, also with
        ``train.refit``).
    history
        Per-epoch losses and validation metrics (with ``train.refit``: of the selection
        fit, whose ``best_epoch`` is the number of epochs refitted).
    metrics
        ``{"train", "val", "test"}`` -> accuracy, F1 (binary, macro, weighted), ROC AUC;
        for ``task: survival``: ``c_index``, ``logrank_p`` (high vs low risk, split at the
        training patients' median risk), ``high_risk_fraction``, ``events``. With
        ``train.refit``, ``test`` is the refitted model's and ``train``/``val`` are the
        selection fit's (the refit has no validation patients).
    proba
        Class probabilities of every patient; for ``task: survival`` the risk score of
        every patient as one column (also :attr:`risk`). With ``train.refit``: the
        refitted model's.
    refit_history
        With ``train.refit``: the refit's per-epoch training losses (no validation
        metrics); else ``None``.
    run_id, tracking_uri, artifact_uri
        Where the MLflow run is (``None`` when tracking is off).
    split
        ``"published"``: the cohort's own train/test split (``obs["split"]``) was kept,
        validation carved from its training patients; ``"stratified"``: a seeded
        stratified split (also the MLflow tag ``graphfuse.split``).
    seconds
        Wall-clock time of the whole fit.
    inner
        With ``train.selection: cv``: the inner folds (:class:`InnerCV`: per-fold scores,
        the chosen number of epochs, out-of-fold predictions); ``metrics["val"]`` is then the
        out-of-fold metrics over every training patient, ``splits["train"]`` holds every
        training patient and ``splits["val"]`` is empty. ``None`` with ``holdout``.
    members
        With an ensemble (``train.ensemble: folds`` or ``folds+refit``): its members
        (:class:`Member`, each with its own preprocessing, graph and model); :attr:`proba`
        is their mean, and :attr:`model`, :attr:`data`, :attr:`preprocessor` are the refit's
        (``folds+refit``) or ``fold0``'s. Empty for a single model.
    test_ci
        The test metrics with bootstrap 95 % intervals over the test patients
        (:func:`~graphfuse.experiment.fit_intervals`: ``point``, ``low``, ``high``,
        ``resamples``, ``skipped`` per metric), computed on first use.
    """

    config: ExperimentConfig
    cohort: Cohort
    preprocessor: Preprocessor
    data: HeteroData
    model: FusionModel
    splits: dict[str, np.ndarray]
    history: TrainHistory
    metrics: dict[str, dict[str, float]]
    proba: np.ndarray
    fingerprint: str
    run_id: str | None = None
    tracking_uri: str | None = None
    artifact_uri: str | None = None
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    split: str = "stratified"
    task: str = "classification"
    refit_history: TrainHistory | None = None
    graph_states: dict[str, tuple[dict, dict]] = field(default_factory=dict, repr=False)
    inner: InnerCV | None = field(default=None, repr=False)
    members: list[Member] = field(default_factory=list, repr=False)
    _test_ci: pd.DataFrame | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def test_ci(self) -> pd.DataFrame:
        """Test metrics with bootstrap intervals over the test patients (see the class)."""
        if self._test_ci is None:
            self._test_ci = fit_intervals(self)
        return self._test_ci

    def pipeline(self) -> Pipeline | EnsemblePipeline:
        """The fitted pipeline (:class:`~graphfuse.experiment.Pipeline`): scores, explains
        and embeds new patients with this fit's preprocessing, graph and model. A tracked
        run also saves it as its ``pipeline/`` artifact
        (:func:`~graphfuse.experiment.load_pipeline`).

        Raises
        ------
        DataError
            The fit was transductive (new patients cannot be attached).
        """
        if self.members and not self.config.graph.transductive:  # averaged member pipelines
            final = Prepared(
                self.cohort, self.fingerprint, self.splits, self.split, self.preprocessor, self.data
            )
            return ensemble_pipeline(self.config, final, self.members, self.proba, self.run_id)
        return pipeline_of(
            self.config,
            self.cohort,
            self.data,
            self.preprocessor,
            self.graph_states,
            self.model,
            self.fingerprint,
            self.proba,
            self.splits,
            self.run_id,
        )

    @property
    def risk(self) -> np.ndarray | None:
        """Risk score of every patient (``task: survival``), else ``None``."""
        return self.proba[:, 0] if task_class(self.task).output == "risk" else None

    def metrics_frame(self) -> pd.DataFrame:
        """Metrics as a table: one row per split, one column per metric."""
        return pd.DataFrame(self.metrics).T.loc[list(SPLITS)]

    @property
    def summary(self) -> pd.DataFrame:
        """One row per split: ``patients`` and the task's headline metrics (``graphfuse
        fit``'s table; :meth:`metrics_frame` has every metric)."""
        cols = list(task_class(self.task).summary_metrics)
        rows = {
            split: {"patients": self._patients(split)} | {c: m[c] for c in cols}
            for split, m in self.metrics.items()
        }
        return pd.DataFrame.from_dict(rows, orient="index")[["patients", *cols]]

    def _patients(self, split: str) -> int:
        """Patients behind ``metrics[split]`` (with inner CV, ``val`` is every training
        patient, each predicted out of fold)."""
        if split == "val" and self.inner is not None:
            return len(self.splits["train"])
        return len(self.splits[split])

    def print_summary(self, console: Console | None = None) -> None:
        """Print the metrics per split, the training and where the run is logged (what
        ``graphfuse fit`` shows)."""
        from rich.console import Console
        from rich.markup import escape
        from rich.table import Table

        console = console or Console()
        task = task_class(self.task)
        cols = task.summary_metrics
        table = Table(title=f"graphfuse fit — {self.config.source}", title_justify="left")
        table.add_column("split")
        table.add_column("patients", justify="right")
        for c in cols:
            table.add_column(c, justify="right")
        ci = self.test_ci.to_dict("index")
        for split, m in self.metrics.items():
            shown = ci if split == "test" else None
            cells = (format_interval(self.task, c, m[c], shown) for c in cols)
            label = "val (inner CV)" if split == "val" and self.inner is not None else split
            table.add_row(label, str(self._patients(split)), *cells)
        console.print(table)
        if ci:
            console.print(
                escape(
                    f"test [low, high]: bootstrap {LEVEL:.0%} interval over the "
                    f"{len(self.splits['test'])} test patients ({N_BOOT} resamples)"
                )
            )
        h = self.history
        model = f"model [bold]{self.config.model.name}[/] on {', '.join(self.data.modalities)}"
        if self.inner is not None:
            best = self.inner.scores["best_epoch"]
            console.print(
                f"{model}; {len(best)}-fold inner CV chose {self.inner.epochs} epochs (folds' "
                f"best {int(best.min())}–{int(best.max())}); final predictor "
                f"{self.config.train.ensemble}; training {h.seconds:.1f} s, total "
                f"{self.seconds:.1f} s"
            )
        else:
            stop = "early stop" if h.early_stopped else "all epochs"
            console.print(
                f"{model}; best epoch {h.best_epoch} of {h.stopped_epoch} ({stop}); "
                f"training {h.seconds:.1f} s, total {self.seconds:.1f} s"
            )
        if self.run_id is None:
            console.print("tracking off: nothing logged to MLflow")
            return
        console.print(f"MLflow run    {self.run_id}")
        console.print(f"tracking URI  {self.tracking_uri}")
        console.print(f"artifacts     {self.artifact_uri}")
        if str(self.tracking_uri).startswith(("http://", "https://")):  # a tracking server
            console.print(f"browse at     {self.tracking_uri}")
        else:
            console.print(f"browse with   mlflow ui --backend-store-uri {self.tracking_uri}")

    def write(self, mdata: object) -> None:
        """Write the fit's predictions into a MuData (or an AnnData, or a Cohort's MuData),
        as scanpy functions write theirs — the slots :meth:`Pipeline.predict` uses with
        ``write=True``.

        Parameters
        ----------
        mdata
            Holds every patient of the fit (``obs_names``: patient ids), e.g.
            ``result.cohort.mdata`` or the MuData the cohort was read from; extra
            patients are fine and get NaN.

        Returns
        -------
        None
            Sets ``mdata.obs["graphfuse_prediction"]`` (predicted class; for survival the
            risk group, ``high`` above the training patients' median risk),
            ``mdata.obs["graphfuse_p_<class>"]`` (each class probability; for survival
            ``mdata.obs["graphfuse_risk"]``), ``mdata.obs["graphfuse_split"]``
            (``train``/``val``/``test``), ``mdata.obsm["graphfuse_embedding"]`` (patients x
            embedding, when the model gives one) and ``mdata.uns["graphfuse"]`` (``run_id``,
            ``model``, ``params`` and ``metrics`` as JSON, ``classes``, ``task``).

        Raises
        ------
        DataError
            ``mdata`` lacks patients of the fit (naming them), or is not a MuData/AnnData.
        """
        from graphfuse.experiment._write import write_fit

        write_fit(self, mdata)


def fit(
    config: ExperimentConfig,
    *,
    progress: bool = False,
    cohort: Cohort | None = None,
    splits: Mapping[str, np.ndarray] | None = None,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
    parent_run_id: str | None = None,
    run_tags: Mapping[str, str] | None = None,
    run_suffix: str | None = None,
    on_fold: Callable[[int, dict[str, float]], None] | None = None,
) -> FitResult:
    """Run an experiment: cohort -> split -> preprocess -> graph -> model -> train -> test.

    Everything fitted to data (preprocessing, graph neighbours, early stopping) sees
    training (and, for early stopping, validation) patients only; test patients are
    scored once at the end. Training and scoring run on ``train.device``
    (:func:`graphfuse._device.resolve_device`; a GPU the machine lacks is a
    :class:`~graphfuse.errors.ConfigError` before any work); the result's model and graph
    are on the CPU. When ``config.tracking.enabled``, the run is logged to MLflow, named
    ``<config stem>-<model>-s<seed>`` (``tracking.run_name`` when set; the stem of a config
    without a file is ``config``) and described (cohort, model, test metrics): the
    resolved config (params and ``config.yaml``), seed, package versions and data
    fingerprint (tags), per-epoch losses and validation metrics, final metrics per split,
    a ROC plot, what preprocessing did per modality (``preprocess.json``:
    :meth:`graphfuse.data.Preprocessor.summary`), the model (MLflow pytorch flavour and
    graphfuse ``checkpoint/``; the logged MLflow model carries the test metrics).

    With ``train.selection: cv`` the number of epochs is chosen by k-fold cross-validation
    inside the training patients (``train.inner_folds``; :mod:`graphfuse.experiment._inner`):
    each inner fold fits its own preprocessing, graph and model and early-stops on its
    held-out patients; the median of the folds' best epochs is the chosen number. The final
    predictor is ``train.ensemble``'s: a refit on every training patient for that many epochs
    (default), the average of the fold models, or both. Logged besides: per-fold
    ``inner_val_<metric>`` and ``inner_best_epoch`` (step = fold), their
    ``inner_val_<metric>_mean`` / ``_sd``, ``selected_epochs``, ``inner_cv.csv``,
    ``inner_history.csv``, the tags ``graphfuse.selection`` and ``graphfuse.ensemble``.

    With ``train.refit``, the early-stopped fit only chooses the number of epochs
    (its ``best_epoch``): preprocessing, graph and a model from the same seed are then
    fitted on training + validation patients for exactly that many epochs (no early
    stopping; a ``fit_direct`` model is fitted once), and that model scores the test
    patients. The run's test metrics, predictions, plots and checkpoint are the refitted
    model's; its train/validation metrics and per-epoch history are the selection fit's
    (validation patients are training patients of the refit). Also logged: the tag
    ``graphfuse.refit: true``, ``refit_epochs``, ``refit_train_seconds`` and the refit's
    per-epoch ``refit_train_loss``.

    Parameters
    ----------
    config
        A validated experiment config (:func:`graphfuse.config.load_config`).
    progress
        Show a training progress bar.
    cohort
        Use this cohort instead of loading ``config.data`` (e.g. one with modalities
        hidden by :meth:`graphfuse.data.Cohort.hide` for a robustness experiment). The
        run's data fingerprint is this cohort's.
    splits
        Use this split (``{"train", "val", "test"}`` -> positions) instead of
        :func:`split_cohort`'s (one fold of :func:`cross_validate`; tag
        ``graphfuse.split: given``).
    on_epoch
        Called with each epoch's record (``epoch``, ``train_loss``, ``val_loss``,
        ``val_<metric>``), after it is logged. It may raise to stop the fit:
        :class:`graphfuse.tracking.StopRun` ends the MLflow run ``KILLED`` (a pruned
        :mod:`graphfuse.tune` trial), anything else ``FAILED``. Ctrl-C and ``SIGTERM``
        (:class:`graphfuse.tracking.Terminated`) end it ``KILLED`` too, with the
        metrics logged so far.
    parent_run_id, run_tags
        Log the run nested under this MLflow run, with these extra tags (``graphfuse tune``).
    run_suffix
        Append ``-<run_suffix>`` to the run's name (``<config stem>-<model>-s<seed>``, or
        ``tracking.run_name``), e.g. ``fold2`` for a fold of :func:`cross_validate`.
    on_fold
        With ``train.selection: cv``: called as ``on_fold(k, record)`` after inner fold
        ``k`` with its row of :attr:`InnerCV.scores` (``best_epoch``, ``val_<metric>`` at that
        epoch, ...); it may raise to stop the fit, as ``on_epoch`` may. Then ``on_epoch``'s
        records carry ``fold`` (epochs restart at 1 in each fold); the refit's epochs are not
        passed to it.

    Returns
    -------
    FitResult

    Raises
    ------
    ConfigError
        Invalid settings: a device the machine lacks, a malformed ``tracking.uri``.
    TrackingError
        The tracking store cannot be written (read-only, full disk).
    """
    started = time.perf_counter()
    resolve_device(config.train.device)  # a GPU the machine lacks fails before any work
    if config.tracking.enabled:
        tracking_uri_of(config)  # so does a malformed tracking URI
    seed_everything(config.seed)
    cv = config.train.selection == "cv"
    # with inner cross-validation, every training patient is in ``train`` (no validation
    # set is carved): the inner folds split them, the refit trains on all of them
    prepared = prepare(config, cohort=cohort, splits=splits, refit=cv)
    timings = dict(prepared.timings)
    model = None if cv else build_fit_model(config, prepared)
    with ExitStack() as stack:
        n_threads = auto_threads(prepared.cohort.n_patients, config.train.threads)
        threads = stack.enter_context(torch_threads(n_threads))
        logger = start_run(stack, config, prepared, threads, parent_run_id, run_tags, run_suffix)
        callbacks = [epoch_logger(logger)] if logger is not None and not cv else []
        callbacks += [on_epoch] if on_epoch is not None else []
        t = time.perf_counter()
        refit: _Refit | None = None
        selected: CVFit | None = None
        if cv:
            selected = fit_cv(
                config,
                prepared,
                logger=logger,
                on_epoch=_chain(callbacks),
                on_fold=on_fold,
                progress=progress,
            )
            t = _lap(timings, "train", t)
            primary = selected.primary
            pre, data, states = primary.preprocessor, primary.data, primary.graph_states
            model, proba, metrics = primary.model, selected.proba, selected.metrics
            history = _selection_history(selected, config)
            refit_history = primary.history if primary.name == "refit" else None
            if primary.name != "refit":  # folds only: the run's split is the folds' pool
                prepared = replace(prepared, data=data, preprocessor=pre, graph_states=states)
        else:
            assert model is not None
            history = train_fit_model(
                model,
                prepared.data,
                config,
                epochs=config.train.epochs,
                patience=config.train.patience,
                on_epoch=_chain(callbacks),
                progress=progress,
            )
            t = _lap(timings, "train", t)
            pre, data, states = prepared.preprocessor, prepared.data, prepared.graph_states
            proba, metrics = _score(model, data, config, prepared)
            if config.train.refit:  # test patients are scored by the refitted model only
                refit = _refit(config, prepared, history.best_epoch, logger, progress)
                pre, data, model, proba = refit.preprocessor, refit.data, refit.model, refit.proba
                states = refit.graph_states
                metrics["test"] = refit.metrics["test"]
                t = _lap(timings, "refit", t)
            refit_history = refit.history if refit is not None else None
        model.to("cpu")  # trained and scored on train.device; logged and returned on the CPU
        members = selected.members if selected is not None else []
        for member in members:
            member.model.to("cpu")
        if logger is not None:
            pipeline = None
            if not config.graph.transductive:
                pipeline = final_pipeline(
                    config, prepared, members, data, pre, states, model, proba, logger.run_id
                )
            log_fit(
                logger,
                config,
                prepared,
                model,
                history,
                metrics,
                proba,
                pre.summary(),
                dict(timings),
                refit_history,
                pipeline,
            )
            _lap(timings, "tracking", t)
        result = FitResult(
            config=config,
            cohort=prepared.cohort,
            preprocessor=pre,
            data=data,
            model=model,
            splits=prepared.splits,
            history=history,
            metrics=metrics,
            proba=proba,
            fingerprint=prepared.fingerprint,
            run_id=logger.run_id if logger else None,
            tracking_uri=logger.uri if logger else None,
            artifact_uri=logger.artifact_uri if logger else None,
            timings=timings,
            split=prepared.split,
            task=config.task,
            refit_history=refit_history,
            graph_states=states,
            inner=selected.inner if selected is not None else None,
            members=members if len(members) > 1 else [],
        )
    result.seconds = time.perf_counter() - started
    return result


def _lap(timings: dict[str, float], name: str, since: float) -> float:
    """Record the seconds since ``since`` as stage ``name``; return now."""
    now = time.perf_counter()
    timings[name] = now - since
    return now


def _selection_history(selected: CVFit, config: ExperimentConfig) -> TrainHistory:
    """The history a cross-validated fit reports: the chosen number of epochs as its best
    and last epoch, the seconds of every fold and the refit (per-epoch records: the inner
    folds' ``inner_history.csv`` and the refit's ``refit_history``)."""
    seconds = sum(m.history.seconds for m in selected.inner.members)
    if selected.primary.name == "refit":
        seconds += selected.primary.history.seconds
    epochs = selected.inner.epochs
    return TrainHistory(best_epoch=epochs, stopped_epoch=epochs, max_epochs=epochs, seconds=seconds)


def _score(
    model: FusionModel, data: HeteroData, config: ExperimentConfig, prepared: Prepared
) -> tuple[np.ndarray, dict[str, dict[str, float]]]:
    """Every patient's prediction (the task's output: class probabilities, or the risk as
    one column) and the metrics per split of ``prepared``."""
    task = task_class(config.task)
    pred = task.predict(model, data)
    cohort = prepared.cohort
    return pred, task.score(
        pred, cohort.y, prepared.splits, prepared.outcome, classes=cohort.classes
    )


@dataclass
class _Refit:
    """What :func:`_refit` produced: its data, model, history, scores."""

    preprocessor: Preprocessor
    data: HeteroData
    model: FusionModel
    history: TrainHistory
    proba: np.ndarray
    metrics: dict[str, dict[str, float]]
    graph_states: dict[str, tuple[dict, dict]]


def _refit(
    config: ExperimentConfig,
    selection: Prepared,
    epochs: int,
    logger: RunLogger | None,
    progress: bool,
) -> _Refit:
    """``train.refit``: refit on training + validation patients for ``epochs`` epochs.

    From the run's seed, as the selection fit: preprocessing and (inductive) graph fitted
    on training + validation patients, a fresh model trained for exactly ``epochs`` epochs
    (the selection fit's best epoch) without early stopping — a model with ``fit_direct``
    is fitted once. Test patients are only scored. The metrics are per split of the
    selection fit's splits (only ``test`` is meaningful: the refit trained on ``train`` and
    ``val``).
    """
    seed_everything(config.seed)
    prepared = prepare(config, cohort=selection.cohort, splits=selection.splits, refit=True)
    data = prepared.data
    model = build_fit_model(config, prepared)
    on_epoch = None
    if logger is not None:

        def on_epoch(record: dict[str, float]) -> None:
            logger.log_metrics({"refit_train_loss": record["train_loss"]}, int(record["epoch"]))

    history = train_fit_model(
        model, data, config, epochs=epochs, patience=None, on_epoch=on_epoch, progress=progress
    )
    task = task_class(config.task)
    proba = task.predict(model, data)
    metrics = task.score(
        proba,
        selection.cohort.y,
        selection.splits,
        prepared.outcome,
        classes=selection.cohort.classes,
    )
    return _Refit(
        prepared.preprocessor, data, model, history, proba, metrics, prepared.graph_states
    )


def _chain(
    callbacks: list[Callable[[dict[str, float]], None]],
) -> Callable[[dict[str, float]], None] | None:
    """One epoch callback calling ``callbacks`` in order; ``None`` when there are none."""
    if not callbacks:
        return None

    def call(record: dict[str, float]) -> None:
        for callback in callbacks:
            callback(record)

    return call
