"""Per-modality GCN encoders fused by a mean over the modalities each patient has."""

from __future__ import annotations

from typing import Any, Literal

import torch
from pydantic import Field
from torch import nn
from torch_geometric.data import HeteroData
from torch_geometric.nn import GCNConv
from torch_geometric.nn.conv.gcn_conv import gcn_norm

from graphfuse.errors import ConfigError
from graphfuse.graphs import FUSED_EDGE, PATIENT, edge_type, feature_key
from graphfuse.models._base import (
    MODELS,
    TORCH_TASKS,
    ModalityFusionModel,
    ModelParams,
    PropagationLayer,
)
from graphfuse.models._missing import MissingCompleter, MissingStrategy

__all__ = ["GCNFusion"]


class GCNFusionParams(ModelParams):
    hidden: int = Field(64, ge=1, le=4096)
    layers: int = Field(2, ge=1, le=8)
    """GCN layers per modality."""
    dropout: float = Field(0.5, ge=0.0, lt=1.0)
    root: bool = False
    """Add a separate linear map of each patient's own representation to every layer
    (``h' = GCN(h) + W_root h``, the root weight of GraphSAGE/GraphConv), so a patient's own
    features are not diluted by its neighbours' as in a plain GCN layer."""
    graph: Literal["modality", "fused"] = "modality"
    """Edges each modality's GCN convolves over: its own modality's graph, or the graph
    fused from all modalities (``graph.fused``, e.g. SNF) among the patients having it."""
    missing: MissingStrategy = "skip"
    """What stands in for a modality a patient lacks: nothing (``skip``), a learned
    per-modality embedding (``learned``) or the mean embedding of the patient's graph
    neighbours that have it (``neighbors``); see :mod:`graphfuse.models._missing`."""


@MODELS.register("gcn_fusion")
class GCNFusion(ModalityFusionModel):
    """One GCN per modality graph, mean-fused over available modalities, then an MLP head.

    Each modality ``m`` has its own stack of graph convolutions (Kipf & Welling, ICLR
    2017) on its patient-similarity graph, giving an embedding ``h_m`` per patient. A
    patient's fused embedding is the mean of ``h_m`` over the modalities it *has*
    (``data["patient"].available``): a missing modality contributes nothing — not a
    zero vector counted in the mean — and since such a patient has no edges in that
    modality's graph it cannot reach other patients through it either. With
    ``missing="learned"`` or ``"neighbors"`` the absent modality's embedding is instead
    stood in for (a learned embedding, or completed from graph neighbours having it) and
    counted in the mean.

    Parameters
    ----------
    in_dims
        Features per modality.
    n_classes
        Output classes.
    hidden, layers, dropout, root, graph, missing
        See :class:`GCNFusionParams`.

    Examples
    --------
    >>> model = GCNFusion({"expression": 100, "imaging": 20}, 2, hidden=16)
    >>> model.spec()["params"]["hidden"]
    16
    """

    Params = GCNFusionParams
    tasks = TORCH_TASKS

    def __init__(self, in_dims: dict[str, int], n_classes: int, **params: Any) -> None:
        super().__init__(in_dims, n_classes, **params)
        p = self.params
        self.encoders = nn.ModuleDict(
            {
                m: nn.ModuleList(
                    [GCNConv(d if i == 0 else p.hidden, p.hidden) for i in range(p.layers)]
                )
                for m, d in self.in_dims.items()
            }
        )
        self.roots = nn.ModuleDict(
            {
                m: nn.ModuleList(
                    [
                        nn.Linear(d if i == 0 else p.hidden, p.hidden, bias=False)
                        for i in range(p.layers)
                    ]
                )
                for m, d in self.in_dims.items()
                if p.root
            }
        )
        self.dropout = nn.Dropout(p.dropout)
        self.head = nn.Sequential(
            nn.Linear(p.hidden, p.hidden),
            nn.ReLU(),
            nn.Dropout(p.dropout),
            nn.Linear(p.hidden, n_classes),
        )
        self.completer = MissingCompleter(self.modalities, p.hidden, p.missing)

    def embed(self, data: HeteroData) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-modality embeddings ``(patients, modalities, hidden)`` and the availability mask.

        Rows of patients lacking a modality are zero in that modality's slot.
        """
        store = data[PATIENT]
        order = list(data.modalities)
        available = store.available
        out = []
        for m, convs in self.encoders.items():
            have = available[:, order.index(m)]
            # rows of patients without the modality hold NaN: zero them so they cannot
            # poison anything; their outputs are discarded below and they have no edges
            h = torch.where(have[:, None], store[feature_key(m)], 0.0)
            edge_index, edge_weight = self._edges(data, m, have)
            for i, conv in enumerate(convs):
                z = conv(h, edge_index, edge_weight)
                if self.params.root:
                    z = z + self.roots[m][i](h)
                h = self.dropout(torch.relu(z))
            out.append(h * have[:, None])
        mask = torch.stack([available[:, order.index(m)] for m in self.encoders], dim=1)
        return torch.stack(out, dim=1), mask

    def _edges(
        self, data: HeteroData, modality: str, have: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if self.params.graph == "modality":
            edges = data[edge_type(modality)]
            return edges.edge_index, edges.edge_weight
        if FUSED_EDGE not in data.edge_types:
            raise ConfigError(
                "gcn_fusion with graph: fused needs a fused graph; add one to the graph "
                "section, e.g. graph: {name: knn, fused: {name: snf}}"
            )
        edges = data[FUSED_EDGE]
        # only patients that have the modality exchange messages about it
        keep = have[edges.edge_index[0]] & have[edges.edge_index[1]]
        return edges.edge_index[:, keep], edges.edge_weight[keep]

    def complete(
        self, h: torch.Tensor, mask: torch.Tensor, data: HeteroData
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The ``missing`` strategy's stand-ins (:class:`~graphfuse.models.MissingCompleter`)."""
        return self.completer(h, mask, data)

    def fuse(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The mean over the filled slots, then the head."""
        return self.head(h.sum(dim=1) / mask.sum(dim=1, keepdim=True).clamp(min=1))

    def propagation(self, data: HeteroData, modality: str) -> list[PropagationLayer] | None:
        """Each ``GCNConv`` layer as ``relu(A (h W^T) + b [+ h R^T])`` with the propagation
        matrix ``A`` it computes (``gcn_norm`` of the modality's edges); ``None`` for a
        convolution with other settings than the defaults this reads (flow, sum
        aggregation, no caching)."""
        store = data[PATIENT]
        have = store.available[:, list(data.modalities).index(modality)]
        edge_index, edge_weight = self._edges(data, modality, have)
        n = len(have)
        layers, matrices = [], {}
        for i, conv in enumerate(self.encoders[modality]):
            if type(conv) is not GCNConv or conv.flow != "source_to_target":
                return None
            if conv.aggr != "add" or conv.cached:
                return None
            key = (conv.normalize, conv.improved, conv.add_self_loops)
            if key not in matrices:
                ew = (
                    torch.ones(edge_index.shape[1], device=edge_index.device)
                    if edge_weight is None
                    else edge_weight
                )
                ei, ew = edge_index, ew.to(torch.float32)
                if conv.normalize:
                    ei, ew = gcn_norm(
                        ei, ew, n, conv.improved, conv.add_self_loops, conv.flow, torch.float32
                    )
                matrices[key] = (ei, ew)
            root = self.roots[modality][i].weight if self.params.root else None
            layers.append(
                PropagationLayer(
                    *matrices[key], conv.lin.weight, conv.bias, root, activation=torch.relu
                )
            )
        return layers
