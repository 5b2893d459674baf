"""``prepare`` (the data stage) and ``fit`` (data -> graphs -> model -> training -> tracking)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch_geometric.data import HeteroData

from graphfuse._threads import auto_threads, torch_threads
from graphfuse.config import ExperimentConfig, resolve_components
from graphfuse.data import Cohort, ModalityMatrix, Preprocessor, load_cohort
from graphfuse.errors import DataError
from graphfuse.experiment._knowledge import build_from_config
from graphfuse.graphs import PATIENT, build_patient_graph
from graphfuse.models import FusionModel, build_model, graph_kind, save_checkpoint
from graphfuse.tracking import RunLogger, package_versions, resolve_tracking_uri
from graphfuse.train import (
    TrainHistory,
    classification_metrics,
    km_figure,
    predict_proba,
    predict_risk,
    published_split,
    risk_groups,
    roc_figure,
    stratified_split,
    survival_metrics,
    train_model,
)

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

SPLITS = ("train", "val", "test")


@dataclass
class FitResult:
    """Everything a fitted experiment produced.

    Attributes
    ----------
    config
        The resolved config.
    cohort, preprocessor, data, model
        The cohort, the preprocessing fitted on training patients, the patient graph
        and the trained model (best validation weights, eval mode). With
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

    @property
    def risk(self) -> np.ndarray | None:
        """Risk score of every patient (``task: survival``), else ``None``."""
        return self.proba[:, 0] if self.task == "survival" else None

    def metrics_frame(self) -> pd.DataFrame:
        """Metrics as a table: one row per split, one column per metric."""
        return pd.DataFrame(self.metrics).T.loc[list(SPLITS)]


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators."""
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - third-party code may draw from the global state
    torch.manual_seed(seed)


@dataclass
class Prepared:
    """The data stage of an experiment: what :func:`fit` trains on.

    Attributes
    ----------
    cohort, fingerprint
        The cohort and its data fingerprint.
    splits, split
        ``{"train", "val", "test"}`` -> positions, and the split's kind (see :class:`FitResult`).
        Prepared for a refit: ``train`` holds the training and validation patients, ``val``
        is empty.
    preprocessor
        Preprocessing fitted on training patients.
    data
        The patient graph (annotated: patient ids, classes, feature -> gene maps; for
        survival also ``time`` and ``event`` on the patient nodes).
    outcome
        ``(time, event)`` arrays for ``task: survival``, else ``None``.
    timings
        Seconds per stage: ``data``, ``preprocess``, ``graph``.
    """

    cohort: Cohort
    fingerprint: str
    splits: dict[str, np.ndarray]
    split: str
    preprocessor: Preprocessor
    data: HeteroData
    outcome: tuple[np.ndarray, np.ndarray] | None = None
    timings: dict[str, float] = field(default_factory=dict)


def prepare(
    config: ExperimentConfig,
    *,
    cohort: Cohort | None = None,
    splits: Mapping[str, np.ndarray] | None = None,
    refit: bool = False,
) -> Prepared:
    """Cohort -> split -> preprocessing (fitted on training patients) -> patient graph.

    Deterministic given the config (and its seed), so a tracked run's data can be rebuilt
    from its logged ``config.yaml`` (as :func:`explain_run` does). ``splits`` (``{"train",
    "val", "test"}`` -> positions) replaces :func:`split_cohort`'s split, e.g. one fold of
    :func:`cross_validate`. ``refit=True`` prepares the data of ``train.refit``'s second
    fit: the validation patients join the training patients (preprocessing and inductive
    graph fitted on both) and the validation split is empty; the test split is unchanged.
    """
    resolve_components(config)
    timings: dict[str, float] = {}

    def lap(name: str, since: float) -> float:
        now = time.perf_counter()
        timings[name] = now - since
        return now

    t = time.perf_counter()
    if cohort is None:
        cohort = load_cohort(config.data, seed=config.seed)
    fingerprint = cohort.fingerprint()
    t = lap("data", t)
    outcome = None
    if config.task == "survival":  # checked before the split, which stratifies by the event
        outcome = _survival_outcome(cohort, config)
    if splits is None:
        splits, split_kind = split_cohort(cohort, config)
    else:
        splits, split_kind = _check_splits(splits, cohort.n_patients), "given"
    if refit:
        splits = _refit_splits(splits)
    pre = Preprocessor.from_config(config.data.preprocess)
    matrices = pre.fit(cohort, splits["train"]).transform(cohort)
    t = lap("preprocess", t)
    data = build_graph(config, cohort, matrices, splits)
    if outcome is not None:  # the outcome rides on the graph, for the trainer's Cox loss
        data[PATIENT].time = torch.as_tensor(outcome[0], dtype=torch.float32)
        data[PATIENT].event = torch.as_tensor(outcome[1], dtype=torch.bool)
    lap("graph", t)
    return Prepared(cohort, fingerprint, splits, split_kind, pre, data, outcome, timings)


def build_graph(
    config: ExperimentConfig,
    cohort: Cohort,
    matrices: Mapping[str, ModalityMatrix],
    splits: Mapping[str, np.ndarray],
) -> HeteroData:
    """The config's graph over preprocessed ``matrices``: patient-similarity graphs (and the
    fused graph), annotated (:func:`annotate_graph`), extended into a knowledge graph when
    the config has ``graph.knowledge``. Fitted on ``splits["train"]`` unless transductive.

    :func:`prepare` calls it; so can a caller that changes the cohort after fitting the
    preprocessing (e.g. hiding a modality of test patients, ``benchmarks/missing.py``).
    """
    builder = config.graph.component()(**config.graph.params)
    fused_cfg = config.graph.fused
    fused = fused_cfg.component()(**fused_cfg.params) if fused_cfg is not None else None
    data = build_patient_graph(
        matrices, cohort.y, splits, builder, fused=fused, transductive=config.graph.transductive
    )
    annotate_graph(data, cohort)
    if config.graph.knowledge is not None:  # genes, gene sets, variables beside the patients
        data = build_from_config(data, cohort, config.graph.knowledge)
    return data


def fit(
    config: ExperimentConfig,
    *,
    progress: bool = False,
    cohort: Cohort | None = None,
    splits: Mapping[str, np.ndarray] | None = None,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
    parent_run_id: str | None = None,
    run_tags: Mapping[str, str] | None = None,
) -> FitResult:
    """Run an experiment: cohort -> split -> preprocess -> graph -> model -> train -> test.

    Everything fitted to data (preprocessing, graph neighbours, early stopping) sees
    training (and, for early stopping, validation) patients only; test patients are
    scored once at the end. When ``config.tracking.enabled``, the run is logged to MLflow:
    the resolved config (params and ``config.yaml``), seed, package versions and data
    fingerprint (tags), per-epoch losses and validation metrics, final metrics per split,
    a ROC plot, what preprocessing did per modality (``preprocess.json``:
    :meth:`graphfuse.data.Preprocessor.summary`), the model (MLflow pytorch flavour and
    graphfuse ``checkpoint/``).

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
        :mod:`graphfuse.tune` trial), anything else ``FAILED``.
    parent_run_id, run_tags
        Log the run nested under this MLflow run, with these extra tags (``graphfuse tune``).

    Returns
    -------
    FitResult
    """
    started = time.perf_counter()
    timings: dict[str, float] = {}

    def lap(name: str, since: float) -> float:
        now = time.perf_counter()
        timings[name] = now - since
        return now

    seed_everything(config.seed)
    prepared = prepare(config, cohort=cohort, splits=splits)
    timings.update(prepared.timings)
    cohort, data, splits = prepared.cohort, prepared.data, prepared.splits
    fingerprint, split_kind, pre = prepared.fingerprint, prepared.split, prepared.preprocessor
    y = cohort.y
    t = time.perf_counter()
    n_out = 1 if config.task == "survival" else len(cohort.classes)  # survival: a risk score
    model = build_model(config.model.name, data, n_out, task=config.task, **config.model.params)

    with ExitStack() as stack:
        threads = stack.enter_context(
            torch_threads(auto_threads(cohort.n_patients, config.train.threads))
        )
        logger: RunLogger | None = None
        if config.tracking.enabled:
            logger = RunLogger(
                resolve_tracking_uri(config.tracking.uri),
                config.tracking.experiment,
                config.tracking.run_name,
            )
            tags = _run_tags(config, fingerprint, data) | {
                "graphfuse.torch_threads": str(threads),
                "graphfuse.split": split_kind,
            }
            if config.train.refit:
                tags["graphfuse.refit"] = "true"
            tags |= dict(run_tags or {})
            stack.enter_context(logger.start(tags=tags, parent_run_id=parent_run_id))
            logger.log_params(config.to_dict())
            logger.log_text(config.to_yaml(), "config.yaml")
        callbacks = [on_epoch] if on_epoch is not None else []
        if logger is not None:

            def log_epoch(record: dict[str, float]) -> None:
                step = int(record["epoch"])
                logger.log_metrics({k: v for k, v in record.items() if k != "epoch"}, step)

            callbacks.insert(0, log_epoch)

        t = time.perf_counter()
        history = train_model(
            model,
            data,
            epochs=config.train.epochs,
            lr=config.train.lr,
            weight_decay=config.train.weight_decay,
            patience=config.train.patience,
            monitor=config.train.monitor,
            progress=progress,
            on_epoch=_chain(callbacks),
            task=config.task,
            modality_dropout=config.train.modality_dropout,
            seed=config.seed,
        )
        t = lap("train", t)
        proba, metrics = _score(model, data, config, y, splits, prepared.outcome)
        refit: _Refit | None = None
        if config.train.refit:  # test patients are scored by the refitted model only
            refit = _refit(config, cohort, splits, history.best_epoch, logger, progress)
            pre, data, model, proba = refit.preprocessor, refit.data, refit.model, refit.proba
            metrics["test"] = refit.metrics["test"]
            t = lap("refit", t)
        if logger is not None:
            logger.log_metrics({f"seconds_{stage}": v for stage, v in timings.items()})
            if refit is not None:
                logger.log_metrics(
                    {
                        "refit_epochs": refit.history.stopped_epoch,
                        "refit_train_seconds": refit.history.seconds,
                    }
                )
            _log_results(
                logger, config, cohort, model, history, metrics, proba, y, splits, pre.summary()
            )
            lap("tracking", t)
        result = FitResult(
            config=config,
            cohort=cohort,
            preprocessor=pre,
            data=data,
            model=model,
            splits=splits,
            history=history,
            metrics=metrics,
            proba=proba,
            fingerprint=fingerprint,
            run_id=logger.run_id if logger else None,
            tracking_uri=logger.uri if logger else None,
            artifact_uri=logger.artifact_uri if logger else None,
            timings=timings,
            split=split_kind,
            task=config.task,
            refit_history=refit.history if refit is not None else None,
        )
    result.seconds = time.perf_counter() - started
    return result


def _score(
    model: FusionModel,
    data: HeteroData,
    config: ExperimentConfig,
    y: np.ndarray,
    splits: dict[str, np.ndarray],
    outcome: tuple[np.ndarray, np.ndarray] | None,
) -> tuple[np.ndarray, dict[str, dict[str, float]]]:
    """Every patient's probabilities (survival: risk, one column) and the metrics per split."""
    if config.task == "survival":
        assert outcome is not None  # prepare() reads it for task: survival
        risk = predict_risk(model, data)
        return risk[:, None], _survival_split_metrics(risk, *outcome, splits)
    proba = predict_proba(model, data)
    metrics = {name: classification_metrics(y[idx], proba[idx]) for name, idx in splits.items()}
    return proba, metrics


@dataclass
class _Refit:
    """What :func:`_refit` produced: its data, model, history, scores."""

    preprocessor: Preprocessor
    data: HeteroData
    model: FusionModel
    history: TrainHistory
    proba: np.ndarray
    metrics: dict[str, dict[str, float]]


def _refit(
    config: ExperimentConfig,
    cohort: Cohort,
    splits: dict[str, np.ndarray],
    epochs: int,
    logger: RunLogger | None,
    progress: bool,
) -> _Refit:
    """``train.refit``: refit on training + validation patients for ``epochs`` epochs.

    From the run's seed, as the selection fit: preprocessing and (inductive) graph fitted
    on training + validation patients, a fresh model trained for exactly ``epochs`` epochs
    (the selection fit's best epoch) without early stopping — a model with ``fit_direct``
    is fitted once. Test patients are only scored. The metrics are per split of ``splits``
    (only ``test`` is meaningful: the refit trained on ``train`` and ``val``).
    """
    seed_everything(config.seed)
    prepared = prepare(config, cohort=cohort, splits=splits, refit=True)
    data = prepared.data
    n_out = 1 if config.task == "survival" else len(cohort.classes)
    model = build_model(config.model.name, data, n_out, task=config.task, **config.model.params)
    on_epoch = None
    if logger is not None:

        def on_epoch(record: dict[str, float]) -> None:
            logger.log_metrics({"refit_train_loss": record["train_loss"]}, int(record["epoch"]))

    history = train_model(
        model,
        data,
        epochs=epochs,
        lr=config.train.lr,
        weight_decay=config.train.weight_decay,
        patience=None,
        monitor=config.train.monitor,
        progress=progress,
        on_epoch=on_epoch,
        task=config.task,
        modality_dropout=config.train.modality_dropout,
        seed=config.seed,
    )
    proba, metrics = _score(model, data, config, cohort.y, splits, prepared.outcome)
    return _Refit(prepared.preprocessor, data, model, history, proba, metrics)


def _refit_splits(splits: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Validation patients moved into the training split (``val`` empty), test unchanged."""
    train = np.sort(np.concatenate([splits["train"], splits["val"]]))
    return {"train": train, "val": np.empty(0, dtype=np.int64), "test": splits["test"]}


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


def annotate_graph(data: HeteroData, cohort: Cohort) -> None:
    """Attach what explanations need to name things: patient ids (``data.patients``),
    class names (``data.classes``) and the feature -> gene map of omics modalities
    (``data.feature_genes``, restricted to features that survived preprocessing)."""
    data.patients = [str(p) for p in cohort.patients]
    data.classes = [str(c) for c in cohort.classes]
    genes = cohort.feature_genes()
    data.feature_genes = {
        m: {f: genes[m][f] for f in data.feature_names[m] if f in genes[m]}
        for m in data.modalities
        if m in genes
    }


def split_cohort(cohort: Cohort, config: ExperimentConfig) -> tuple[dict[str, np.ndarray], str]:
    """The split :func:`fit` uses: ``({"train", "val", "test"} -> positions, kind)``.

    The cohort's published split if it has one (``obs["split"]``, kind ``"published"``),
    validation carved from its training patients; else a seeded stratified split (kind
    ``"stratified"``). Depends only on the labels, the seed and the fractions, so a cohort
    with modalities hidden (:meth:`~graphfuse.data.Cohort.hide`) splits identically.
    """
    if "split" in cohort.obs.columns:
        split = cohort.obs["split"].astype(str).to_numpy()
        splits = published_split(
            split, cohort.y, val_fraction=config.train.val_fraction, seed=config.seed
        )
        return splits, "published"
    splits = stratified_split(
        cohort.y,
        val_fraction=config.train.val_fraction,
        test_fraction=config.train.test_fraction,
        seed=config.seed,
    )
    return splits, "stratified"


def _check_splits(splits: Mapping[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
    missing = {"train", "val", "test"} - set(splits)
    if missing:
        raise DataError(f"splits: missing {sorted(missing)}; expected train, val and test")
    out = {k: np.sort(np.asarray(splits[k], dtype=np.int64)) for k in ("train", "val", "test")}
    every = np.concatenate(list(out.values()))
    if len(every) and (every.min() < 0 or every.max() >= n):
        raise DataError(f"splits: positions out of range 0..{n - 1}")
    if len(np.unique(every)) != len(every):
        raise DataError("splits: train, val and test overlap (a patient is in two of them)")
    if min(len(v) for v in out.values()) == 0:
        raise DataError("splits: train, val and test each need at least one patient")
    return out


def _run_tags(config: ExperimentConfig, fingerprint: str, data: HeteroData) -> dict[str, str]:
    tags = {f"version.{k}": v for k, v in package_versions().items()}
    tags |= {
        "graphfuse.seed": str(config.seed),
        "graphfuse.data_fingerprint": fingerprint,
        "graphfuse.config_source": str(config.source),
        "graphfuse.model": config.model.name,
        "graphfuse.task": config.task,
        "graphfuse.graph_builder": config.graph.name,
        "graphfuse.fused_graph_builder": config.graph.fused.name if config.graph.fused else "none",
        "graphfuse.graph_mode": "transductive" if config.graph.transductive else "inductive",
        "graphfuse.modalities": ",".join(data.modalities),
        "graphfuse.graph_kind": graph_kind(data),
    }
    return tags


def _log_results(
    logger: RunLogger,
    config: ExperimentConfig,
    cohort: Cohort,
    model: FusionModel,
    history: TrainHistory,
    metrics: dict[str, dict[str, float]],
    proba: np.ndarray,
    y: np.ndarray,
    splits: dict[str, np.ndarray],
    preprocess: dict[str, Any],
) -> None:
    final = {f"{split}_{k}": v for split, m in metrics.items() for k, v in m.items()}
    final |= {
        "best_epoch": history.best_epoch,
        "epochs_run": history.stopped_epoch,
        "train_seconds": history.seconds,
    }
    logger.log_metrics(final, step=history.stopped_epoch)
    logger.flush()
    if config.task == "survival":
        time_, event = _survival_outcome(cohort, config)
        risk = proba[:, 0]
        high = risk_groups(risk, float(np.median(risk[splits["train"]])))
        test = splits["test"]
        logger.log_figure(km_figure(time_[test], event[test], high[test]), "plots/km_test.png")
    else:
        fig = roc_figure(
            y[splits["test"]], proba[splits["test"]], cohort.classes, title="ROC, test patients"
        )
        logger.log_figure(fig, "plots/roc_test.png")
    summary: dict[str, Any] = {
        "n_patients": cohort.n_patients,
        "classes": [str(c) for c in cohort.classes],
        "split_sizes": {k: len(v) for k, v in splits.items()},
        "availability": cohort.availability.mean().round(4).to_dict(),
        "features": dict(model.in_dims),
    }
    logger.log_dict(summary, "cohort.json")
    logger.log_dict(preprocess, "preprocess.json")  # per modality: steps, features in/out, dropped
    with logger.staging() as folder:
        save_checkpoint(model, folder / "checkpoint")
        pd.DataFrame(history.epochs).to_csv(folder / "history.csv", index=False)
        patients = cohort.patients
        split_of = np.empty(len(y), dtype=object)
        for name, idx in splits.items():
            split_of[idx] = name
        if config.task == "survival":  # risk groups split at the training median risk
            pred = pd.DataFrame(
                {"split": split_of, "time": time_, "event": event.astype(int), "risk": risk},
                index=patients,
            )
            pred["risk_group"] = np.where(high, "high", "low")
        else:
            cols = [f"p_{c}" for c in cohort.classes]
            pred = pd.DataFrame(proba, index=patients, columns=cols)
            pred.insert(0, "split", split_of)
            pred.insert(1, "label", np.asarray(cohort.classes, dtype=object)[y])
        pred.to_csv(folder / "predictions.csv")
    logger.log_torch_model(model)


def _survival_outcome(cohort: Cohort, config: ExperimentConfig) -> tuple[np.ndarray, np.ndarray]:
    """Time (float, > 0) and event (bool) of every patient, from ``data.survival``'s columns.

    Raises
    ------
    DataError
        A column is missing from the patient table, or holds a missing, non-numeric,
        non-positive time or an event other than 0/1 (naming the column and a patient).
    """
    surv = config.data.survival
    assert surv is not None  # the config requires it for task: survival
    obs = cohort.obs
    out = []
    for key in ("time", "event"):
        column = getattr(surv, key)
        if column not in obs.columns:
            hint = (
                " (the synthetic cohort has 'time' and 'event' with synthetic.survival: true)"
                if config.data.source == "synthetic"
                else ""
            )
            raise DataError(
                f"data.survival.{key}: column {column!r} is not in the patient table; it has "
                f"{list(obs.columns)}{hint}"
            )
        raw = obs[column]
        if isinstance(raw.dtype, pd.CategoricalDtype):
            raw = raw.astype(object)
        if pd.api.types.is_bool_dtype(raw):
            raw = raw.astype(float)
        values = pd.to_numeric(raw, errors="coerce").astype(float)
        bad = values.isna() | ~np.isfinite(values)
        bad |= values <= 0 if key == "time" else ~values.isin([0, 1])
        if bad.any():
            pid = obs.index[bad.to_numpy()][0]
            value = obs[column][pid]
            value = value.item() if isinstance(value, np.generic) else value
            expected = "a positive number" if key == "time" else "0 (censored) or 1 (event)"
            raise DataError(
                f"data.survival.{key}: column {column!r}, patient {pid!r}: {value!r}; "
                f"expected {expected} ({int(bad.sum())} patient(s) like this)"
            )
        out.append(values.to_numpy())
    time_, event = out
    if not event.any():
        raise DataError(f"data.survival.event: column {surv.event!r}: no patient has an event")
    return time_, event.astype(bool)


def _survival_split_metrics(
    risk: np.ndarray, time_: np.ndarray, event: np.ndarray, splits: dict[str, np.ndarray]
) -> dict[str, dict[str, float]]:
    """Per split: concordance and log-rank p of risk groups split at the training median."""
    threshold = float(np.median(risk[splits["train"]]))
    return {
        name: survival_metrics(time_[idx], event[idx], risk[idx], threshold=threshold)
        for name, idx in splits.items()
    }
