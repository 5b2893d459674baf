"""The fitted pipeline: everything a fit learned, saved without pickle, applied to new patients.

A :class:`Pipeline` holds the resolved config, the fitted preprocessing, the training
patients' graph (:func:`graphfuse.graphs.training_graph`), each graph builder's fitted
state and the trained model. :meth:`Pipeline.save` writes it as two files —
``pipeline.json`` (the config, the model spec, class names, task, data fingerprint, every
fitted value that is not an array) and ``arrays.npz`` (numeric arrays only, read with
``allow_pickle=False``) — and :func:`load_pipeline` reads it back from a folder or from the
``pipeline/`` artifact of an MLflow run. Nothing is unpickled and the training tables are
not needed.

New patients are preprocessed with the training state, attached to the training patients
(and only to them) by the fitted builders, and scored by the model; one patient's output
never depends on which other new patients are scored with it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch_geometric.data import HeteroData

import graphfuse
from graphfuse._device import device_of, resolve_device, to_device
from graphfuse._threads import auto_threads, torch_threads
from graphfuse.config import ExperimentConfig, resolve_components
from graphfuse.data import NewPatients, Preprocessor
from graphfuse.errors import DataError
from graphfuse.experiment._pipeline_fast import CachedEncoders
from graphfuse.experiment._pipeline_input import NewMatrices, preprocess_new
from graphfuse.experiment._write import model_info, write_predictions
from graphfuse.graphs import (
    BUILDERS,
    FUSED_BUILDERS,
    FUSED_EDGE,
    FUSED_STATE,
    PATIENT,
    FusedGraphBuilder,
    PatientGraphBuilder,
    attach_patients,
    edge_type,
    feature_key,
    graph_from_state,
    graph_info,
    graph_state,
    training_graph,
)
from graphfuse.models import FusionModel, model_from_spec
from graphfuse.train import task_class

__all__ = ["PIPELINE_FORMAT", "Pipeline", "Scored"]

#: Version of the saved layout (``pipeline.json``'s ``format_version``).
PIPELINE_FORMAT = 1
_JSON, _ARRAYS = "pipeline.json", "arrays.npz"
_KIND = "graphfuse-pipeline"


class Scored:
    """New patients attached to a pipeline's training graph (:meth:`Pipeline.attach`).

    Attributes
    ----------
    data
        The training graph with the new patients appended (positions ``offset`` on).
    patients
        The new patients (:class:`~graphfuse.data.NewPatients`).
    new
        Their preprocessed features and what was imputed (:class:`NewMatrices`).
    offset
        Number of training patients: new patient ``i`` is node ``offset + i``.
    """

    def __init__(self, data: HeteroData, patients: NewPatients, new: NewMatrices, offset: int):
        self.data, self.patients, self.new, self.offset = data, patients, new, offset

    @property
    def positions(self) -> np.ndarray:
        """Node positions of the new patients."""
        return np.arange(self.offset, self.offset + self.patients.n_patients)


class Pipeline:
    """A fitted experiment that scores, explains and embeds new patients.

    Build one from a fit (:meth:`graphfuse.experiment.FitResult.pipeline`), or load a
    saved one (:func:`load_pipeline`). New patients are given as a
    :class:`~graphfuse.data.Cohort`, a ``MuData`` or ``.h5mu`` path, a mapping of modality
    -> ``DataFrame`` / ``AnnData`` (patients x features, values as in the training
    tables), or :class:`~graphfuse.data.NewPatients`; any subset of the trained modalities
    per patient.

    Attributes
    ----------
    config
        The run's resolved config.
    preprocessor
        The preprocessing fitted on the training patients.
    graph
        The training patients' graph.
    builders, fused
        Per modality the fitted graph builder, and the fitted fused builder (or ``None``).
    model
        The trained model (eval mode).
    info
        ``task``, ``classes``, ``target``, ``fingerprint``, ``run_id``, ``risk_median``
        (survival: the training patients' median risk, which splits high from low risk),
        ``graphfuse`` (the version that saved it), ``created``.
    """

    def __init__(
        self,
        *,
        config: ExperimentConfig,
        preprocessor: Preprocessor,
        graph: HeteroData,
        builder_states: Mapping[str, tuple[dict[str, Any], dict[str, np.ndarray]]],
        model: FusionModel,
        info: Mapping[str, Any],
    ) -> None:
        if config.graph.transductive:
            raise DataError(
                "this run was fitted transductively (graph.transductive: true): its graphs "
                "were fitted on every patient, test patients included, so new patients cannot "
                "be attached without refitting; fit with graph.transductive: false to score "
                "new patients"
            )
        self.config = config
        self.preprocessor = preprocessor
        self.graph = graph
        self.model = model.eval()
        self.info = dict(info)
        self._states = {k: (dict(v), dict(a)) for k, (v, a) in builder_states.items()}
        self.builders, self.fused = self._restore_builders()
        self._cache: CachedEncoders | bool | None = False  # False: not built yet

    # ------------------------------------------------------------------ facts
    @property
    def task(self) -> str:
        return str(self.info["task"])

    @property
    def classes(self) -> list[str]:
        return list(self.info["classes"])

    @property
    def modalities(self) -> list[str]:
        return list(graph_info(self.graph).modalities)

    @property
    def kinds(self) -> dict[str, str]:
        return dict(graph_info(self.graph).kinds)

    @property
    def run_id(self) -> str | None:
        return self.info.get("run_id")

    @property
    def n_train(self) -> int:
        """Training patients the new patients are attached to."""
        return int(self.graph[PATIENT].num_nodes)

    def input_features(self) -> dict[str, list[str]]:
        """Modality -> the features new tables must have (what preprocessing reads)."""
        return {m: p.needed() for m, p in self.preprocessor.fitted_.items()}

    def __repr__(self) -> str:
        return (
            f"Pipeline({self.config.model.name} on {', '.join(self.modalities)}; task "
            f"{self.task}; {self.n_train} training patients; run {self.run_id})"
        )

    # ------------------------------------------------------------------ building
    @classmethod
    def from_fit(
        cls,
        config: ExperimentConfig,
        data: HeteroData,
        preprocessor: Preprocessor,
        builder_states: Mapping[str, tuple[dict[str, Any], dict[str, np.ndarray]]],
        model: FusionModel,
        *,
        classes: Sequence[Any],
        target: str,
        fingerprint: str,
        risk_median: float | None = None,
        run_id: str | None = None,
    ) -> Pipeline:
        """The pipeline of a fit: its config, the graph it trained on (all patients; only
        the training patients are kept), preprocessing, builder states and model."""
        info = {
            "task": config.task,
            "classes": [str(c) for c in classes],
            "target": target,
            "fingerprint": fingerprint,
            "run_id": run_id,
            "risk_median": risk_median,
            "graphfuse": graphfuse.__version__,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        model = _cpu_copy(model)
        return cls(
            config=config,
            preprocessor=preprocessor,
            graph=training_graph(data.cpu() if hasattr(data, "cpu") else data),
            builder_states=builder_states,
            model=model,
            info=info,
        )

    def _restore_builders(self) -> tuple[dict[str, PatientGraphBuilder], FusedGraphBuilder | None]:
        graph_cfg = self.config.graph
        store = self.graph[PATIENT]
        available = store.available.numpy()
        builders: dict[str, PatientGraphBuilder] = {}
        for j, m in enumerate(self.modalities):
            values, arrays = self._states[m]
            builder = BUILDERS.get(graph_cfg.name)(**graph_cfg.params)
            x_ref = store[feature_key(m)].numpy()[available[:, j]]
            builders[m] = builder.restore(x_ref, values, arrays)
        fused = None
        if graph_cfg.fused is not None:
            values, arrays = self._states[FUSED_STATE]
            fused = FUSED_BUILDERS.get(graph_cfg.fused.name)(**graph_cfg.fused.params)
            xs = {m: store[feature_key(m)].numpy() for m in self.modalities}
            fused = fused.restore(xs, available, values, arrays)
        return builders, fused

    # ------------------------------------------------------------------ saving
    def save(self, folder: str | Path) -> Path:
        """Write ``pipeline.json`` and ``arrays.npz`` into ``folder`` (created)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        pre_values, pre_arrays = self.preprocessor.state()
        graph_values, graph_arrays = graph_state(self.graph)
        arrays: dict[str, np.ndarray] = {}
        arrays |= {f"pre/{k}": v for k, v in pre_arrays.items()}
        arrays |= {f"graph/{k}": v for k, v in graph_arrays.items()}
        builders = {}
        for key, (values, state_arrays) in self._states.items():
            builders[key] = values
            arrays |= {f"builder/{key}/{k}": np.asarray(v) for k, v in state_arrays.items()}
        weights = {k: v.detach().cpu().numpy() for k, v in self.model.state_dict().items()}
        arrays |= {f"model/{k}": v for k, v in weights.items()}
        document = {
            "format": _KIND,
            "format_version": PIPELINE_FORMAT,
            **self.info,
            "config": self.config.to_dict(),
            "model": self.model.spec(),
            "preprocessing": pre_values,
            "graph": graph_values,
            "builders": builders,
        }
        (folder / _JSON).write_text(json.dumps(document, indent=1, default=_json_default))
        with open(folder / _ARRAYS, "wb") as fh:
            np.savez(fh, **arrays)
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> Pipeline:
        """Read a pipeline :meth:`save` wrote (no pickle; the training tables are not read).

        Raises
        ------
        DataError
            Not a pipeline folder, or one of another format version.
        """
        folder = Path(folder)
        path = folder / _JSON
        if not path.is_file() or not (folder / _ARRAYS).is_file():
            raise DataError(
                f"{folder}: not a saved graphfuse pipeline (expected {_JSON} and {_ARRAYS})"
            )
        document = json.loads(path.read_text())
        if document.get("format") != _KIND:
            raise DataError(f"{path}: not a graphfuse pipeline file")
        if document.get("format_version") != PIPELINE_FORMAT:
            raise DataError(
                f"{path}: pipeline format version {document.get('format_version')}; this "
                f"graphfuse ({graphfuse.__version__}) reads version {PIPELINE_FORMAT}"
            )
        with np.load(folder / _ARRAYS, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}

        def part(prefix: str) -> dict[str, np.ndarray]:
            return {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}

        config = ExperimentConfig.model_validate(document["config"])
        config.source = str(folder)
        resolve_components(config)
        states = {
            key: (values, part(f"builder/{key}/")) for key, values in document["builders"].items()
        }
        weights = {k: torch.from_numpy(np.array(v)) for k, v in part("model/").items()}
        info = {
            k: document.get(k)
            for k in (
                "task",
                "classes",
                "target",
                "fingerprint",
                "run_id",
                "risk_median",
                "graphfuse",
                "created",
            )
        }
        return cls(
            config=config,
            preprocessor=Preprocessor.from_state(document["preprocessing"], part("pre/")),
            graph=graph_from_state(document["graph"], part("graph/")),
            builder_states=states,
            model=model_from_spec(document["model"], weights),
            info=info,
        )

    # ------------------------------------------------------------------ scoring
    def attach(self, new: Any, *, allow_missing_features: bool = False) -> Scored:
        """Preprocess ``new`` patients with the training state and attach them to the
        training patients' graph (see :class:`Pipeline` for the inputs accepted).

        Raises
        ------
        DataError
            The new data disagrees with what the pipeline was fitted on (see
            :mod:`graphfuse.experiment._pipeline_input`): a modality the model never saw,
            a patient with none of the trained modalities, missing features (unless
            ``allow_missing_features``), a category the training cohort never had, ...
        """
        patients = NewPatients.coerce(new)
        matrices = preprocess_new(
            self.preprocessor,
            self.kinds,
            patients,
            allow_missing_features=allow_missing_features,
        )
        n = self.n_train + patients.n_patients
        knowledge = None
        if self.config.graph.knowledge is not None:
            k = self.config.graph.knowledge
            knowledge = {"top_genes": k.top_genes, "z_threshold": k.z_threshold}
        with torch_threads(auto_threads(n, self.config.train.threads)):
            data = attach_patients(
                self.graph,
                matrices.matrices,
                builders=self.builders,
                fused=self.fused,
                knowledge=knowledge,
                patients=[str(p) for p in patients.patients],
            )
        return Scored(data, patients, matrices, self.n_train)

    def _scorer(self) -> torch.nn.Module | None:
        """The model scoring new patients' rows only (:class:`CachedEncoders`), built on
        first use; ``None`` for a model that cannot be scored so."""
        if self._cache is False:
            with self._threads():
                self._cache = CachedEncoders.build(self.model, self.graph)
        return self._cache.module() if self._cache else None

    def _threads(self, scored: Scored | None = None) -> Any:
        """Torch threads for a computation over the training patients and ``scored``'s new
        ones: the run's ``train.threads``, else graphfuse's policy for a graph that size."""
        n = self.n_train + (scored.patients.n_patients if scored is not None else 0)
        return torch_threads(auto_threads(n, self.config.train.threads))

    def _on(self, device: str | None) -> torch.device:
        """Move the model to ``device`` (``None``: the run's ``train.device``); return it."""
        dev = resolve_device(device or self.config.train.device, key="device")
        self.model.to(dev)
        return dev

    def predict(
        self,
        new: Any,
        *,
        allow_missing_features: bool = False,
        write: bool = False,
        device: str | None = None,
    ) -> pd.DataFrame:
        """Score new patients.

        Parameters
        ----------
        new
            The new patients (see :class:`Pipeline`).
        allow_missing_features
            Impute features a table lacks from the training state (counted per patient in
            the ``imputed_features`` column) instead of refusing the table.
        write
            With a ``MuData`` (or ``Cohort``) given, also write the results into it, as
            scanpy functions write theirs: ``.obs["graphfuse_prediction"]`` (predicted
            class; ``"graphfuse_risk"`` for survival), ``.obs["graphfuse_p_<class>"]`` (each
            class probability), ``.obsm["graphfuse_embedding"]`` (patients x embedding, when
            the model gives one) and ``.uns["graphfuse"]`` (run id, model, parameters,
            classes).
        device
            ``cpu``, ``cuda``, ``cuda:N`` or ``auto``; ``None``: the run's ``train.device``
            (an error on a machine without that GPU, naming the devices it has).

        Returns
        -------
        pandas.DataFrame
            One row per new patient (index ``patient``): ``p_<class>`` per class and
            ``prediction`` (the most probable class) — for survival ``risk`` and
            ``risk_group`` (``high`` above the training patients' median risk) — then
            ``label`` where the input gives the run's target, ``modalities`` (those the
            patient had), ``neighbours_<graph>`` (training neighbours it was attached to in
            each similarity graph) and, with ``allow_missing_features``, ``imputed_features``.
        """
        scored = self.attach(new, allow_missing_features=allow_missing_features)
        dev = self._on(device)
        with self._threads(scored):
            scorer = self._scorer() if dev.type == "cpu" else None
            pred = task_class(self.task).predict(scorer or self.model, scored.data)
        frame = self._frame(scored, pred)
        if allow_missing_features:
            frame["imputed_features"] = scored.new.imputed.sum(axis=1).to_numpy()
        if write:
            self._write(new, frame, scored)
        return frame

    def embed(
        self, new: Any, *, allow_missing_features: bool = False, device: str | None = None
    ) -> pd.DataFrame:
        """New patients' embeddings (what the model's output layer reads): one row per
        patient, one column per dimension.

        Raises
        ------
        DataError
            The model gives no patient embedding (e.g. the scikit-learn baselines).
        """
        scored = self.attach(new, allow_missing_features=allow_missing_features)
        self._on(device)
        return self._embedding(scored)

    def explain(
        self,
        new: Any,
        method: str = "saliency",
        *,
        target: int | str | None = None,
        seed: int = 0,
        allow_missing_features: bool = False,
        device: str | None = None,
        progress: Any = None,
        **params: Any,
    ) -> Any:
        """Explain the model's predictions for new patients with one explainer (the same
        explainers and parameters as ``graphfuse explain``; ``progress``: a callback, as
        :func:`graphfuse.explain.run` takes it).

        Returns
        -------
        graphfuse.explain.Attribution
            Over the new patients, named by their ids.
        """
        from graphfuse.explain import run as run_explainers

        scored = self.attach(new, allow_missing_features=allow_missing_features)
        dev = self._on(device)
        out = run_explainers(
            self.model,
            to_device(scored.data, dev),
            [method],
            patients=scored.positions,
            target=target,
            seed=seed,
            params={method: params},
            threads=auto_threads(
                self.n_train + scored.patients.n_patients, self.config.train.threads
            ),
            progress=progress,
        )
        return out[method]

    # ------------------------------------------------------------------ helpers
    def _frame(self, scored: Scored, pred: np.ndarray) -> pd.DataFrame:
        rows = scored.positions
        ids = pd.Index([str(p) for p in scored.patients.patients], name="patient")
        out = pred[rows]
        task = task_class(self.task)
        if task.output == "risk":
            frame = pd.DataFrame({"risk": out[:, 0]}, index=ids)
            median = self.info.get("risk_median")
            if median is not None:
                frame["risk_group"] = np.where(out[:, 0] > median, "high", "low")
        else:
            frame = pd.DataFrame(out, index=ids, columns=[f"p_{c}" for c in self.classes])
            frame["prediction"] = np.asarray(self.classes, dtype=object)[out.argmax(axis=1)]
        labels = _labels(scored.patients, str(self.info.get("target")))
        if labels is not None:
            frame["label"] = labels.to_numpy()
        mods = self.modalities
        has = np.stack([scored.new.matrices[m].available for m in mods], axis=1)
        combos: dict[bytes, str] = {}
        names = []
        for row in has:
            key = row.tobytes()
            if key not in combos:
                combos[key] = ",".join(m for m, h in zip(mods, row, strict=True) if h)
            names.append(combos[key])
        frame["modalities"] = names
        data = scored.data
        graphs = [(m, edge_type(m)) for m in mods]
        if self.fused is not None:
            graphs.append(("fused", FUSED_EDGE))
        for name, et in graphs:
            dst = data[et].edge_index[1].numpy()
            counts = np.bincount(dst, minlength=data[PATIENT].num_nodes)
            frame[f"neighbours_{name}"] = counts[rows]
        return frame

    def _embedding(self, scored: Scored) -> pd.DataFrame:
        with torch.no_grad(), self._threads(scored):
            self.model.eval()
            h = self.model.patient_embedding(to_device(scored.data, device_of(self.model)))
        if h is None:
            raise DataError(
                f"model {self.config.model.name!r} gives no patient embedding (its "
                "patient_embedding returns None)"
            )
        ids = pd.Index([str(p) for p in scored.patients.patients], name="patient")
        values = h[torch.as_tensor(scored.positions)].cpu().numpy()
        return pd.DataFrame(values, index=ids, columns=[f"dim_{i}" for i in range(h.shape[1])])

    def _write(self, new: Any, frame: pd.DataFrame, scored: Scored) -> None:
        import mudata as md

        from graphfuse.data import Cohort

        mdata = new.mdata if isinstance(new, Cohort) else new
        if not isinstance(mdata, md.MuData):
            raise DataError(
                "predict(write=True) writes into a MuData (or a Cohort's); the new patients "
                f"were given as {type(new).__name__}"
            )
        embedding = self._embedding(scored) if _has_embedding(self.model) else None
        info = model_info(self.run_id, self.config, self.classes, self.task)
        write_predictions(mdata, frame, self.classes, embedding, info)


def _has_embedding(model: FusionModel) -> bool:
    return type(model).patient_embedding is not FusionModel.patient_embedding


def _labels(patients: NewPatients, target: str) -> pd.Series | None:
    """The new patients' labels, where the input has the run's target column."""
    obs = patients.obs
    column = obs.attrs.get("target", target)
    if column not in obs.columns:
        return None
    values = obs[column].reindex(patients.patients)
    if values.isna().all():
        return None
    return (
        values.astype(object)
        .where(values.notna(), None)
        .map(lambda v: None if v is None else str(v))
    )


def _cpu_copy(model: FusionModel) -> FusionModel:
    """``model`` on the CPU (the pipeline scores on the device its caller chooses)."""
    try:
        device = next(model.parameters()).device
    except StopIteration:
        return model
    return model if device.type == "cpu" else model.to("cpu")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")
