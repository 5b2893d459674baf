"""The generic perturbation engines: rows of an edgeless graph, and copies of the graph.

An :class:`Engine` evaluates batches of (owner, rows) pairs — patient ``owner``'s output
with its own feature rows replaced — each pair independently of the others, exactly as
one full forward pass per pair would (:mod:`graphfuse.explain._perturb` chooses and checks
the engine). The two here work for any model: :class:`_RowEngine` for models whose output
for a patient depends on its own rows only, :class:`_CopiesEngine` for everything else.
A model whose encoders it can read incrementally has a faster one
(:mod:`graphfuse.explain._perturb_gcn`).
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import ClassVar

import numpy as np
import scipy.sparse as sp
import torch
from torch_geometric.data import HeteroData

from graphfuse.explain._base import ExplainContext, target_log_odds, with_features
from graphfuse.explain._reach import _conflicts, _sends
from graphfuse.graphs import PATIENT

__all__ = ["Engine", "NotApplicable", "Rows"]

Rows = Mapping[str, torch.Tensor]

#: Copies of the graph per forward pass of the ``copies`` engine: about this many rows.
_ROWS_PER_FORWARD = 16384
#: Engines must reproduce the reference to this (relative to ``1 + |output|``).
_TOLERANCE = 1e-4


class Engine(ABC):
    """Evaluates batches of (owner, rows) pairs; differentiable in the rows.

    Subclasses implement :meth:`outputs` for at most :attr:`batch` pairs, each pair
    evaluated independently of the others.
    """

    name: ClassVar[str]
    #: Pairs per call of :meth:`outputs` (memory bound).
    batch: int = 8192

    def __init__(self, ctx: ExplainContext) -> None:
        self.ctx = ctx
        self.base = ctx.features()

    @classmethod
    def supports(cls, model: torch.nn.Module) -> bool:
        """Whether this engine can evaluate ``model`` (a fast engine registered in
        ``FAST_PATHS`` says so from what the model declares); the generic engines are
        chosen by measurement instead. Default: ``False``."""
        return False

    #: Pairs per call of :meth:`replaced`.
    sparse_batch: int = 8192

    @abstractmethod
    def outputs(self, owners: torch.Tensor, rows: Rows) -> torch.Tensor:
        """``(B,)`` float64 outputs of ``owners`` with their rows replaced."""

    def replaced(
        self, owners: torch.Tensor, modality: str, columns: torch.Tensor, values: torch.Tensor
    ) -> torch.Tensor:
        """Outputs with one feature of one modality row replaced per pair."""
        x = self.base[modality]
        rows = x[owners]
        rows[torch.arange(len(owners), device=owners.device), columns] = values.to(x.dtype)
        return self.outputs(owners, {modality: rows})

    def paths(self, owner: int, background: Rows, entry: Rows, steps: int) -> torch.Tensor | None:
        """Outputs of ``owner`` along paths of coalitions, where an engine can do better
        than evaluating each coalition's rows (``None``: it cannot, evaluate the rows).

        Path ``j`` at step ``k`` (``0 <= k <= steps``): feature ``f`` of modality ``m``
        keeps the owner's own value when ``entry[m][j, f] < k`` and takes
        ``background[m][f]`` otherwise (``entry < 0``: always the owner's own value).
        Returns ``(paths, steps + 1)`` float64 outputs; SHAP's permutation sampling walks
        such paths.
        """
        return None

    def gradients(
        self, owners: torch.Tensor, rows: Rows
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Outputs and each one's gradient w.r.t. its own rows (pairs are independent,
        so the gradient of the sum is every pair's own)."""
        leaves = {m: r.detach().clone().requires_grad_(True) for m, r in rows.items()}
        with torch.enable_grad():
            out = self.outputs(owners, leaves)
            gs = torch.autograd.grad(out.sum(), list(leaves.values()), allow_unused=True)
        grads = {
            m: torch.zeros_like(leaf) if g is None else g
            for (m, leaf), g in zip(leaves.items(), gs, strict=True)
        }
        return out.detach(), grads

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class NotApplicable(Exception):
    """An engine cannot evaluate this model (the next one is tried)."""


class _RowEngine(Engine):
    """Models whose output for a patient depends on its own rows only: every pair is one
    row of an edgeless graph."""

    name = "rows"
    batch = 16384

    def __init__(self, ctx: ExplainContext) -> None:
        super().__init__(ctx)
        self.template = _edgeless(ctx.data)

    def outputs(self, owners: torch.Tensor, rows: Rows) -> torch.Tensor:
        data = _take(self.template, self.ctx.data, owners)
        feats = {m: x[owners] for m, x in self.base.items()}
        feats.update(_cast(rows, feats))
        logits = self.ctx.model(with_features(data, feats))
        return _pair_output(self.ctx, logits, owners)


class _CopiesEngine(Engine):
    """Any model: pairs packed into copies of the full graph (one disjoint union per
    forward pass), owners that cannot influence each other sharing a copy.

    ``sharing``: the receptive field (edge hops) that decides which owners conflict;
    ``"silent"``: only owners without outgoing edges (which reach no other patient)
    share copies; ``None``: every pair gets its own copy.
    """

    name = "copies"
    batch = 65536

    def __init__(
        self, ctx: ExplainContext, sharing: int | str | None, copies: int | None = None
    ) -> None:
        super().__init__(ctx)
        n = ctx.n_nodes
        self.colouring: Callable[[np.ndarray], np.ndarray] | None = None
        if isinstance(sharing, int):
            conflicts = _conflicts(ctx.data, n, sharing)
            self.colouring = lambda u: _greedy_colouring(conflicts[u][:, u].tocsr())
        elif sharing == "silent":
            sends = _sends(ctx.data, n)
            self.colouring = lambda u: np.where(sends[u], np.cumsum(sends[u]), 0)
        if copies is None:
            copies = 1
            if set(ctx.data.node_types) == {PATIENT}:
                copies = int(np.clip(_ROWS_PER_FORWARD // n, 1, 64))
        self.copies = copies
        self._graphs: dict[int, HeteroData] = {}
        if copies > 1 and not self._replication_exact():
            self.copies = 1

    def outputs(self, owners: torch.Tensor, rows: Rows) -> torch.Tensor:
        result = torch.zeros(len(owners), dtype=torch.float64, device=owners.device)
        for pairs, out in self._forwards(owners, rows):
            result = result.index_put((pairs,), out)
        return result

    def gradients(
        self, owners: torch.Tensor, rows: Rows
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        # one backward pass per forward pass, so memory holds one disjoint union only
        result = torch.zeros(len(owners), dtype=torch.float64, device=owners.device)
        grads = {m: torch.zeros_like(r) for m, r in rows.items()}
        for pairs, leaves, out in self._forwards(owners, rows, differentiate=True):
            gs = torch.autograd.grad(out.sum(), list(leaves.values()), allow_unused=True)
            result[pairs] = out.detach()
            for m, g in zip(leaves, gs, strict=True):
                if g is not None:
                    grads[m][pairs] = g.to(grads[m].dtype)
        return result, grads

    def _forwards(self, owners: torch.Tensor, rows: Rows, differentiate: bool = False):
        """Per forward pass: the pairs it evaluated, (their row leaves,) their outputs."""
        n = self.ctx.n_nodes
        slot = _schedule(owners.cpu().numpy(), self.colouring)
        slots = torch.as_tensor(slot, device=owners.device)
        order = np.argsort(slot, kind="stable")
        n_slots = int(slot.max()) + 1 if len(slot) else 0
        bounds = np.searchsorted(slot[order], np.arange(0, n_slots + self.copies, self.copies))
        for i, first in enumerate(range(0, n_slots, self.copies)):
            c = min(self.copies, n_slots - first)
            pairs = torch.as_tensor(order[bounds[i] : bounds[i + 1]], device=owners.device)
            where = (slots[pairs] - first) * n + owners[pairs]
            leaves = {m: r[pairs].to(self.base[m].dtype) for m, r in rows.items()}
            if differentiate:
                leaves = {m: r.detach().requires_grad_(True) for m, r in leaves.items()}
            with torch.set_grad_enabled(differentiate or torch.is_grad_enabled()):
                feats = {}
                for m, x in self.base.items():
                    big = x.repeat(c, 1)
                    if m in leaves:
                        big = big.index_put((where,), leaves[m])
                    feats[m] = big
                logits = self.ctx.model(with_features(self._graph(c), feats))
                out = self.ctx.output(logits.reshape(c, n, -1)).reshape(-1)[where].double()
            yield (pairs, leaves, out) if differentiate else (pairs, out)

    def _graph(self, c: int) -> HeteroData:
        if c not in self._graphs:
            self._graphs[c] = _replicate(self.ctx.data, c) if c > 1 else self.ctx.data
        return self._graphs[c]

    def _replication_exact(self) -> bool:
        c = min(self.copies, 3)
        n = self.ctx.n_nodes
        with torch.no_grad():
            one = self.ctx.output(self.ctx.forward(self.base)).double()
            feats = {m: x.repeat(c, 1) for m, x in self.base.items()}
            logits = self.ctx.model(with_features(self._graph(c), feats))
            many = self.ctx.output(logits.reshape(c, n, -1)).double()
        return _relative_error(many, one.expand(c, -1)) <= _TOLERANCE


def _schedule(
    owners: np.ndarray, colouring: Callable[[np.ndarray], np.ndarray] | None
) -> np.ndarray:
    """Copy (slot) of every pair: owners sharing a slot are distinct and of one colour
    (``colouring`` of the sorted distinct owners); without, every pair has its own slot."""
    b = len(owners)
    if colouring is None or b == 0:
        return np.arange(b)
    order = np.argsort(owners, kind="stable")
    sorted_owners = owners[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_owners)) + 1]
    counts = np.diff(np.r_[starts, b])
    rank = np.empty(b, dtype=np.int64)
    rank[order] = np.arange(b) - np.repeat(starts, counts)
    unique = sorted_owners[starts]
    colour = colouring(unique)
    span = np.zeros(colour.max() + 1, dtype=np.int64)
    np.maximum.at(span, colour, counts)
    offset = np.r_[0, np.cumsum(span)[:-1]]
    pair_colour = np.empty(b, dtype=np.int64)
    pair_colour[order] = np.repeat(colour, counts)
    return offset[pair_colour] + rank


def _greedy_colouring(graph: sp.csr_matrix) -> np.ndarray:
    """Colours of a graph's nodes, no edge joining two of one colour (Welsh-Powell)."""
    k = graph.shape[0]
    degree = np.diff(graph.indptr)
    colour = np.full(k, -1, dtype=np.int64)
    for node in np.argsort(-degree, kind="stable"):
        nbrs = graph.indices[graph.indptr[node] : graph.indptr[node + 1]]
        used = colour[nbrs]
        used = np.unique(used[used >= 0])
        free = np.flatnonzero(np.r_[used, -1] != np.arange(len(used) + 1))
        colour[node] = free[0]
    return colour


def _replicate(data: HeteroData, c: int) -> HeteroData:
    """``c`` disjoint copies of a patient-only graph, as one graph (copy ``i`` holds nodes
    ``i * n .. i * n + n - 1``)."""
    n = int(data[PATIENT].num_nodes)
    out = copy.copy(data)
    store = out[PATIENT]
    for key, value in data[PATIENT].items():
        if torch.is_tensor(value) and value.dim() >= 1 and value.shape[0] == n:
            store[key] = value.repeat(c, *([1] * (value.dim() - 1)))
    store.num_nodes = n * c
    for et in data.edge_types:
        src = data[et]
        e = src.edge_index.shape[1]
        for key, value in src.items():
            if key == "edge_index":
                shift = (torch.arange(c, device=value.device) * n).repeat_interleave(e)
                out[et].edge_index = value.repeat(1, c) + shift
            elif torch.is_tensor(value) and value.dim() >= 1 and value.shape[0] == e:
                out[et][key] = value.repeat(c, *([1] * (value.dim() - 1)))
    return out


def _edgeless(data: HeteroData) -> HeteroData:
    out = copy.copy(data)
    for et in data.edge_types:
        store = out[et]
        for key, value in data[et].items():
            if key == "edge_index":
                store.edge_index = value[:, :0]
            elif torch.is_tensor(value) and value.dim() >= 1:
                store[key] = value[:0]
    return out


def _take(template: HeteroData, data: HeteroData, nodes: torch.Tensor) -> HeteroData:
    """``template`` with the patient-level attributes of ``data`` restricted to ``nodes``."""
    n = int(data[PATIENT].num_nodes)
    out = copy.copy(template)
    store = out[PATIENT]
    for key, value in data[PATIENT].items():
        if torch.is_tensor(value) and value.dim() >= 1 and value.shape[0] == n:
            store[key] = value[nodes]
    store.num_nodes = len(nodes)
    return out


def _pair_output(ctx: ExplainContext, logits: torch.Tensor, owners: torch.Tensor) -> torch.Tensor:
    """:meth:`ExplainContext.output` of ``(B, outputs)`` model outputs, pair ``b``
    explaining ``owners[b]``'s target class."""
    return target_log_odds(logits.double(), ctx.target[owners])


def _cast(rows: Rows, like: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {m: r.to(like[m].dtype) for m, r in rows.items()}


def _relative_error(got: torch.Tensor, want: torch.Tensor) -> float:
    want = want.double()
    return float(((got.double() - want).abs() / (1 + want.abs())).max())
