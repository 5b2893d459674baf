"""``prepare``, the data stage of an experiment: cohort -> split -> preprocessing (fitted
on training patients) -> patient graph (annotated, with the task's outcome)."""

from __future__ import annotations

import random
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from torch_geometric.data import HeteroData

from graphfuse.config import ExperimentConfig, resolve_components
from graphfuse.data import Cohort, ModalityMatrix, Preprocessor, load_cohort
from graphfuse.errors import DataError
from graphfuse.experiment._knowledge import build_from_config
from graphfuse.graphs import annotate, build_patient_graph, graph_info
from graphfuse.train import published_split, stratified_split, task_class

__all__ = [
    "SPLITS",
    "Prepared",
    "annotate_graph",
    "build_graph",
    "prepare",
    "read_outcome",
    "seed_everything",
    "split_cohort",
]

SPLITS = ("train", "val", "test")


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
    graph_states
        What the graph builders fitted, to attach new patients later (per modality, and
        ``"fused"``: :meth:`~graphfuse.graphs.PatientGraphBuilder.state`).
    """

    cohort: Cohort
    fingerprint: str
    splits: dict[str, np.ndarray]
    split: str
    preprocessor: Preprocessor
    data: HeteroData
    outcome: tuple[np.ndarray, np.ndarray] | None = None
    timings: dict[str, float] = field(default_factory=dict)
    graph_states: dict[str, tuple[dict, dict]] = field(default_factory=dict)


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
    task = task_class(config.task)
    outcome = None
    if task.needs_outcome:  # checked before the split, which stratifies by the event
        outcome = read_outcome(cohort, config)
    if splits is None:
        splits, split_kind = split_cohort(cohort, config)
    else:
        splits, split_kind = _check_splits(splits, cohort.n_patients), "given"
    if refit:
        splits = _refit_splits(splits)
    pre = Preprocessor.from_config(config.data.preprocess)
    matrices = pre.fit(cohort, splits["train"]).transform(cohort)
    t = lap("preprocess", t)
    states: dict[str, tuple[dict, dict]] = {}
    data = build_graph(config, cohort, matrices, splits, states=states)
    if outcome is not None:  # the outcome rides on the graph, for the trainer's loss
        task.attach_outcome(data, outcome)
    lap("graph", t)
    return Prepared(cohort, fingerprint, splits, split_kind, pre, data, outcome, timings, states)


def build_graph(
    config: ExperimentConfig,
    cohort: Cohort,
    matrices: Mapping[str, ModalityMatrix],
    splits: Mapping[str, np.ndarray],
    *,
    states: dict[str, tuple[dict, dict]] | None = None,
) -> HeteroData:
    """The config's graph over preprocessed ``matrices``: patient-similarity graphs (and the
    fused graph), annotated (:func:`annotate_graph`), extended into a knowledge graph when
    the config has ``graph.knowledge``. Fitted on ``splits["train"]`` unless transductive;
    ``states`` is filled with the builders' fitted states
    (:func:`~graphfuse.graphs.build_patient_graph`).

    :func:`prepare` calls it; so can a caller that changes the cohort after fitting the
    preprocessing (e.g. hiding a modality of test patients, ``benchmarks/missing.py``).
    """
    builder = config.graph.component()(**config.graph.params)
    fused_cfg = config.graph.fused
    fused = fused_cfg.component()(**fused_cfg.params) if fused_cfg is not None else None
    data = build_patient_graph(
        matrices,
        cohort.y,
        splits,
        builder,
        fused=fused,
        transductive=config.graph.transductive,
        states=states,
    )
    annotate_graph(data, cohort)
    if config.graph.knowledge is not None:  # genes, gene sets, variables beside the patients
        data = build_from_config(data, cohort, config.graph.knowledge)
    return data


def annotate_graph(data: HeteroData, cohort: Cohort) -> None:
    """Attach what explanations need to name things (:func:`~graphfuse.graphs.annotate`):
    patient ids (``patients``), class names (``classes``) and the feature -> gene map of
    omics modalities (``feature_genes``, restricted to features that survived
    preprocessing)."""
    genes = cohort.feature_genes()
    info = graph_info(data)
    feature_genes = {
        m: {f: genes[m][f] for f in info.feature_names[m] if f in genes[m]}
        for m in info.modalities
        if m in genes
    }
    annotate(
        data,
        patients=[str(p) for p in cohort.patients],
        classes=[str(c) for c in cohort.classes],
        feature_genes=feature_genes,
    )


def split_cohort(cohort: Cohort, config: ExperimentConfig) -> tuple[dict[str, np.ndarray], str]:
    """The split :func:`fit` uses: ``({"train", "val", "test"} -> positions, kind)``.

    The cohort's published split if it has one (``obs["split"]``, kind ``"published"``),
    validation carved from its training patients; else a seeded stratified split (kind
    ``"stratified"``). Depends only on the labels, the seed and the fractions, so a cohort
    with modalities hidden (:meth:`~graphfuse.data.Cohort.hide`) splits identically.
    """
    if "split" in cohort.obs.columns:
        split = cohort.obs["split"].astype(str).to_numpy()
        _check_published_classes(cohort, split)
        splits = published_split(
            split, cohort.y, val_fraction=config.train.val_fraction, seed=config.seed
        )
        return splits, "published"
    splits = stratified_split(
        cohort.y,
        val_fraction=config.train.val_fraction,
        test_fraction=config.train.test_fraction,
        seed=config.seed,
        classes=cohort.classes,
    )
    return splits, "stratified"


def _check_published_classes(cohort: Cohort, split: np.ndarray) -> None:
    """Every class must have training patients (error); a test split without some class
    gets a warning (its ROC AUC is undefined or leaves the class out)."""
    y, classes = cohort.y, cohort.classes
    counts = {
        name: np.bincount(y[split == name], minlength=len(classes)) for name in ("train", "test")
    }
    table = ", ".join(
        f"{c!r}: {int(counts['train'][i])} train / {int(counts['test'][i])} test"
        for i, c in enumerate(classes)
    )
    absent = [classes[i] for i in np.flatnonzero(counts["train"] == 0)]
    if absent:
        raise DataError(
            f"published split: class(es) {absent} have no training patient ({table}); a model "
            "cannot learn a class it never sees. Move some of their patients into the "
            "training split, or leave the class out (data.tables.classes)"
        )
    absent = [classes[i] for i in np.flatnonzero(counts["test"] == 0)]
    if absent:
        what = (
            "ROC AUC is undefined (reported as NaN)"
            if len(classes) - len(absent) < 2
            else "the macro ROC AUC averages over the classes present only"
        )
        warnings.warn(
            f"published split: class(es) {absent} have no test patient ({table}): {what}, and "
            "accuracy and F1 say nothing about them",
            UserWarning,
            stacklevel=3,
        )


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


def _refit_splits(splits: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Validation patients moved into the training split (``val`` empty), test unchanged."""
    train = np.sort(np.concatenate([splits["train"], splits["val"]]))
    return {"train": train, "val": np.empty(0, dtype=np.int64), "test": splits["test"]}


def read_outcome(cohort: Cohort, config: ExperimentConfig) -> tuple[np.ndarray, np.ndarray]:
    """Time (float, > 0) and event (bool) of every patient, from ``data.survival``'s columns
    (the outcome of a task with ``needs_outcome``, e.g. ``survival``).

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
