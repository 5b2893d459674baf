"""Outputs of patients whose own features are replaced, everything else held fixed.

The shared engine of perturbation explainers (sensitivity, SHAP) and of per-patient
gradients (saliency, integrated gradients): "what would patient ``p``'s output be if its
feature rows were these?", for many (patient, rows) pairs at once, **exactly** — equal to
one full-graph forward pass per pair (:func:`_reference_outputs`), only batched.

How a model is evaluated (:func:`perturbation_engine` picks, once per explanation):

``fast path``
    A model family may register an exact incremental engine (:func:`register_fast_path`;
    ``gcn_fusion``, ``attention`` and ``mogonet`` have one,
    :mod:`graphfuse.explain._perturb_gcn`): a changed row only changes a few nodes'
    hidden states, updated from precomputed layer states.
``rows``
    Models whose output for a patient depends on its own rows only (the graph-free
    baselines): all pairs are evaluated as the rows of one edgeless graph.
``copies``
    Any other model: pairs are packed into copies of the full graph, batched as one
    disjoint-union graph per forward pass. Pairs share a copy when their owners cannot
    influence each other's outputs: if the model declares a ``receptive_field`` of ``r``
    edge hops, owners not within ``r`` hops of each other (a greedy colouring of that
    conflict graph); otherwise owners that send no messages — in the default inductive
    graphs, every held-out patient.

Every engine is checked when it is built: it must reproduce the model's own outputs and
a few random pairs of the reference loop, else the next one is used (with a warning).
Whether outputs depend on own rows only, on neighbours within some hops, or globally is
measured (:func:`dependency_radius`); a declared ``receptive_field`` that the measurement
contradicts is ignored.

Since every engine evaluates each pair independently of the others in its batch, the
gradient of the sum of a batch's outputs with respect to the replacement rows is each
pair's own gradient (:func:`own_row_gradients`); saliency and integrated gradients use it.
"""

from __future__ import annotations

import copy
import warnings
import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import ClassVar

import numpy as np
import scipy.sparse as sp
import torch
from scipy.sparse.csgraph import dijkstra
from torch_geometric.data import HeteroData

from graphfuse.errors import DataError
from graphfuse.explain._base import ExplainContext, with_features
from graphfuse.graphs import PATIENT, feature_key

__all__ = [
    "FAST_PATHS",
    "Engine",
    "own_row_gradients",
    "perturbation_engine",
    "perturbed_outputs",
    "register_fast_path",
    "replaced_outputs",
]

Rows = Mapping[str, torch.Tensor]

#: Copies of the graph per forward pass of the ``copies`` engine: about this many rows.
_ROWS_PER_FORWARD = 16384
#: An output moved when it changed by more than this (relative to ``1 + |output|``).
_MOVED = 1e-6
#: Engines must reproduce the reference to this (relative to ``1 + |output|``).
_TOLERANCE = 1e-4


# --------------------------------------------------------------------------- public


@torch.no_grad()
def perturbed_outputs(
    ctx: ExplainContext,
    owners: torch.Tensor,
    rows: Rows,
) -> torch.Tensor:
    """Explained output of patient ``owners[b]`` with its own features set to ``rows[m][b]``.

    Everything else — the graph, every other patient's features — is held fixed. Exact:
    equal (to float rounding) to one full-graph forward pass per pair, but batched
    (see the module docstring for how).

    Parameters
    ----------
    ctx
        The explanation context (model, graph, targets).
    owners
        ``(B,)`` node positions; a patient may appear many times.
    rows
        ``modality -> (B, features)`` replacement rows (a modality left out keeps the
        patient's own row). Rows of a modality the patient lacks have no effect.

    Returns
    -------
    torch.Tensor
        ``(B,)`` float64 explained outputs (:meth:`ExplainContext.output`).
    """
    engine = perturbation_engine(ctx)
    owners_t, rows_t = _check(ctx, owners, rows)
    parts = [
        engine.outputs(owners_t[s], {m: r[s] for m, r in rows_t.items()})
        for s in _slices(len(owners_t), engine.batch)
    ]
    return torch.cat(parts) if parts else torch.zeros(0, dtype=torch.float64)


@torch.no_grad()
def replaced_outputs(
    ctx: ExplainContext,
    owners: torch.Tensor,
    modality: str,
    columns: torch.Tensor,
    values: torch.Tensor,
) -> torch.Tensor:
    """Output of patient ``owners[b]`` with feature ``columns[b]`` of its ``modality`` row
    set to ``values[b]`` — :func:`perturbed_outputs` for single-feature changes, without
    building the rows (engines that can skip them do).

    Returns
    -------
    torch.Tensor
        ``(B,)`` float64 explained outputs.
    """
    engine = perturbation_engine(ctx)
    owners_t, _ = _check(ctx, owners, {})
    if modality not in ctx.modalities:
        raise DataError(f"unknown modality {modality!r}; the model has {', '.join(ctx.modalities)}")
    columns = torch.as_tensor(columns, dtype=torch.long).reshape(-1)
    values = torch.as_tensor(values).reshape(-1)
    if not len(columns) == len(values) == len(owners_t):
        raise DataError("replaced_outputs: owners, columns and values differ in length")
    parts = [
        engine.replaced(owners_t[s], modality, columns[s], values[s])
        for s in _slices(len(owners_t), engine.sparse_batch)
    ]
    return torch.cat(parts) if parts else torch.zeros(0, dtype=torch.float64)


def own_row_gradients(
    ctx: ExplainContext,
    owners: torch.Tensor,
    rows: Rows,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Outputs as :func:`perturbed_outputs` and each output's gradient w.r.t. its own rows.

    ``grads[m][b]`` is the derivative of patient ``owners[b]``'s output with respect to
    its modality-``m`` row, evaluated where that row is ``rows[m][b]`` — exact per
    patient (not the gradient of a sum of outputs, which mixes neighbouring patients).

    Returns
    -------
    tuple
        ``(B,)`` float64 outputs and ``modality -> (B, features)`` gradients, for the
        modalities in ``rows``.
    """
    engine = perturbation_engine(ctx)
    owners_t, rows_t = _check(ctx, owners, rows)
    outs, grads = [], {m: [] for m in rows_t}
    for s in _slices(len(owners_t), engine.batch):
        out, gs = engine.gradients(owners_t[s], {m: r[s] for m, r in rows_t.items()})
        outs.append(out)
        for m, g in gs.items():
            grads[m].append(g)
    out_all = torch.cat(outs) if outs else torch.zeros(0, dtype=torch.float64)
    return out_all, {m: torch.cat(g) for m, g in grads.items()}


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
        rows[torch.arange(len(owners)), columns] = values.to(x.dtype)
        return self.outputs(owners, {modality: rows})

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


#: Model registry name -> factory of an exact fast engine for it (may raise
#: :class:`NotApplicable` when a model instance's settings are outside what it handles).
FAST_PATHS: dict[str, Callable[[ExplainContext], Engine]] = {}


class NotApplicable(Exception):
    """An engine cannot evaluate this model (the next one is tried)."""


def register_fast_path(
    model_name: str,
) -> Callable[[Callable[[ExplainContext], Engine]], Callable[[ExplainContext], Engine]]:
    """Decorator registering an exact fast engine factory for the model ``model_name``."""

    def decorator(factory: Callable[[ExplainContext], Engine]) -> Callable:
        if model_name in FAST_PATHS:
            raise ValueError(f"a fast perturbation path for {model_name!r} is already registered")
        FAST_PATHS[model_name] = factory
        return factory

    return decorator


_ENGINES: weakref.WeakKeyDictionary[ExplainContext, Engine] = weakref.WeakKeyDictionary()


def perturbation_engine(ctx: ExplainContext) -> Engine:
    """The engine evaluating ``ctx``'s perturbations (built and checked once per context)."""
    engine = _ENGINES.get(ctx)
    if engine is None:
        engine = _ENGINES[ctx] = _choose(ctx)
    return engine


# -------------------------------------------------------------------- choosing


def _choose(ctx: ExplainContext) -> Engine:
    name = getattr(ctx.model, "registry_name", type(ctx.model).__name__)
    if name in FAST_PATHS:
        engine = _checked(ctx, name, lambda: FAST_PATHS[name](ctx))
        if engine is not None:
            return engine
    measured = dependency_radius(ctx)
    if measured == 0:
        engine = _checked(ctx, name, lambda: _RowEngine(ctx))
        if engine is not None:
            return engine
    declared = getattr(ctx.model, "receptive_field", None)
    if measured is None:
        sharing: int | str | None = None
    elif declared is not None and measured <= int(declared):
        sharing = int(declared)
    else:
        sharing = "silent"
    engine = _checked(ctx, name, lambda: _CopiesEngine(ctx, sharing))
    return engine if engine is not None else _CopiesEngine(ctx, None, copies=1)


def _checked(ctx: ExplainContext, name: str, make: Callable[[], Engine]) -> Engine | None:
    try:
        engine = make()
    except NotApplicable:
        return None
    problem = _verify(ctx, engine)
    if problem is None:
        return engine
    warnings.warn(
        f"perturbation engine {engine.name!r} disagrees with model {name!r} ({problem}); "
        "falling back to a slower exact engine",
        RuntimeWarning,
        stacklevel=4,
    )
    return None


def _verify(ctx: ExplainContext, engine: Engine) -> str | None:
    """Why ``engine`` is not exact for ``ctx`` (``None``: it reproduced every check)."""
    n = ctx.n_nodes
    gen = torch.Generator().manual_seed(20240917)
    with torch.no_grad():
        base = ctx.output(ctx.forward(engine.base)).double()
        nodes = torch.randperm(n, generator=gen)[: min(n, 256)]
        own = {m: x[nodes] for m, x in engine.base.items()}
        got = engine.outputs(nodes, own)
        err = _relative_error(got, base[nodes])
        if err > _TOLERANCE:
            return f"unperturbed outputs differ by {err:.2g}"
        # random pairs, a patient twice, rows taken from other patients plus noise
        k = min(n, 6)
        owners = torch.randperm(n, generator=gen)[:k]
        owners = torch.cat([owners, owners[:1]])
        rows = {}
        for m, x in engine.base.items():
            donors = torch.randint(0, n, (len(owners),), generator=gen)
            noise = torch.randn(len(owners), x.shape[1], generator=gen, dtype=x.dtype)
            rows[m] = x[donors] + 0.5 * noise
        got = engine.outputs(owners, rows)
        want = _reference_outputs(ctx, owners, rows)
    err = _relative_error(got, want)
    if err > _TOLERANCE:
        return f"perturbed outputs differ from the reference by {err:.2g}"
    return None


def _relative_error(got: torch.Tensor, want: torch.Tensor) -> float:
    want = want.double()
    return float(((got.double() - want).abs() / (1 + want.abs())).max())


def dependency_radius(ctx: ExplainContext) -> int | None:
    """Measured edge hops over which a patient's rows move other patients' outputs.

    Random rows of single patients and of random patient sets are perturbed; the
    radius is the most hops over which an output moved (0: outputs depend on own rows
    only). ``None`` when an output moved with no path from the perturbed patients
    (global dependence) or the graph has other node types. A measurement can miss a
    longer reach that no probe exercised, so :class:`_CopiesEngine` relies on it only
    to refute a model's declared ``receptive_field``.
    """
    data = ctx.data
    if set(data.node_types) != {PATIENT}:
        return None  # messages may pass through other node types
    n = ctx.n_nodes
    adjacency = _adjacency(data, n)
    senders = np.flatnonzero(np.diff(adjacency.indptr) > 0)
    feats = ctx.features()
    gen = torch.Generator().manual_seed(7)
    scale = {m: x.std(dim=0, keepdim=True).nan_to_num(0.0) + 0.1 for m, x in feats.items()}
    probes = []
    for _ in range(min(4, len(senders))):
        probes.append(senders[torch.randint(0, len(senders), (1,), generator=gen).numpy()])
    for fraction in (0.05, 0.2, 0.5):
        probes.append(torch.randperm(n, generator=gen)[: max(1, round(fraction * n))].numpy())
    needed = 0
    with torch.no_grad():
        base = ctx.output(ctx.forward(feats))
        for chosen in probes:
            noisy = {}
            for m, x in feats.items():
                x = x.clone()
                noise = torch.randn(len(chosen), x.shape[1], generator=gen, dtype=x.dtype)
                x[chosen] += noise * scale[m]
                noisy[m] = x
            out = ctx.output(ctx.forward(noisy))
            moved = ((out - base).abs() > _MOVED * (1 + base.abs())).numpy()
            moved[chosen] = False
            if not moved.any():
                continue
            dist = dijkstra(adjacency, unweighted=True, indices=chosen, min_only=True)
            hops = dist[moved]
            if not np.isfinite(hops).all():
                return None
            needed = max(needed, int(hops.max()))
    return needed


def _adjacency(data: HeteroData, n: int) -> sp.csr_matrix:
    """``A[src, dst] = 1`` for every patient-to-patient edge of any type."""
    src, dst = [], []
    for et in data.edge_types:
        if et[0] == PATIENT and et[2] == PATIENT:
            ei = data[et].edge_index.numpy()
            src.append(ei[0])
            dst.append(ei[1])
    s = np.concatenate(src) if src else np.zeros(0, dtype=np.int64)
    d = np.concatenate(dst) if dst else np.zeros(0, dtype=np.int64)
    a = sp.csr_matrix((np.ones(len(s), dtype=np.int8), (s, d)), shape=(n, n))
    a.setdiag(0)
    a.eliminate_zeros()
    a.data[:] = 1
    return a


def _sends(data: HeteroData, n: int) -> np.ndarray:
    """Patients with an outgoing edge of any type (to a patient other than themselves, or to
    a gene, pathway or variable node of a knowledge graph): those can influence others."""
    out = np.diff(_adjacency(data, n).indptr) > 0
    for et in data.edge_types:
        if et[0] == PATIENT and et[2] != PATIENT:
            out[np.unique(data[et].edge_index[0].numpy())] = True
    return out


# ------------------------------------------------------------------ generic engines


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
        result = torch.zeros(len(owners), dtype=torch.float64)
        for pairs, out in self._forwards(owners, rows):
            result = result.index_put((pairs,), out)
        return result

    def gradients(
        self, owners: torch.Tensor, rows: Rows
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        # one backward pass per forward pass, so memory holds one disjoint union only
        result = torch.zeros(len(owners), dtype=torch.float64)
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
        slot = _schedule(owners.numpy(), self.colouring)
        order = np.argsort(slot, kind="stable")
        n_slots = int(slot.max()) + 1 if len(slot) else 0
        bounds = np.searchsorted(slot[order], np.arange(0, n_slots + self.copies, self.copies))
        for i, first in enumerate(range(0, n_slots, self.copies)):
            c = min(self.copies, n_slots - first)
            pairs = torch.from_numpy(order[bounds[i] : bounds[i + 1]])
            where = (torch.from_numpy(slot)[pairs] - first) * n + owners[pairs]
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


def _conflicts(data: HeteroData, n: int, radius: int) -> sp.csr_matrix:
    """``C[u, v]``: ``u`` lies within ``radius`` hops upstream of ``v`` or vice versa."""
    a = _adjacency(data, n)
    step = (a + sp.identity(n, dtype=np.int8, format="csr")).astype(bool).tocsr()
    reach = sp.identity(n, dtype=bool, format="csr")
    for _ in range(radius):
        reach = (reach @ step).astype(bool).tocsr()
    out = (reach + reach.T).astype(bool).tocsr()
    out.setdiag(False)
    out.eliminate_zeros()
    return out


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
                shift = (torch.arange(c) * n).repeat_interleave(e)
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


# ------------------------------------------------------------------------ helpers


def _pair_output(ctx: ExplainContext, logits: torch.Tensor, owners: torch.Tensor) -> torch.Tensor:
    """:meth:`ExplainContext.output` of ``(B, classes)`` logits, pair ``b`` explaining
    ``owners[b]``'s target class."""
    logits = logits.double()
    if logits.shape[-1] == 1:
        return logits[:, 0]
    target = ctx.target[owners].unsqueeze(-1)
    logp = torch.log_softmax(logits, dim=-1)
    lt = logp.gather(-1, target).squeeze(-1)
    others = logp.scatter(-1, target, float("-inf"))
    return lt - torch.logsumexp(others, dim=-1)


def _cast(rows: Rows, like: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {m: r.to(like[m].dtype) for m, r in rows.items()}


def _check(
    ctx: ExplainContext, owners: torch.Tensor, rows: Rows
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    owners_t = torch.as_tensor(owners, dtype=torch.long).reshape(-1)
    n = ctx.n_nodes
    if len(owners_t) and (int(owners_t.min()) < 0 or int(owners_t.max()) >= n):
        raise DataError(f"perturbation owners must be node positions 0..{n - 1}")
    out = {}
    for m, r in rows.items():
        if m not in ctx.modalities:
            raise DataError(
                f"perturbation rows for unknown modality {m!r}; the model has "
                f"{', '.join(ctx.modalities)}"
            )
        width = int(ctx.data[PATIENT][feature_key(m)].shape[1])
        r = torch.as_tensor(r)
        if r.shape != (len(owners_t), width):
            raise DataError(
                f"perturbation rows of modality {m!r} have shape {tuple(r.shape)}; "
                f"expected ({len(owners_t)}, {width})"
            )
        out[m] = r
    return owners_t, out


def _slices(total: int, size: int) -> list[slice]:
    return [slice(i, min(i + size, total)) for i in range(0, total, size)]


@torch.no_grad()
def _reference_outputs(
    ctx: ExplainContext,
    owners: torch.Tensor,
    rows: Rows,
) -> torch.Tensor:
    """The definition :func:`perturbed_outputs` must equal: one full forward per pair."""
    base = ctx.features()
    out = torch.empty(len(owners), dtype=torch.float64)
    for b, p in enumerate(torch.as_tensor(owners).tolist()):
        feats = dict(base)
        for m, r in rows.items():
            x = base[m].clone()
            x[p] = r[b]
            feats[m] = x
        out[b] = ctx.output(ctx.forward(feats))[p]
    return out
