"""A graph as plain data, the training patients' part of a graph, and new patients
attached to it: what a saved pipeline keeps of its graph and how it scores new patients.

A fitted pipeline keeps the graph of its **training patients** only: their features, every
edge among them and every node and edge of other types (genes, gene sets, variables). In
the inductive setting nothing else is needed to score new patients: held-out patients
only ever *receive* edges from training patients, so :func:`attach_patients` rebuilds, for
any new patients, exactly the incoming edges the fit would have given them, and no new
patient's output can depend on another's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, fields
from typing import Any

import numpy as np
import torch
from torch_geometric.data import HeteroData

from graphfuse.data import ModalityMatrix
from graphfuse.errors import GraphfuseError
from graphfuse.graphs._base import FusedGraphBuilder, PatientGraphBuilder
from graphfuse.graphs._info import annotate, graph_info
from graphfuse.graphs._knowledge import attach_knowledge
from graphfuse.graphs._patient import FUSED_EDGE, PATIENT, edge_type

__all__ = ["attach_patients", "graph_from_state", "graph_state", "training_graph"]

#: Separator of an edge type's parts in array keys (node and relation names never hold it).
_SEP = "|"


def graph_state(data: HeteroData) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """``data`` as JSON-ready values and numeric arrays (:func:`graph_from_state` inverts it).

    Tensors become arrays keyed ``node/<type>/<attr>`` and ``edge/<src>|<rel>|<dst>/<attr>``;
    other attributes (node counts, node names, a collection's name) and the graph's facts
    (:class:`~graphfuse.graphs.GraphInfo`) become values.
    """
    values: dict[str, Any] = {"graph": asdict(graph_info(data)), "nodes": {}, "edges": {}}
    arrays: dict[str, np.ndarray] = {}
    for kind, types in (("node", data.node_types), ("edge", data.edge_types)):
        for t in types:
            name = t if kind == "node" else _SEP.join(t)
            plain: dict[str, Any] = {}
            for key, value in data[t].items():
                if isinstance(value, torch.Tensor):
                    arrays[f"{kind}/{name}/{key}"] = value.detach().cpu().numpy()
                else:
                    plain[key] = value
            values["nodes" if kind == "node" else "edges"][name] = plain
    return values, arrays


def graph_from_state(values: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> HeteroData:
    """The graph :func:`graph_state` described."""
    data = HeteroData()
    for kind, group in (("node", "nodes"), ("edge", "edges")):
        for name, plain in values[group].items():
            store = data[name] if kind == "node" else data[tuple(name.split(_SEP))]
            for key, value in plain.items():
                store[key] = value
    for key, array in arrays.items():
        kind, name, attr = key.split("/", 2)
        store = data[name] if kind == "node" else data[tuple(name.split(_SEP))]
        store[attr] = torch.from_numpy(np.array(array))
    annotate(data, **{k: v for k, v in values["graph"].items()})
    return data


def training_graph(data: HeteroData) -> HeteroData:
    """The part of ``data`` a pipeline keeps: its training patients (``train_mask``) with
    their features, every edge among them, and every node and edge of other types.

    Patient positions are renumbered in order; the patient ids (``patients``, and a
    knowledge graph's patient ``node_names``) are restricted alike; ``val_mask`` and
    ``test_mask`` go.
    """
    store = data[PATIENT]
    n = int(store.num_nodes)
    keep = store.train_mask.cpu().numpy().astype(bool)
    position = np.full(n, -1, dtype=np.int64)
    position[keep] = np.arange(int(keep.sum()))
    out = HeteroData()
    for key, value in store.items():
        if key in ("val_mask", "test_mask"):
            continue
        if key == "num_nodes":
            out[PATIENT].num_nodes = int(keep.sum())
        elif isinstance(value, torch.Tensor) and value.dim() > 0 and value.shape[0] == n:
            out[PATIENT][key] = value[torch.from_numpy(keep)]
        elif isinstance(value, list) and len(value) == n:
            out[PATIENT][key] = [v for v, k in zip(value, keep, strict=True) if k]
        else:
            out[PATIENT][key] = value
    for nt in data.node_types:
        if nt != PATIENT:
            for key, value in data[nt].items():
                out[nt][key] = value
    for et in data.edge_types:
        src_type, _, dst_type = et
        old = data[et]
        index = old.edge_index.cpu().numpy()
        ok = np.ones(index.shape[1], dtype=bool)
        for side, node_type in ((0, src_type), (1, dst_type)):
            if node_type == PATIENT:
                ok &= keep[index[side]]
        new_index = index[:, ok].copy()
        for side, node_type in ((0, src_type), (1, dst_type)):
            if node_type == PATIENT:
                new_index[side] = position[new_index[side]]
        for key, value in old.items():
            if key == "edge_index":
                out[et].edge_index = torch.from_numpy(new_index)
            elif isinstance(value, torch.Tensor) and value.shape[0] == index.shape[1]:
                out[et][key] = value[torch.from_numpy(ok)]
            else:
                out[et][key] = value
    info = asdict(graph_info(data))
    if info["patients"] is not None:
        info["patients"] = [p for p, k in zip(info["patients"], keep, strict=True) if k]
    annotate(out, **info)
    return out


def attach_patients(
    train: HeteroData,
    new: Mapping[str, ModalityMatrix],
    *,
    builders: Mapping[str, PatientGraphBuilder],
    fused: FusedGraphBuilder | None = None,
    knowledge: Mapping[str, Any] | None = None,
    patients: list[str] | None = None,
) -> HeteroData:
    """``train`` (:func:`training_graph`) with new patients appended after its patients.

    Each new patient receives the edges the fit would have given a held-out patient, and
    only those: per modality it has, an edge from each training neighbour its modality's
    fitted builder finds (:meth:`~graphfuse.graphs.PatientGraphBuilder.attach`); from the
    fused builder likewise; in a knowledge graph, from its most extreme genes and from the
    variable nodes of its clinical and imaging values. New patients send no edge, so the
    training patients' part of the graph — and every output a model computes for them —
    is unchanged, and a new patient's output does not depend on the other new patients.

    Parameters
    ----------
    train
        The training patients' graph (the saved pipeline's).
    new
        The new patients' preprocessed features per modality, every modality of ``train``
        (rows of patients lacking it are NaN; ``available`` says who has it).
    builders
        Modality -> its fitted builder, ready to attach (restored from the saved state).
    fused
        The fitted fused builder, when the graph has a fused graph.
    knowledge
        For a knowledge graph: ``top_genes`` and ``z_threshold`` of its patient-gene edges.
    patients
        The new patients' ids (appended to the graph's ``patients``).

    Returns
    -------
    HeteroData
        A new graph: patients ``0..n_train-1`` are the training patients (``train_mask``),
        the rest the new patients (``test_mask``); ``y`` of new patients is 0.
    """
    info = graph_info(train)
    missing = [m for m in info.modalities if m not in new]
    if missing:
        raise GraphfuseError(f"attach_patients: no features given for modalities {missing}")
    old = train[PATIENT]
    n_train = int(old.num_nodes)
    n_new = len(next(iter(new.values())).available)
    n = n_train + n_new
    available_new = np.stack([new[m].available for m in info.modalities], axis=1)
    data = HeteroData()
    store = data[PATIENT]
    for key, value in old.items():
        if key == "num_nodes":
            store.num_nodes = n
        elif key.startswith("x_") and key[2:] in new:
            store[key] = torch.cat([value, torch.from_numpy(new[key[2:]].x).to(value.dtype)])
        elif key == "available":
            store.available = torch.cat([value, torch.from_numpy(available_new)])
        elif key == "train_mask":
            store.train_mask = torch.cat([value, torch.zeros(n_new, dtype=torch.bool)])
        elif isinstance(value, torch.Tensor) and value.dim() > 0 and value.shape[0] == n_train:
            pad = torch.zeros((n_new, *value.shape[1:]), dtype=value.dtype)
            store[key] = torch.cat([value, pad])
        elif isinstance(value, list) and len(value) == n_train:
            store[key] = list(value) + list(patients or [""] * n_new)
        else:
            store[key] = value
    store.val_mask = torch.zeros(n, dtype=torch.bool)
    store.test_mask = torch.cat(
        [torch.zeros(n_train, dtype=torch.bool), torch.ones(n_new, dtype=torch.bool)]
    )
    for nt in train.node_types:
        if nt != PATIENT:
            for key, value in train[nt].items():
                data[nt][key] = value
    added: dict[tuple[str, str, str], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    avail_train = old.available.cpu().numpy()
    for j, m in enumerate(info.modalities):
        ref_rows = np.flatnonzero(avail_train[:, j])
        new_rows = np.flatnonzero(available_new[:, j])
        if len(new_rows) == 0 or len(ref_rows) == 0:
            continue
        ref_pos, new_pos, weight = builders[m].attach(new[m].x[new_rows])
        added[edge_type(m)] = (ref_rows[ref_pos], n_train + new_rows[new_pos], weight)
    if fused is not None:
        xs = {m: new[m].x for m in info.modalities}
        ref_pos, new_pos, weight = fused.attach(xs, available_new)
        added[FUSED_EDGE] = (ref_pos, n_train + new_pos, weight)
    for et in train.edge_types:
        for key, value in train[et].items():
            data[et][key] = value
    for et, (src, dst, weight) in added.items():
        _append(data[et], src, dst, weight, None)
    annotate(data, **_facts(info))
    if patients is not None and info.patients is not None:
        annotate(data, patients=list(info.patients) + list(patients))
    if knowledge is not None:
        for et, (src, dst, weight, attr) in attach_knowledge(
            data, np.arange(n_train, n), **knowledge
        ).items():
            _append(data[et], src, dst, weight, attr)
    return data


def _facts(info: Any) -> dict[str, Any]:
    """A :class:`GraphInfo`'s fields, not copied (:func:`dataclasses.asdict` copies them
    deeply, which costs more than attaching one patient)."""
    return {f.name: getattr(info, f.name) for f in fields(info)}


def _append(
    store: Any, src: np.ndarray, dst: np.ndarray, weight: np.ndarray, attr: np.ndarray | None
) -> None:
    """Append edges (and their weights, and ``edge_attr`` where the store has one)."""
    index = torch.from_numpy(np.stack([src, dst]).astype(np.int64))
    w = torch.from_numpy(np.asarray(weight, dtype=np.float32))
    if "edge_index" not in store:
        store.edge_index, store.edge_weight = index, w
        if attr is not None:
            store.edge_attr = torch.from_numpy(np.asarray(attr, dtype=np.float32)[:, None])
        return
    store.edge_index = torch.cat([store.edge_index, index], dim=1)
    if "edge_weight" in store:
        store.edge_weight = torch.cat([store.edge_weight, w.to(store.edge_weight.dtype)])
    if "edge_attr" in store:
        extra = attr if attr is not None else np.asarray(weight, dtype=np.float32)
        extra_t = torch.from_numpy(np.asarray(extra, dtype=np.float32)[:, None])
        store.edge_attr = torch.cat([store.edge_attr, extra_t.to(store.edge_attr.dtype)])
