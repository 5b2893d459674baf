"""``fit``: an experiment from data to a trained, scored (and tracked) model."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from torch_geometric.data import HeteroData

from graphfuse._device import resolve_device
from graphfuse._threads import auto_threads, torch_threads
from graphfuse.config import ExperimentConfig
from graphfuse.data import Cohort, Preprocessor
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
from graphfuse.models import FusionModel, build_model
from graphfuse.tracking import RunLogger
from graphfuse.train import LEVEL, N_BOOT, TrainHistory, task_class, train_model

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
    _test_ci: pd.DataFrame | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def test_ci(self) -> pd.DataFrame:
        """Test metrics with bootstrap intervals over the test patients (see the class)."""
        if self._test_ci is None:
            self._test_ci = fit_intervals(self)
        return self._test_ci

    def pipeline(self) -> Pipeline:
        """The fitted pipeline (:class:`~graphfuse.experiment.Pipeline`): scores, explains
        and embeds new patients with this fit's preprocessing, graph and model. A tracked
        run also saves it as its ``pipeline/`` artifact
        (:func:`~graphfuse.experiment.load_pipeline`).

        Raises
        ------
        DataError
            The fit was transductive (new patients cannot be attached).
        """
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
            split: {"patients": len(self.splits[split])} | {c: m[c] for c in cols}
            for split, m in self.metrics.items()
        }
        return pd.DataFrame.from_dict(rows, orient="index")[["patients", *cols]]

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
            table.add_row(split, str(len(self.splits[split])), *cells)
        console.print(table)
        if ci:
            console.print(
                escape(
                    f"test [low, high]: bootstrap {LEVEL:.0%} interval over the "
                    f"{len(self.splits['test'])} test patients ({N_BOOT} resamples)"
                )
            )
        h = self.history
        stop = "early stop" if h.early_stopped else "all epochs"
        console.print(
            f"model [bold]{self.config.model.name}[/] on {', '.join(self.data.modalities)}; "
            f"best epoch {h.best_epoch} of {h.stopped_epoch} ({stop}); "
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
    prepared = prepare(config, cohort=cohort, splits=splits)
    timings = dict(prepared.timings)
    model = _build_model(config, prepared)
    with ExitStack() as stack:
        n_threads = auto_threads(prepared.cohort.n_patients, config.train.threads)
        threads = stack.enter_context(torch_threads(n_threads))
        logger = start_run(stack, config, prepared, threads, parent_run_id, run_tags, run_suffix)
        callbacks = [epoch_logger(logger)] if logger is not None else []
        callbacks += [on_epoch] if on_epoch is not None else []
        t = time.perf_counter()
        history = _train(
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
        refit: _Refit | None = None
        if config.train.refit:  # test patients are scored by the refitted model only
            refit = _refit(config, prepared, history.best_epoch, logger, progress)
            pre, data, model, proba = refit.preprocessor, refit.data, refit.model, refit.proba
            states = refit.graph_states
            metrics["test"] = refit.metrics["test"]
            t = _lap(timings, "refit", t)
        model.to("cpu")  # trained and scored on train.device; logged and returned on the CPU
        refit_history = refit.history if refit is not None else None
        if logger is not None:
            pipeline = None
            if not config.graph.transductive:
                pipeline = pipeline_of(
                    config,
                    prepared.cohort,
                    data,
                    pre,
                    states,
                    model,
                    prepared.fingerprint,
                    proba,
                    prepared.splits,
                    logger.run_id,
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
        )
    result.seconds = time.perf_counter() - started
    return result


def _lap(timings: dict[str, float], name: str, since: float) -> float:
    """Record the seconds since ``since`` as stage ``name``; return now."""
    now = time.perf_counter()
    timings[name] = now - since
    return now


def _build_model(config: ExperimentConfig, prepared: Prepared) -> FusionModel:
    """The config's model on the prepared graph, with the task's number of outputs."""
    n_out = task_class(config.task).n_outputs(len(prepared.cohort.classes))
    return build_model(
        config.model.name, prepared.data, n_out, task=config.task, **config.model.params
    )


def _train(
    model: FusionModel,
    data: HeteroData,
    config: ExperimentConfig,
    *,
    epochs: int,
    patience: int | None,
    on_epoch: Callable[[dict[str, float]], None] | None,
    progress: bool,
) -> TrainHistory:
    """:func:`graphfuse.train.train_model` with the config's training settings."""
    return train_model(
        model,
        data,
        epochs=epochs,
        lr=config.train.lr,
        weight_decay=config.train.weight_decay,
        patience=patience,
        monitor=config.train.monitor,
        progress=progress,
        on_epoch=on_epoch,
        task=config.task,
        modality_dropout=config.train.modality_dropout,
        seed=config.seed,
        device=resolve_device(config.train.device),
    )


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
    model = _build_model(config, prepared)
    on_epoch = None
    if logger is not None:

        def on_epoch(record: dict[str, float]) -> None:
            logger.log_metrics({"refit_train_loss": record["train_loss"]}, int(record["epoch"]))

    history = _train(
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


def pipeline_of(
    config: ExperimentConfig,
    cohort: Cohort,
    data: HeteroData,
    preprocessor: Preprocessor,
    states: Mapping[str, tuple[dict, dict]],
    model: FusionModel,
    fingerprint: str,
    proba: np.ndarray,
    splits: Mapping[str, np.ndarray],
    run_id: str | None,
) -> Pipeline:
    """The :class:`Pipeline` of a fit's final data and model. For survival it keeps the
    median risk of the (selection fit's) training patients, the split of the run's
    ``risk_group``."""
    median = None
    if task_class(config.task).output == "risk":
        median = float(np.median(proba[splits["train"], 0]))
    return Pipeline.from_fit(
        config,
        data,
        preprocessor,
        states,
        model,
        classes=cohort.classes,
        target=cohort.target,
        fingerprint=fingerprint,
        risk_median=median,
        run_id=run_id,
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
