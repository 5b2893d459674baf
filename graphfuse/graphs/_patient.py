"""Assemble per-modality patient-similarity graphs into one ``HeteroData``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch_geometric.data import HeteroData

from graphfuse.data import ModalityMatrix
from graphfuse.errors import DataError, GraphfuseError
from graphfuse.graphs._base import FusedGraphBuilder, PatientGraphBuilder
from graphfuse.graphs._info import annotate

__all__ = [
    "FUSED_EDGE",
    "FUSED_STATE",
    "PATIENT",
    "build_patient_graph",
    "edge_type",
    "feature_key",
]

#: Node type of patients.
PATIENT = "patient"

#: Edge type of the graph a fused builder (``graph.fused``, e.g. SNF) makes from all modalities.
FUSED_EDGE = (PATIENT, "similar_fused", PATIENT)

#: Key of the fused builder's state in :func:`build_patient_graph`'s ``states``.
FUSED_STATE = "fused"


def feature_key(modality: str) -> str:
    """Attribute of ``data["patient"]`` holding a modality's features (``x_<modality>``)."""
    return f"x_{modality}"


def edge_type(modality: str) -> tuple[str, str, str]:
    """Edge type of a modality's similarity graph: ``("patient", "similar_<m>", "patient")``."""
    return (PATIENT, f"similar_{modality}", PATIENT)


def build_patient_graph(
    matrices: Mapping[str, ModalityMatrix],
    y: np.ndarray,
    splits: Mapping[str, np.ndarray],
    builder: PatientGraphBuilder,
    *,
    fused: FusedGraphBuilder | None = None,
    transductive: bool = False,
    states: dict[str, tuple[dict, dict]] | None = None,
) -> HeteroData:
    """Build one similarity graph per modality over all patients, as a ``HeteroData``.

    With a ``fused`` builder, a graph fused from all modalities is added beside them.

    Parameters
    ----------
    matrices
        Preprocessed features per modality (rows of patients lacking it are NaN).
    y
        Integer class per patient.
    splits
        ``{"train": positions, "val": positions, "test": positions}``.
    builder
        The graph builder applied to each modality.
    fused
        Optional builder of one graph from all modalities together (e.g.
        :class:`~graphfuse.graphs.SNFBuilder`), fitted on the same patients.
    transductive
        ``False`` (inductive, default): each modality's graph is fitted on training
        patients and every other patient is attached to training neighbours only.
        ``True``: MOGONET's setting — all patients that have the modality are fitted on.
    states
        A dict to fill with what the builders fitted, to attach new patients later: per
        modality (and :data:`FUSED_STATE` for the fused builder) the builder's
        :meth:`~graphfuse.graphs.PatientGraphBuilder.state`.

    Returns
    -------
    HeteroData
        Node type ``"patient"`` with ``y``, ``train_mask``/``val_mask``/``test_mask``,
        ``available`` (patients x modalities, bool) and one ``x_<modality>`` feature
        matrix per modality (NaN rows where unavailable); one edge type
        ``("patient", "similar_<modality>", "patient")`` per modality with ``edge_index``
        and ``edge_weight``; with ``fused``, also :data:`FUSED_EDGE`
        ``("patient", "similar_fused", "patient")``. Graph attributes: ``modalities``,
        ``feature_names``, ``kinds``, ``builder``, ``transductive``, and with ``fused``
        ``fused_builder``.
    """
    n = len(y)
    data = HeteroData()
    store = data[PATIENT]
    store.num_nodes = n
    store.y = torch.as_tensor(y, dtype=torch.long)
    for name, idx in splits.items():
        mask = torch.zeros(n, dtype=torch.bool)
        mask[torch.as_tensor(idx, dtype=torch.long)] = True
        store[f"{name}_mask"] = mask
    train = np.zeros(n, dtype=bool)
    train[np.asarray(splits["train"])] = True
    names = list(matrices)
    store.available = torch.as_tensor(np.stack([matrices[m].available for m in names], axis=1))
    for name in names:
        mat = matrices[name]
        store[feature_key(name)] = torch.from_numpy(mat.x)
        rows = np.flatnonzero(mat.available)
        fit = np.arange(len(rows)) if transductive else np.flatnonzero(train[rows])
        _check_neighbours(builder, len(fit), f"modality {name!r}", "graph.k")
        ei, w = builder.edges(mat.x[rows], fit)
        if states is not None:
            states[name] = builder.state()
        data[edge_type(name)].edge_index = torch.from_numpy(rows[ei])
        data[edge_type(name)].edge_weight = torch.from_numpy(w)
    if fused is not None:
        if "fused" in names:
            raise GraphfuseError(
                "a modality named 'fused' would share its edge type with the fused graph; "
                "rename the modality"
            )
        fit = np.arange(n) if transductive else np.flatnonzero(train)
        _check_neighbours(fused, len(fit), "the fused graph", "graph.fused.k")
        xs = {m: matrices[m].x for m in names}
        ei, w = fused.fuse(xs, store.available.numpy(), fit)
        if states is not None:
            states[FUSED_STATE] = fused.state()
        data[FUSED_EDGE].edge_index = torch.from_numpy(ei)
        data[FUSED_EDGE].edge_weight = torch.from_numpy(w)
    annotate(
        data,
        modalities=names,
        kinds={m: matrices[m].kind for m in names},
        feature_names={m: list(matrices[m].features) for m in names},
        builder=builder.registry_name,
    )
    if fused is not None:
        annotate(data, fused_builder=fused.registry_name)
    annotate(data, transductive=transductive)
    return data


def _check_neighbours(builder: Any, n_fit: int, what: str, key: str) -> None:
    """Refuse a builder whose ``k`` asks for more neighbours than there are fitted patients.

    The builders themselves connect each patient to every fitted patient then (fewer than
    ``k`` exist); from a config that is a complete graph the user did not ask for.
    """
    k = getattr(builder.params, "k", None)
    if k is None or n_fit == 0 or k < n_fit:
        return
    raise DataError(
        f"{what}: the graph is fitted on {n_fit} patient(s), so a patient has at most "
        f"{n_fit - 1} fitted neighbour(s), but {key} is {k}: the graph would connect every "
        f"patient to every fitted one. Set {key} below {n_fit} (a few percent of the "
        "training patients is usual)"
    )
