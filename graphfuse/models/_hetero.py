"""A relation-aware heterogeneous GNN on a knowledge-graph heterograph."""

from __future__ import annotations

import warnings
from typing import Any, Literal

import torch
from pydantic import Field
from torch import nn
from torch_geometric.data import HeteroData
from torch_geometric.nn import HeteroConv, MessagePassing, SAGEConv

from graphfuse.errors import ConfigError, DataError
from graphfuse.graphs import PATIENT, feature_key
from graphfuse.models._base import MODELS, TORCH_TASKS, FusionModel, ModelParams

__all__ = ["HeteroGNN", "knowledge_schema"]

#: Node types of variable nodes (one node per feature of a clinical / imaging modality).
_VARIABLE_KINDS = {"clinical": "clinical_variable", "imaging": "imaging_region"}


class HeteroParams(ModelParams):
    hidden: int = Field(64, ge=1, le=4096)
    layers: int = Field(2, ge=1, le=6)
    """Message-passing layers (hops across the heterograph)."""
    dropout: float = Field(0.5, ge=0.0, lt=1.0)
    conv: Literal["graph", "sage"] = "graph"
    """Per-relation convolution: ``graph`` (as GraphConv, Morris et al. AAAI 2019, with a mean:
    ``W_rel mean_j(w_ij h_j) + W_root h_i``, messages scaled by the edge value) or ``sage``
    (SAGEConv, Hamilton et al. NeurIPS 2017; ignores edge values)."""
    edge_values: Literal["signed", "weight", "none"] = "signed"
    """Edge value scaling each message (``graph`` only): ``signed`` the edge's signed value
    (``edge_weight`` times the sign of ``edge_attr``: a patient's z-score of a gene, its
    value of a clinical variable) where it has one, else its weight; ``weight`` the
    non-negative ``edge_weight``; ``none`` 1."""
    patient_edges: bool = True
    """Use the patient-similarity edges too (else only the knowledge edges)."""
    residual: bool = True
    """Add each node's previous representation to its new one (from layer 2 on)."""
    root: bool = True
    """Each relation also maps the receiving node's own representation (GraphConv's and
    SAGE's root weight); ``false``: a node is updated from its neighbours' messages only
    (with ``residual``, its own representation is still carried from layer 2 on)."""


def knowledge_schema(data: HeteroData) -> dict[str, Any]:
    """What a :class:`HeteroGNN` is sized by besides feature sizes (JSON-ready).

    ``nodes``: node type -> count for every type but ``patient`` (they have learned
    embeddings); ``relations``: every edge type as ``[source, relation, target]``;
    ``variables``: variable node type -> ``[[modality, n_features], ...]`` in node order
    (which modality a clinical-variable or imaging-region node belongs to).
    """
    kinds = dict(data.kinds)
    variables = {}
    for kind, node_type in _VARIABLE_KINDS.items():
        if node_type in data.node_types:
            mods = [m for m in data.modalities if kinds[m] == kind]
            variables[node_type] = [[m, len(data.feature_names[m])] for m in mods]
    return {
        "nodes": {nt: int(data[nt].num_nodes) for nt in data.node_types if nt != PATIENT},
        "relations": [list(et) for et in data.edge_types],
        "variables": variables,
    }


@MODELS.register("hetero")
class HeteroGNN(FusionModel):
    """Relation-aware message passing over patients, genes, gene sets and variables.

    Reads a knowledge-graph heterograph (:func:`graphfuse.graphs.build_knowledge_graph`)
    and predicts on its patient nodes. Every edge type has its own convolution per layer
    (``HeteroConv``; one relation, one weight matrix, as in R-GCN, Schlichtkrull et al.
    ESWC 2018), and a node sums what its relations bring.

    Inputs: a patient starts from ``sum_m have_m * W_m x_m + W_a a`` — a linear map of each
    modality it *has* (an absent modality's block contributes nothing, whatever its rows
    hold) plus a map of its availability flags ``a``. Genes, gene sets, clinical variables
    and imaging regions have no features: they start from learned embeddings.

    Missing modalities: the availability mask (``data["patient"].available``, also as
    changed by training-time modality dropout) is honoured on the edges too — an edge
    tied to a modality (``similar_<m>``, ``<m>_gene``, ``has_value`` of an ``m`` variable,
    and their reverses) carries no message for a patient lacking ``m``. By construction
    such a patient has none of those edges anyway. Held-out patients only receive
    messages in the inductive graphs, so the model cannot leak them into training.

    Explainers that perturb ``data["patient"].x_<m>`` see the patient's own-feature path
    only: the patient-gene and patient-variable edges hold values fixed when the graph
    was built.

    Parameters
    ----------
    in_dims
        Features per modality.
    n_classes
        Outputs (1 for a survival risk score).
    schema
        The graph's node counts and relations (:func:`knowledge_schema`);
        :func:`~graphfuse.models.build_model` fills it in from the graph, and it is part
        of :meth:`spec`, so a checkpoint rebuilds the same model.
    hidden, layers, dropout, conv, edge_values, patient_edges, residual
        See :class:`HeteroParams`.

    Examples
    --------
    >>> from graphfuse.data import make_synthetic_cohort, Preprocessor, GeneSets
    >>> from graphfuse.graphs import KNNBuilder, build_patient_graph, build_knowledge_graph
    >>> from graphfuse.models import build_model
    >>> from graphfuse.train import stratified_split
    >>> c = make_synthetic_cohort(30, n_genes=60, n_pathways=6, n_regions=10, seed=0)
    >>> s = stratified_split(c.y, val_fraction=0.2, test_fraction=0.2, seed=0)
    >>> base = build_patient_graph(
    ...     Preprocessor().fit(c, s["train"]).transform(c), c.y, s, KNNBuilder(k=3))
    >>> kg = build_knowledge_graph(base, feature_genes=c.feature_genes(),
    ...                            gene_sets={"pathway": GeneSets.from_cohort(c)}, top_genes=10)
    >>> model = build_model("hetero", kg, 2, hidden=16)
    >>> model(kg).shape, model.spec()["graph_args"]["schema"]["nodes"]["pathway"]
    (torch.Size([30, 2]), 6)
    """

    Params = HeteroParams
    tasks = TORCH_TASKS
    graph_kind = "knowledge"

    def __init__(
        self,
        in_dims: dict[str, int],
        n_classes: int,
        *,
        schema: dict[str, Any] | None = None,
        **params: Any,
    ) -> None:
        super().__init__(in_dims, n_classes, **params)
        if schema is None:
            raise ConfigError(
                "model 'hetero' is sized by its knowledge graph: build it with "
                "graphfuse.models.build_model('hetero', data, ...) on a knowledge graph"
            )
        self.schema = schema
        p = self.params
        self.relations = [
            tuple(r)
            for r in schema["relations"]
            if p.patient_edges or not (r[0] == PATIENT and r[2] == PATIENT)
        ]
        # per layer, only relations whose messages can still reach a patient by the end
        needed, per_layer = {PATIENT}, []
        for _ in range(p.layers):
            kept = [r for r in self.relations if r[2] in needed]
            per_layer.insert(0, kept)
            needed = needed | {r[0] for r in kept}
        self.inputs = nn.ModuleDict({m: nn.Linear(d, p.hidden) for m, d in in_dims.items()})
        self.flags = nn.Linear(len(in_dims), p.hidden)
        self.embeddings = nn.ModuleDict(
            {nt: nn.Embedding(n, p.hidden) for nt, n in schema["nodes"].items() if nt in needed}
        )
        with warnings.catch_warnings():  # later layers update fewer node types, on purpose
            warnings.filterwarnings("ignore", "There exist node types", UserWarning)
            self.convs = nn.ModuleList(
                [HeteroConv({r: self._conv() for r in kept}, aggr="sum") for kept in per_layer]
            )
        self.dropout = nn.Dropout(p.dropout)
        self.head = nn.Sequential(
            nn.Linear(p.hidden, p.hidden),
            nn.ReLU(),
            nn.Dropout(p.dropout),
            nn.Linear(p.hidden, n_classes),
        )
        for nt, blocks in schema.get("variables", {}).items():
            owner = [self.modalities.index(m) for m, n in blocks for _ in range(n)]
            self.register_buffer(f"_owner_{nt}", torch.tensor(owner, dtype=torch.long))

    @classmethod
    def graph_args(cls, data: HeteroData) -> dict[str, Any]:
        return {"schema": knowledge_schema(data)}

    def spec(self) -> dict[str, Any]:
        return super().spec() | {"graph_args": {"schema": self.schema}}

    def _conv(self) -> nn.Module:
        h, root = self.params.hidden, self.params.root
        if self.params.conv == "sage":
            return SAGEConv((h, h), h, root_weight=root)
        return _RelationConv(h, root)

    # ------------------------------------------------------------------ forward
    def forward(self, data: HeteroData) -> torch.Tensor:
        return self.head(self.patient_embedding(data))

    def patient_embedding(self, data: HeteroData) -> torch.Tensor:
        """The patient nodes' representations after the last message-passing layer (what
        the output layer reads), ``(n_patients, hidden)``."""
        self._check(data)
        store = data[PATIENT]
        order = list(data.modalities)
        available = torch.stack([store.available[:, order.index(m)] for m in self.in_dims], 1)
        h_patient = self.flags(available.float())
        for i, (m, lin) in enumerate(self.inputs.items()):
            have = available[:, i, None]
            x = torch.where(have, store[feature_key(m)], 0.0)  # absent rows may hold NaN
            h_patient = h_patient + lin(x) * have
        h = {PATIENT: h_patient}
        h |= {nt: emb.weight for nt, emb in self.embeddings.items()}
        h = {nt: self.dropout(torch.relu(x)) for nt, x in h.items()}
        edges, values = self._edges(data, available)
        for i, conv in enumerate(self.convs):
            kwargs = {"edge_weight_dict": values} if self.params.conv == "graph" else {}
            out = conv(h, edges, **kwargs)
            new = {}
            for nt, x in h.items():
                z = out.get(nt)
                if z is None:  # receives no relation: keeps its representation
                    new[nt] = x
                    continue
                z = torch.relu(z)
                new[nt] = self.dropout(z + x if self.params.residual and i > 0 else z)
            h = new
        return h[PATIENT]

    def _check(self, data: HeteroData) -> None:
        for nt, n in self.schema["nodes"].items():
            got = int(data[nt].num_nodes) if nt in data.node_types else None
            if got != n:
                raise DataError(
                    f"model 'hetero' was built for a knowledge graph with {n} {nt!r} nodes; "
                    f"this graph has {got if got is not None else 'no'} {nt!r} nodes"
                )

    def _edges(
        self, data: HeteroData, available: torch.Tensor
    ) -> tuple[dict[tuple, torch.Tensor], dict[tuple, torch.Tensor]]:
        """Edge indices and message scales per relation, edges of modalities a patient
        lacks (per ``available``) removed."""
        edges, values = {}, {}
        used = {r for conv in self.convs for r in conv.convs.keys()}
        for et in self.relations:
            if et not in used:
                continue
            if et not in data.edge_types:
                raise DataError(f"model 'hetero' needs edge type {et}; the graph has none")
            store = data[et]
            index = store.edge_index
            value = self._value(store, index.shape[1])
            keep = self._keep(et, index, available)
            if keep is not None:
                index, value = index[:, keep], value[keep]
            edges[et], values[et] = index, value
        return edges, values

    def _value(self, store: Any, n: int) -> torch.Tensor:
        mode = self.params.edge_values
        if mode != "none" and "edge_weight" in store:
            weight = store.edge_weight.float()
            if mode == "signed" and "edge_attr" in store:
                # = edge_attr, as weight = |attr|; read through the weight so that scaling
                # edge_weight (graph masking explainers) scales the message
                weight = weight * torch.sign(store.edge_attr[:, 0]).float()
            return weight
        return torch.ones(n, device=store.edge_index.device)

    def _keep(
        self, et: tuple[str, str, str], index: torch.Tensor, available: torch.Tensor
    ) -> torch.Tensor | None:
        """Which edges a patient endpoint's availability allows (``None``: all)."""
        src, rel, dst = et
        mods = self.modalities
        keep = None
        for side, node_type in ((0, src), (1, dst)):
            if node_type != PATIENT:
                continue
            base = rel.removeprefix("rev_")
            if base.startswith("similar_") and base[len("similar_") :] in mods:
                column = available[:, mods.index(base[len("similar_") :])][index[side]]
            elif base.endswith("_gene") and base[: -len("_gene")] in mods:
                column = available[:, mods.index(base[: -len("_gene")])][index[side]]
            elif base == "has_value":
                other = dst if side == 0 else src
                owner = getattr(self, f"_owner_{other}", None)
                if owner is None:
                    continue
                column = available[index[side], owner[index[1 - side]]]
            else:
                continue
            keep = column if keep is None else keep & column
        return keep


class _RelationConv(MessagePassing):
    """One relation's messages: ``W_rel mean_j(w_ij h_j) (+ W_root h_i)`` (GraphConv with a
    mean and an optional root map)."""

    def __init__(self, hidden: int, root: bool) -> None:
        super().__init__(aggr="mean")
        self.lin_rel = nn.Linear(hidden, hidden)
        self.lin_root = nn.Linear(hidden, hidden, bias=False) if root else None

    def forward(
        self,
        x: torch.Tensor | tuple[torch.Tensor, torch.Tensor],
        edge_index: torch.Tensor,
        edge_weight: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if isinstance(x, torch.Tensor):  # HeteroConv passes one tensor when src == dst type
            x = (x, x)
        out = self.propagate(edge_index, x=x, edge_weight=edge_weight)
        out = self.lin_rel(out)
        return out if self.lin_root is None else out + self.lin_root(x[1])

    def message(self, x_j: torch.Tensor, edge_weight: torch.Tensor | None) -> torch.Tensor:
        return x_j if edge_weight is None else edge_weight[:, None] * x_j
