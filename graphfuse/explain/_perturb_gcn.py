"""Exact incremental perturbation engine for models of per-modality propagation encoders.

For models that fuse per-modality encoders (:class:`graphfuse.models.ModalityFusionModel`:
``gcn_fusion``, ``attention``, ``mogonet``) and describe each encoder layer as a linear
propagation followed by an activation
(:meth:`~graphfuse.models.ModalityFusionModel.propagation`; e.g. GCN, Kipf & Welling 2017,
MOGONET's, Wang et al. 2021). Changing patient ``p``'s own rows changes, in an encoder of
``L`` layers, only the states of nodes within ``L`` hops downstream of ``p``, and ``p``'s
output only through the nodes that are also within ``L`` hops upstream of it. Every
layer's pre-activations and states are computed once for the unperturbed graph (with the
model's own propagation matrix); a pair then costs a few sparse updates: the first layer
is linear in the rows (``delta z = A[:, p] (delta x W)``), later layers are updated on
the few affected nodes only (``act(z + delta z) - act(z)``), and ``p``'s modality
embeddings go through the model's own stand-ins for absent modalities
(:meth:`~graphfuse.models.ModalityFusionModel.complete`, once, since they never depend on
a patient's own rows) and its own :meth:`~graphfuse.models.ModalityFusionModel.fuse`. The
result equals a full forward pass per pair up to float rounding;
:mod:`graphfuse.explain._perturb` checks that against the model when the engine is built
and falls back to a generic engine (with a warning) if it does not.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from graphfuse.explain._base import ExplainContext
from graphfuse.explain._engines import Engine, NotApplicable, Rows, _pair_output
from graphfuse.explain._perturb import register_fast_path
from graphfuse.graphs import PATIENT
from graphfuse.models import ModalityFusionModel, PropagationLayer

__all__ = ["GCNFusionEngine"]

#: Precision of the engine: the model's (float64 was 4x slower for a gain below the
#: reference's own float32 rounding).
_DTYPE = torch.float32
#: Below this fraction of non-zero changes a first-layer update gathers weight rows.
_SPARSE = 0.05


class _Graph:
    """Normalised edges of one modality's GCN (``A[dst, src] = weight``), with lookups."""

    def __init__(self, edge_index: torch.Tensor, weight: torch.Tensor, n: int) -> None:
        self.n = n
        self.device = device = edge_index.device
        src, dst = edge_index
        key = dst * n + src  # coalesce duplicated edges (the propagation sums them)
        key, inverse = torch.unique(key, return_inverse=True)
        w = torch.zeros(len(key), dtype=_DTYPE, device=device)
        w = w.index_add_(0, inverse, weight.to(_DTYPE))
        self.in_key, self.in_weight = key, w  # sorted by (dst, src)
        dst, src = key // n, key % n
        order = torch.argsort(src * n + dst)
        self.out_dst, self.out_weight = dst[order], w[order]  # grouped by src
        self.out_ptr = torch.zeros(n + 1, dtype=torch.long, device=device)
        self.out_ptr[1:] = torch.cumsum(torch.bincount(src, minlength=n), 0)
        self.src, self.dst, self.weight = src, dst, w
        self._reach: dict[int, torch.Tensor] = {}
        self._useful: dict[tuple, tuple] = {}

    def propagate(self, x: torch.Tensor) -> torch.Tensor:
        """``A @ x``: every node's weighted sum over its incoming edges."""
        out = torch.zeros_like(x)
        return out.index_add_(0, self.dst, x[self.src] * self.weight[:, None])

    def weight_of(self, dst: torch.Tensor, src: torch.Tensor) -> torch.Tensor:
        """``A[dst, src]`` elementwise (0 without an edge)."""
        return _lookup(self.in_key, dst * self.n + src, self.in_weight)

    def expand(
        self, nodes: torch.Tensor, useful: int | None = None, back: _Graph | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Out-edges of each of ``nodes``: (entry index, target node, weight, back weight).

        With ``useful=r``, only the targets that reach back to the node itself in at most
        ``r`` hops (what a perturbation of the node needs at the first layer); with
        ``back``, also the weight ``back[node, target]`` of each target's edge back to it.
        """
        ptr, dst, weight, ret = self.out_ptr, self.out_dst, self.out_weight, None
        if useful is not None:
            key = (useful, id(back))
            if key not in self._useful:
                nodes_all = torch.arange(self.n, device=self.device)
                src = torch.repeat_interleave(nodes_all, torch.diff(ptr))
                keep = self.within(useful, src, dst)
                count = torch.bincount(src[keep], minlength=self.n)
                cum = torch.zeros(self.n + 1, dtype=torch.long, device=self.device)
                cum[1:] = torch.cumsum(count, 0)
                kept = None if back is None else back.weight_of(src[keep], dst[keep])
                self._useful[key] = (cum, dst[keep], weight[keep], kept)
            ptr, dst, weight, ret = self._useful[key]
        start = ptr[nodes]
        count = ptr[nodes + 1] - start
        entry = torch.repeat_interleave(torch.arange(len(nodes), device=self.device), count)
        first = torch.repeat_interleave(start - torch.cumsum(count, 0) + count, count)
        pos = first + torch.arange(len(entry), device=self.device)
        return entry, dst[pos], weight[pos], None if ret is None else ret[pos]

    def within(self, hops: int, owners: torch.Tensor, nodes: torch.Tensor) -> torch.Tensor:
        """Whether each of ``nodes`` reaches its owner in at most ``hops`` edges."""
        if hops not in self._reach:
            n = self.n
            step = sp.csr_matrix(
                (
                    np.ones(len(self.src), dtype=bool),
                    (self.dst.cpu().numpy(), self.src.cpu().numpy()),
                ),
                shape=(n, n),
            )
            step = (step + sp.identity(n, dtype=bool, format="csr")).astype(bool)
            reach = sp.identity(n, dtype=bool, format="csr")
            for _ in range(hops):
                reach = (reach @ step).astype(bool).tocsr()
            coo = reach.tocoo()
            keys = np.sort(coo.row.astype(np.int64) * n + coo.col)
            self._reach[hops] = torch.as_tensor(keys, device=self.device)
        keys = self._reach[hops]
        probe = owners * self.n + nodes
        idx = torch.searchsorted(keys, probe).clamp(max=len(keys) - 1)
        return keys[idx] == probe


def _lookup(keys: torch.Tensor, probe: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    if len(keys) == 0:
        return torch.zeros(len(probe), dtype=values.dtype, device=values.device)
    idx = torch.searchsorted(keys, probe).clamp(max=len(keys) - 1)
    zero = torch.zeros((), dtype=values.dtype, device=values.device)
    return torch.where(keys[idx] == probe, values[idx], zero)


@dataclass
class _Layer:
    weight: torch.Tensor  # (out, in)
    root: torch.Tensor | None  # (out, in)
    graph: _Graph
    act: Callable[[torch.Tensor], torch.Tensor]  # elementwise activation
    z: torch.Tensor  # unperturbed pre-activations (n, out)
    h: torch.Tensor  # unperturbed states act(z) (n, out)


@dataclass
class _Modality:
    x: torch.Tensor  # unperturbed features, absent rows 0 (n, features), engine dtype
    x32: torch.Tensor  # the same in the model's dtype
    have: torch.Tensor  # (n,) bool
    layers: list[_Layer]
    slot: int  # position among the model's modality embeddings


@dataclass
class _Spec:
    """One layer of a modality's encoder: ``act(A (h W^T) + b + h R^T)``."""

    graph: _Graph
    weight: torch.Tensor
    bias: torch.Tensor | None
    root: torch.Tensor | None
    act: Callable[[torch.Tensor], torch.Tensor]


@register_fast_path("propagation")
class GCNFusionEngine(Engine):
    """Incremental evaluation of models made of per-modality propagation encoders followed
    by a fusion of the modality embeddings (module docstring).

    The model describes each modality's encoder layers
    (:meth:`~graphfuse.models.ModalityFusionModel.propagation`); the engine keeps every
    layer's unperturbed states, updates the few a pair changes, and passes the pairs'
    modality embeddings through the model's own fusion. A patient's stand-ins for
    modalities it lacks (``learned`` tokens, ``neighbors`` means over neighbours having
    the modality, MOGONET's uniform vector) never depend on its own rows, so they stay
    fixed.
    """

    name = "propagation"
    batch = 4096
    sparse_batch = 4096  # larger batches fall out of cache: 2-3x slower per pair
    path_batch = 8192  # coalitions per update in :meth:`paths`

    @classmethod
    def supports(cls, model: torch.nn.Module) -> bool:
        return isinstance(model, ModalityFusionModel)

    def __init__(self, ctx: ExplainContext) -> None:
        super().__init__(ctx)
        model = ctx.model
        if model.training:
            raise NotApplicable("the model is in training mode")
        data = ctx.data
        n = ctx.n_nodes
        order = list(data.modalities)
        available = data[PATIENT].available
        self.n = n
        self.name = model.registry_name
        self.modalities: dict[str, _Modality] = {}
        slots, masks = [], []
        for m in model.modalities:
            have = available[:, order.index(m)]
            masks.append(have)
            h = self.base[m].to(_DTYPE)
            layers = []
            for spec in _specs(model, data, m, n):
                z = spec.graph.propagate(h @ spec.weight.T)
                if spec.bias is not None:
                    z = z + spec.bias
                if spec.root is not None:
                    z = z + h @ spec.root.T
                h = spec.act(z)
                layers.append(_Layer(spec.weight, spec.root, spec.graph, spec.act, z, h))
            slots.append(h * have[:, None])
            self.modalities[m] = _Modality(
                self.base[m].to(_DTYPE), self.base[m], have, layers, len(slots) - 1
            )
        if not slots:
            raise NotApplicable("the model has no modality")
        h, mask = torch.stack(slots, 1), torch.stack(masks, 1)
        with torch.no_grad():
            h, mask = model.complete(h, mask, data)
        self.slots, self.filled = h.to(_DTYPE), mask
        frozen = copy.deepcopy(model).to(_DTYPE).eval().requires_grad_(False)
        self.fuse = frozen.fuse

    def outputs(self, owners: torch.Tensor, rows: Rows) -> torch.Tensor:
        changes = {m: _RowChange.of(r, self.modalities[m], owners) for m, r in rows.items()}
        return self._evaluate(owners, changes)

    def replaced(
        self, owners: torch.Tensor, modality: str, columns: torch.Tensor, values: torch.Tensor
    ) -> torch.Tensor:
        mod = self.modalities[modality]
        diff = values.to(_DTYPE) - mod.x[owners, columns]
        pairs = torch.nonzero((diff != 0) & mod.have[owners]).ravel()
        entries = (torch.arange(len(pairs), device=pairs.device), columns[pairs], diff[pairs])
        change = _RowChange(pairs, (len(pairs), mod.x.shape[1]), entries=entries)
        return self._evaluate(owners, {modality: change})

    def paths(self, owner: int, background: Rows, entry: Rows, steps: int) -> torch.Tensor | None:
        """Outputs along paths of coalitions (:meth:`Engine.paths`) without building rows.

        A first layer that maps many features to few (``weight``: out < in) is linear in
        the row change, and along a path the change loses features step by step: the
        mapped change at step ``k`` is the sum of ``(background_f - x_f) W[:, f]`` over the
        features entering at step ``k`` or later, a cumulative sum over the path, so
        each coalition costs the later layers only. Narrow modalities take dense changes.
        """
        n_paths = next(iter(entry.values())).shape[0]
        jobs = n_paths * (steps + 1)
        device = self.ctx.device
        step = torch.arange(steps + 1, device=device).repeat(n_paths)
        path = torch.arange(n_paths, device=device).repeat_interleave(steps + 1)
        changes: dict[str, _RowChange] = {}
        for m, e in entry.items():
            mod = self.modalities[m]
            if not bool(mod.have[owner]):
                continue
            e = e.to(device=device, dtype=torch.long)
            diff = background[m].to(device=device, dtype=_DTYPE) - mod.x[owner]
            first = mod.layers[0]
            if first.weight.shape[0] >= first.weight.shape[1]:
                values = torch.where(
                    e[path] >= step[:, None], diff, torch.zeros((), dtype=_DTYPE, device=device)
                )
                changes[m] = _RowChange(None, (jobs, len(diff)), values=values)
                continue
            keep = (e >= 0) & (diff != 0)[None]
            j, f = torch.nonzero(keep, as_tuple=True)
            bins = j * steps + e[j, f]
            mapped = {}
            for w in (first.weight, first.root):
                if w is None:
                    continue
                c = diff[:, None] * w.T  # (features, out): each feature's mapped change
                per = torch.zeros(n_paths * steps, w.shape[0], dtype=_DTYPE, device=device)
                per = per.index_add_(0, bins, c[f]).view(n_paths, steps, -1)
                later = per.flip(1).cumsum(1).flip(1)  # entering at step k or later
                end = torch.zeros(n_paths, 1, w.shape[0], dtype=_DTYPE, device=device)
                mapped[id(w)] = torch.cat([later, end], 1).reshape(jobs, -1)
            changes[m] = _RowChange(None, (jobs, len(diff)), mapped=mapped)
        owners = torch.full((jobs,), owner, dtype=torch.long, device=device)
        out = torch.empty(jobs, dtype=torch.float64, device=device)
        for start in range(0, jobs, self.path_batch):
            s = slice(start, min(start + self.path_batch, jobs))
            part = {m: c.rows(s) for m, c in changes.items()}
            out[s] = self._evaluate(owners[s], part)
        return out.view(n_paths, steps + 1)

    def _evaluate(self, owners: torch.Tensor, changes: dict[str, _RowChange]) -> torch.Tensor:
        slots = self.slots[owners]
        for m, change in changes.items():
            mod = self.modalities[m]
            if change.pairs is None:
                pairs = torch.arange(len(owners), device=owners.device)
            else:
                pairs = change.pairs
            if len(pairs):
                delta = self._modality(mod, owners[pairs], change)
                slots[:, mod.slot].index_add_(0, pairs, delta)
        return _pair_output(self.ctx, self.fuse(slots, self.filled[owners]), owners)

    def _modality(self, mod: _Modality, owners: torch.Tensor, change: _RowChange) -> torch.Tensor:
        """Change of each pair's final state in one modality (``(B, hidden)``).

        Entries ``(pair, node, dx)``: the change ``dx`` of a node's layer input caused by
        the pair's rows; at the first layer, the owner's own row change.
        """
        n, b, depth = self.n, len(owners), len(mod.layers)
        pair, node = torch.arange(b, device=owners.device), owners
        dx: torch.Tensor | None = None
        back: torch.Tensor | None = None  # weights of the entries' edges to their owners
        for i, layer in enumerate(mod.layers):
            weight, root, graph = layer.weight, layer.root, layer.graph
            early = weight.shape[0] < weight.shape[1]  # map first, then propagate fewer columns
            if i == 0:
                mapped = change.map(weight) if early else None
                dx = None if early else change.dense()
            else:
                mapped = dx @ weight.T if early else None
            if i == depth - 1:  # only the owner's own state is needed
                if back is None:
                    w = graph.weight_of(owners[pair], node)
                    hit = torch.nonzero(w).ravel()
                    into, w = pair[hit], w[hit]
                else:
                    into, w, hit = pair, back, None
                dz = _aggregate(b, into, w, weight, mapped, dx, hit)
                if root is not None:
                    own = torch.nonzero(node == owners[pair]).ravel()
                    dz = dz.index_add(0, pair[own], _mapped(change, dx, own, root, i))
                out = layer.act(layer.z[owners] + dz) - layer.h[owners]
                return out * mod.have[owners, None]
            if i == 0 and root is None:
                # the owners' out-edges: one entry per (pair, target), nothing to merge
                last = mod.layers[-1].graph if depth == 2 else None
                entry, target, w, back = graph.expand(node, useful=depth - 1, back=last)
                if early:
                    dz = mapped[entry] * w[:, None]
                else:
                    dz = (dx[entry] * w[:, None]) @ weight.T
                pair, node = entry, target
                dx = layer.act(layer.z[node] + dz) - layer.h[node]
                continue
            # propagate along out-edges, keeping the nodes that still reach the owner in time
            if i == 0:
                entry, target, w, _ = graph.expand(node, useful=depth - 1)
            else:
                entry, target, w, _ = graph.expand(node)
                keep = graph.within(depth - 1 - i, owners[pair[entry]], target)
                entry, target, w = entry[keep], target[keep], w[keep]
            keys = pair[entry] * n + target
            if root is not None:
                own = torch.nonzero(graph.within(depth - 1 - i, owners[pair], node)).ravel()
                keys = torch.cat([keys, pair[own] * n + node[own]])
            unique, inverse = torch.unique(keys, return_inverse=True)
            dz = _aggregate(len(unique), inverse[: len(entry)], w, weight, mapped, dx, entry)
            if root is not None:
                dz = dz.index_add(0, inverse[len(entry) :], _mapped(change, dx, own, root, i))
            pair, node = unique // n, unique % n
            dx = layer.act(layer.z[node] + dz) - layer.h[node]
        raise AssertionError("unreachable")  # pragma: no cover


def _aggregate(
    size: int,
    into: torch.Tensor,
    w: torch.Tensor,
    weight: torch.Tensor,
    mapped: torch.Tensor | None,
    dx: torch.Tensor | None,
    source: torch.Tensor | None,
) -> torch.Tensor:
    """``dz[into[e]] += w[e] * (dx[source[e]] @ weight.T)`` (``source=None``: every
    entry in order): from the already mapped changes when given, else summed in the
    input space and mapped once per target."""
    rows = mapped if mapped is not None else dx
    if source is not None:
        rows = rows[source]
    out = torch.zeros(size, rows.shape[1], dtype=_DTYPE, device=rows.device)
    out = out.index_add(0, into, rows * w[:, None])
    return out if mapped is not None else out @ weight.T


def _mapped(
    change: _RowChange, dx: torch.Tensor | None, rows: torch.Tensor, weight: torch.Tensor, i: int
) -> torch.Tensor:
    """``dx[rows] @ weight.T`` (at the first layer, from the row change itself)."""
    if i == 0:
        return change.map(weight)[rows]
    return dx[rows] @ weight.T


@dataclass
class _RowChange:
    """Change of each pair's owner row in one modality: dense, or as its non-zero entries.

    ``pairs``: the pairs whose row changed (``None``: all, as when differentiating).
    """

    pairs: torch.Tensor | None
    size: tuple[int, int]
    values: torch.Tensor | None = None  # dense (pairs, features)
    entries: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None  # row, col, value
    mapped: dict[int, torch.Tensor] | None = None  # id(weight) -> change @ weight.T, given

    @classmethod
    def of(cls, rows: torch.Tensor, mod: _Modality, owners: torch.Tensor) -> _RowChange:
        have = mod.have[owners, None]
        if torch.is_grad_enabled() and rows.requires_grad:
            values = (rows.to(_DTYPE) - mod.x[owners]) * have
            return cls(None, (values.shape[0], values.shape[1]), values=values)
        diff = rows.to(mod.x32.dtype) - mod.x32[owners]
        differs = (diff != 0) & have
        per_pair = differs.sum(dim=1)
        changed = per_pair > 0
        pairs = torch.nonzero(changed).ravel()
        size = (len(pairs), rows.shape[1])
        if int(per_pair.sum()) < _SPARSE * max(1, size[0] * size[1]):
            nz = torch.nonzero(differs)
            row = (torch.cumsum(changed, 0) - 1)[nz[:, 0]]
            col = nz[:, 1]
            value = rows[nz[:, 0], col].to(_DTYPE) - mod.x[owners[nz[:, 0]], col]
            return cls(pairs, size, entries=(row, col, value))
        if len(pairs) < len(owners):
            diff, have = diff[pairs], have[pairs]
        if not bool(have.all()):
            diff = diff * have
        return cls(pairs, size, values=diff.to(_DTYPE))

    def rows(self, s: slice) -> _RowChange:
        """The change of the pairs ``s`` (of a change of all pairs, ``pairs=None``)."""
        if self.pairs is not None or self.entries is not None:
            raise ValueError("only a change of every pair, dense or mapped, is sliced")
        size = (len(range(*s.indices(self.size[0]))), self.size[1])
        if self.mapped is not None:
            return _RowChange(None, size, mapped={k: v[s] for k, v in self.mapped.items()})
        return _RowChange(None, size, values=self.values[s])

    def dense(self) -> torch.Tensor:
        if self.values is None and self.entries is None:
            raise ValueError("a change given mapped through its layer has no dense rows")
        if self.values is None:
            row, col, value = self.entries
            zeros = torch.zeros(self.size, dtype=_DTYPE, device=value.device)
            self.values = zeros.index_put_((row, col), value)
        return self.values

    def map(self, weight: torch.Tensor) -> torch.Tensor:
        """``change @ weight.T``, gathering weight columns for a sparse change."""
        if self.mapped is not None:
            return self.mapped[id(weight)]
        if self.values is not None:
            return self.values @ weight.T
        row, col, value = self.entries
        out = torch.zeros(self.size[0], weight.shape[0], dtype=_DTYPE, device=value.device)
        return out.index_add_(0, row, value[:, None] * weight.T[col])


def _specs(model: ModalityFusionModel, data, modality: str, n: int) -> list[_Spec]:
    """The model's description of ``modality``'s encoder, read into engine layers (layers
    sharing a propagation matrix share one :class:`_Graph`)."""
    layers: list[PropagationLayer] | None = model.propagation(data, modality)
    if layers is None:
        raise NotApplicable(f"the {modality!r} encoder is not described as linear propagations")
    graphs: dict[tuple[int, int], _Graph] = {}
    specs = []
    for layer in layers:
        key = (id(layer.edge_index), id(layer.edge_weight))
        if key not in graphs:
            graphs[key] = _Graph(layer.edge_index, layer.edge_weight.to(_DTYPE), n)
        specs.append(
            _Spec(
                graphs[key],
                _frozen(layer.weight),
                None if layer.bias is None else _frozen(layer.bias),
                None if layer.root is None else _frozen(layer.root),
                layer.activation,
            )
        )
    return specs


def _frozen(t: torch.Tensor) -> torch.Tensor:
    return t.detach().to(_DTYPE)
