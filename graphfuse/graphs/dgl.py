"""The one converter between graphfuse's ``HeteroData`` and DGL (optional backend).

Install with ``pip install 'graphfuse[dgl]'`` (``dgl==1.1.3`` imports beside torch 2.x CPU
builds; DGL 2.x needs its graphbolt library). The converter is written here rather than
taken from ``torch_geometric.utils.from_dgl``/``to_dgl`` because those mishandle features
of heterogeneous edges.

What is carried: node counts per type; every tensor attribute of a node type whose first
dimension is the node count (features ``x_<modality>``, ``y``, masks, ``available``); every
tensor attribute of an edge type whose first dimension is the edge count (``edge_weight``,
``edge_attr``). Python-level attributes (``node_names``, ``modalities``, ``feature_names``,
...) have no place in a DGL graph: :func:`from_dgl` takes them back from a ``like`` graph.
"""

from __future__ import annotations

import copy
import os
from typing import Any

import torch
from torch_geometric.data import HeteroData

from graphfuse.errors import GraphfuseError

__all__ = ["from_dgl", "to_dgl"]


def _dgl() -> Any:
    os.environ.setdefault("DGLBACKEND", "pytorch")
    try:
        import dgl
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise GraphfuseError(
            "the DGL backend is optional: install it with pip install 'graphfuse[dgl]' "
            f"(dgl==1.1.3) — import failed: {exc}"
        ) from None
    return dgl


def to_dgl(data: HeteroData) -> Any:
    """Convert a graphfuse ``HeteroData`` to a ``dgl.DGLGraph`` (heterogeneous).

    Parameters
    ----------
    data
        A patient graph or knowledge graph.

    Returns
    -------
    dgl.DGLGraph
        Same node types and counts, same canonical edge types and edges (in order), node
        data ``g.nodes[t].data`` and edge data ``g.edges[et].data`` holding the tensors.

    Examples
    --------
    >>> g = to_dgl(data)  # doctest: +SKIP
    >>> g.edges[("patient", "similar_expression", "patient")].data["edge_weight"]  # doctest: +SKIP
    """
    dgl = _dgl()
    edges = {}
    for et in data.edge_types:
        ei = data[et].edge_index
        edges[et] = (ei[0], ei[1])
    num_nodes = {nt: data[nt].num_nodes for nt in data.node_types}
    g = dgl.heterograph(edges, num_nodes_dict=num_nodes, idtype=torch.int64)
    for nt in data.node_types:
        n = num_nodes[nt]
        for key, value in data[nt].items():
            if torch.is_tensor(value) and value.dim() >= 1 and value.shape[0] == n:
                g.nodes[nt].data[key] = value
    for et in data.edge_types:
        store = data[et]
        m = store.edge_index.shape[1]
        for key, value in store.items():
            if key != "edge_index" and torch.is_tensor(value) and value.shape[:1] == (m,):
                g.edges[et].data[key] = value
    return g


def from_dgl(graph: Any, like: HeteroData | None = None) -> HeteroData:
    """Convert a DGL heterograph back to ``HeteroData``.

    Parameters
    ----------
    graph
        A ``dgl.DGLGraph``.
    like
        The graph it was made from, whose Python-level attributes (``node_names``,
        ``modalities``, ``feature_names``, ``kinds``, ...) are copied over.
    """
    _dgl()
    data = HeteroData()
    for nt in graph.ntypes:
        data[nt].num_nodes = graph.num_nodes(nt)
        for key, value in graph.nodes[nt].data.items():
            data[nt][key] = value
    for et in graph.canonical_etypes:
        src, dst = graph.edges(etype=et, order="eid")
        data[et].edge_index = torch.stack([src, dst]).to(torch.long)
        for key, value in graph.edges[et].data.items():
            data[et][key] = value
    if like is not None:
        for key, value in like.to_dict().get("_global_store", {}).items():
            if not torch.is_tensor(value):
                setattr(data, key, copy.deepcopy(value))
        for nt in like.node_types:
            for key, value in like[nt].items():
                if not torch.is_tensor(value) and key not in data[nt]:
                    data[nt][key] = copy.deepcopy(value)
    return data
