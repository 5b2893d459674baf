"""Similarity Network Fusion: one patient graph fused from every modality."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from pydantic import Field

from graphfuse.errors import DataError, GraphfuseError
from graphfuse.graphs._base import (
    FUSED_BUILDERS,
    BuilderParams,
    FusedGraphBuilder,
    check_rows,
    saved,
)
from graphfuse.graphs._search import BLOCK_FLOATS, scores

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["SNFBuilder"]

_TINY = float(np.spacing(1))  # SNFtool's .Machine$double.eps: keeps scales positive


class SNFParams(BuilderParams):
    k: int = Field(10, ge=1, le=1000)
    """Neighbours per patient in the fused graph, drawn from the fitted patients."""
    local_k: int = Field(20, ge=2, le=1000)
    """The paper's ``K``: neighbours of the local kernel ``S`` and of the scale ``epsilon``."""
    mu: float = Field(0.5, gt=0.0, le=10.0)
    """The paper's ``mu`` (SNFtool's ``sigma``/``alpha``): kernel width, 0.3-0.8 advised."""
    iterations: int = Field(20, ge=1, le=200)
    """The paper's ``t``: fusion iterations."""
    kernel: Literal["gaussian", "paper"] = "gaussian"
    """``gaussian``: the normal density of the distance with scale ``mu * epsilon``
    (SNFtool's and snfpy's ``affinityMatrix``; invariant to the features' scale);
    ``paper``: equation 1 as printed, ``exp(-rho**2 / (mu * epsilon))``."""
    weighted: bool = True
    """Weight edges by fused similarity scaled to ``(0, 1]`` (see :class:`SNFBuilder`);
    ``false`` gives weight 1."""
    max_patients: int = Field(20_000, ge=2, le=1_000_000)
    """Refuse to fit on more patients: fusion holds dense fitted x fitted matrices
    (about ``6 * 4 * n**2`` bytes: 2.4 GB at 10,000)."""


@FUSED_BUILDERS.register("snf")
class SNFBuilder(FusedGraphBuilder):
    """Fuse the modalities' patient-similarity networks into one graph (SNF).

    Similarity Network Fusion (Wang et al., "Similarity network fusion for aggregating
    data types on a genomic scale", Nat Methods 11, 333-337, 2014), with the authors'
    SNFtool (R) conventions where the paper leaves details open. Per modality ``v``,
    over the fitted patients that have it:

    1. Euclidean distances ``rho``; ``epsilon_ij = (mean_i + mean_j + rho_ij) / 3`` with
       ``mean_i`` the mean distance from ``i`` to its ``local_k`` nearest neighbours; the
       affinity ``W`` is a kernel of ``rho`` with scale ``mu * epsilon`` (``kernel``).
    2. ``P = normalise(W)`` (equation 2: off-diagonal ``W_ij / (2 sum_{k != i} W_ik)``,
       diagonal 1/2), symmetrised; the local kernel ``S`` keeps each row's ``local_k``
       largest entries of ``P`` (the patient itself, with 1/2, and its ``local_k - 1``
       nearest) and rescales them to sum 1 (equation 3). ``S`` is sparse, so each
       product below costs ``O(n**2 local_k)`` rather than ``O(n**3)``.
    3. ``iterations`` times, for every modality at once:
       ``P_v <- normalise(S_v mean_{u != v}(P_u) S_v^T)``, symmetrised (equation 6).
    4. The fused similarity ``F = normalise(mean_v P_v)``, symmetrised.

    **Missing modalities** (SNF over the modalities each patient has): ``W``, ``P`` and
    ``S`` of a modality cover the fitted patients that have it. Wherever a mean over
    modalities is taken — ``mean_{u != v}`` in step 3, ``mean_v`` in step 4 — it runs,
    for each pair of patients, over the modalities *both* have; a pair that shares no
    other modality in step 3 keeps its own ``P_v``, one that shares none at all gets
    ``F = 0``. A patient without any modality gets no edges.

    **Graph.** Each fitted patient receives edges from its ``k`` most similar fitted
    patients by ``F`` (mirrored, so the fitted graph is symmetric). A held-out patient
    ``q`` is attached without refitting: for each modality ``v`` it has, its affinities
    to the fitted patients (step 1, with its own ``mean_q``) give its local kernel row
    ``S_v(q, .)`` over its ``local_k`` nearest fitted patients, and its fused row is
    ``mean_v S_v(q, .) F`` — one half of the update in step 3, through the fitted ``F``.
    It receives edges from the ``k`` largest. Weights are ``F_ij / sqrt(m_i m_j)``
    (``m_i``: row ``i``'s largest off-diagonal entry), in ``(0, 1]`` and symmetric.

    **New patients** are attached the same way (:meth:`attach`; :meth:`fuse` attaches
    its held-out patients through it), one patient's edges independent of the others'.
    :meth:`fuse` keeps ``F`` (``4 n**2`` bytes) and each modality's ``mean``;
    :meth:`state` gives them with the peaks ``m`` and the patients they cover, and
    :meth:`restore` takes them back with the fitted patients' features.

    snfpy computes the same affinities (to 1e-15 with ``kernel: gaussian``) but follows
    the authors' MATLAB release in the normalisations (``W / rowsum``; ``+ I`` instead of
    equation 2 after each iteration), so its fused matrix differs somewhat
    (``benchmarks/results/graphs.md``).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> xs = {"a": rng.normal(size=(30, 5)).astype(np.float32),
    ...       "b": rng.normal(size=(30, 3)).astype(np.float32)}
    >>> available = np.ones((30, 2), dtype=bool)
    >>> ei, w = SNFBuilder(k=3, local_k=5).fuse(xs, available, np.arange(20))
    >>> bool((ei[0] < 20).all()), np.bincount(ei[1], minlength=30)[20:].tolist() == [3] * 10
    (True, True)
    """

    Params = SNFParams

    def similarity(
        self, xs: Mapping[str, np.ndarray], available: np.ndarray, fit: np.ndarray
    ) -> np.ndarray:
        """The fused similarity ``F`` among the fitted patients that have a modality.

        Returns a ``float32`` square matrix over ``fit[available[fit].any(axis=1)]``, in
        that order.
        """
        return self._fit(xs, available, np.asarray(fit, dtype=np.int64)).fused.numpy()

    def fuse(
        self, xs: Mapping[str, np.ndarray], available: np.ndarray, fit: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        p = self.params
        n = available.shape[0]
        fit = np.asarray(fit, dtype=np.int64)
        state = self._fit(xs, available, fit)
        ref, fused = state.patients, state.fused
        n_ref = len(ref)
        k = min(p.k, n_ref - 1)
        peak = np.zeros(n_ref, dtype=np.float32)
        if k >= 1:
            off = fused.clone()
            off.fill_diagonal_(-torch.inf)
            top = torch.topk(off, k, dim=1)
            del off
            peak = top.values[:, 0].clamp(min=_TINY).numpy()
        views = [_Local(v.name, v.members, v.x, v.mean) for v in state.views]
        positions = np.flatnonzero(available[fit].any(axis=1))  # ref, among the fitted
        self._ref = _Reference(list(xs), positions, fused, peak, views)
        self.n_fitted_ = len(fit)
        if k < 1:
            return np.zeros((2, 0), dtype=np.int64), np.zeros(0, dtype=np.float32)
        src, dst = ref[top.indices.numpy()].ravel(), np.repeat(ref, k)
        val = top.values.numpy().ravel()
        wsrc = peak[top.indices.numpy()].ravel()
        wdst = np.repeat(peak, k)
        # fitted patients: mirror, so the fitted graph is symmetric
        src, dst = np.concatenate([src, dst]), np.concatenate([dst, src])
        val = np.concatenate([val, val])
        scale = np.sqrt(np.concatenate([wsrc * wdst, wsrc * wdst]))
        keep = val > 0  # no evidence of similarity (no shared modality): no edge
        src, dst, val, scale = src[keep], dst[keep], val[keep], scale[keep]
        weight = np.minimum(val / scale, 1.0) if p.weighted else np.ones(len(val))

        rest = np.setdiff1d(np.arange(n), fit)
        ref_pos, new_pos, rest_weight = self.attach(
            {m: x[rest] for m, x in xs.items()}, available[rest]
        )
        src = np.concatenate([src, fit[ref_pos]])
        dst = np.concatenate([dst, rest[new_pos]])
        weight = np.concatenate([weight.astype(np.float32), rest_weight])
        _, first = np.unique(src * n + dst, return_index=True)
        src, dst = src[first], dst[first]
        return np.stack([src, dst]).astype(np.int64), weight[first].astype(np.float32)

    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """The fused matrix and what attaching through it needs.

        Returns
        -------
        values
            ``modalities`` (in the order of :meth:`fuse`'s ``xs``), ``views`` (the
            modalities fused: those with at least 2 fitted patients) and ``n_fitted``.
        arrays
            ``fused`` (``F``, ``float32``, over the fitted patients with a modality),
            ``ref`` (their positions among the fitted patients), ``peak`` (``m``), and per
            view ``j``: ``members_j`` (its patients, positions within ``ref``) and
            ``mean_j`` (their local scales ``mean``).
        """
        self._check_fitted("state")
        r = self._ref
        values = {
            "modalities": list(r.modalities),
            "views": [v.name for v in r.views],
            "n_fitted": int(self.n_fitted_ or 0),
        }
        arrays = {"fused": r.fused.numpy(), "ref": r.ref, "peak": r.peak}
        for j, v in enumerate(r.views):
            arrays[f"members_{j}"] = v.members
            arrays[f"mean_{j}"] = v.mean.numpy()
        return values, arrays

    def restore(
        self,
        xs_ref: Mapping[str, np.ndarray],
        available_ref: np.ndarray,
        values: Mapping[str, Any],
        arrays: Mapping[str, np.ndarray],
    ) -> Self:
        """Prepare to :meth:`attach` to the fitted patients; see the base class."""
        names = list(xs_ref)
        modalities = list(saved(values, "modalities", "snf"))
        n_fit = int(saved(values, "n_fitted", "snf"))
        if sorted(names) != sorted(modalities):
            raise DataError(
                f"snf was fitted on modalities {modalities}, but the fitted patients' features "
                f"given to restore it are of {names}"
            )
        available_ref = np.asarray(available_ref, dtype=bool)
        if available_ref.shape != (n_fit, len(names)):
            raise DataError(
                f"snf was fitted on {n_fit:,} patients and {len(names)} modalities, but the "
                f"availability given to restore it has shape {available_ref.shape}"
            )
        ref = np.asarray(saved(arrays, "ref", "snf"), dtype=np.int64)
        if not np.array_equal(ref, np.flatnonzero(available_ref.any(axis=1))):
            raise DataError(
                "the availability given to restore snf is not the fitted patients': the "
                "fitted patients with a modality differ from those the fused matrix covers"
            )
        views = []
        for j, name in enumerate(saved(values, "views", "snf")):
            members = np.asarray(saved(arrays, f"members_{j}", "snf"), dtype=np.int64)
            rows = ref[members]
            if not available_ref[rows, names.index(name)].all():
                raise DataError(
                    f"the availability given to restore snf lacks modality {name!r} for "
                    "fitted patients it was fused over"
                )
            x = check_rows(xs_ref[name][rows], None, f"the fitted rows of modality {name!r}")
            mean = np.asarray(saved(arrays, f"mean_{j}", "snf"), dtype=np.float32)
            views.append(_Local(name, members, torch.from_numpy(x.copy()), torch.from_numpy(mean)))
        fused = np.asarray(saved(arrays, "fused", "snf"), dtype=np.float32)
        peak = np.asarray(saved(arrays, "peak", "snf"), dtype=np.float32)
        self._ref = _Reference(modalities, ref, torch.from_numpy(fused.copy()), peak, views)
        self.n_fitted_ = n_fit
        return self

    def attach(
        self, xs_new: Mapping[str, np.ndarray], available_new: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each new patient's ``k`` most similar fitted patients by ``mean_v S_v(q, .) F``.

        See the base class; weights as :meth:`fuse`'s, grouped by new patient.
        """
        self._check_fitted("attach")
        p, r = self.params, self._ref
        names = list(xs_new)
        unknown = [m for m in names if m not in r.modalities]
        if unknown:
            raise DataError(
                f"snf was fitted on modalities {r.modalities}; it cannot attach patients by "
                f"{unknown}"
            )
        available_new = np.asarray(available_new, dtype=bool)
        if available_new.ndim != 2 or available_new.shape[1] != len(names):
            raise DataError(
                f"the new patients' availability must be patients x {len(names)} modalities "
                f"({names}), not of shape {available_new.shape}"
            )
        n_ref = len(r.ref)
        k = min(p.k, n_ref - 1)
        has = np.flatnonzero(available_new.any(axis=1))
        empty = np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
        if k < 1 or len(has) == 0:
            return empty
        xs_new = {m: self._checked(xs_new[m], available_new[:, j], m) for j, m in enumerate(names)}
        ref_pos, new_pos, weight = [], [], []
        block = max(1, BLOCK_FLOATS // max(n_ref, 1))
        for start in range(0, len(has), block):
            rows = has[start : start + block]
            top = torch.topk(self._fused_rows(xs_new, available_new, rows), k, dim=1)
            idx, val = top.indices.numpy(), top.values.numpy()
            qpeak = top.values[:, 0].clamp(min=_TINY).numpy()
            scale = np.sqrt(np.repeat(qpeak, k) * r.peak[idx].ravel())
            val = val.ravel()
            keep = val > 0  # no evidence of similarity (no shared modality): no edge
            ref_pos.append(r.ref[idx.ravel()[keep]])
            new_pos.append(np.repeat(rows, k)[keep])
            w = np.minimum(val[keep] / scale[keep], 1.0) if p.weighted else np.ones(keep.sum())
            weight.append(w.astype(np.float32))
        return np.concatenate(ref_pos), np.concatenate(new_pos), np.concatenate(weight)

    def _checked(self, x: np.ndarray, has: np.ndarray, name: str) -> np.ndarray:
        """A new modality's rows, those of patients that have it checked."""
        view = next((v for v in self._ref.views if v.name == name), None)
        if view is not None:
            check_rows(x[has], view.x.shape[1], f"the new patients' rows of modality {name!r}")
        return x

    def _fused_rows(
        self, xs: Mapping[str, np.ndarray], available: np.ndarray, rows: np.ndarray
    ) -> torch.Tensor:
        """Fused rows ``(len(rows), n_ref)`` of new patients: ``mean_v S_v(q, .) F``."""
        p, r = self.params, self._ref
        names = list(xs)
        total = torch.zeros(len(rows), len(r.ref))
        count = torch.zeros(len(rows), 1)
        for v in r.views:
            if v.name not in names:
                continue
            has = np.flatnonzero(available[rows, names.index(v.name)])
            if len(has) == 0:
                continue
            local_k = min(p.local_k, len(v.members))
            members = torch.from_numpy(v.members)
            q = torch.from_numpy(np.ascontiguousarray(xs[v.name][rows[has]], dtype=np.float32))
            dist = scores(q, v.x, "euclidean").neg_()  # each row as if alone
            near = torch.topk(dist, local_k, dim=1, largest=False)
            mean = near.values.mean(dim=1) + _TINY
            w = _kernel(dist, mean, v.mean, p.mu, p.kernel)
            top = torch.topk(w, local_k, dim=1)
            s = top.values / top.values.sum(dim=1, keepdim=True).clamp(min=_TINY)
            # S_v(q, .) F: a weighted sum of the fused rows of q's local neighbours
            acc = torch.zeros(len(has), len(r.ref))
            for j in range(local_k):
                acc += s[:, j, None] * r.fused[members[top.indices[:, j]]]
            total[torch.from_numpy(has)] += acc
            count[torch.from_numpy(has)] += 1
        return total / count.clamp(min=1)

    # ------------------------------------------------------------------ fitting

    def _fit(self, xs: Mapping[str, np.ndarray], available: np.ndarray, fit: np.ndarray) -> _Fitted:
        p = self.params
        names = list(xs)
        if available.shape[1] != len(names):
            raise GraphfuseError(
                f"availability has {available.shape[1]} columns for {len(names)} modalities"
            )
        ref = fit[available[fit].any(axis=1)]
        if len(ref) > p.max_patients:
            gb = 6 * 4 * len(ref) ** 2 / 1e9
            raise GraphfuseError(
                f"snf would fuse {len(ref):,} fitted patients in dense matrices (~{gb:.0f} GB), "
                f"over max_patients={p.max_patients:,}; raise graph.fused.max_patients if the "
                "memory is there, or use a per-modality builder (knn, threshold) alone"
            )
        views: list[_View] = []
        for j, name in enumerate(names):
            members = np.flatnonzero(available[ref, j])  # positions within ref
            if len(members) < 2:
                continue
            x = torch.from_numpy(np.ascontiguousarray(xs[name][ref[members]], dtype=np.float32))
            local_k = min(p.local_k, len(members) - 1)
            dist = torch.cdist(x, x)
            dist.fill_diagonal_(0.0)
            dist = (dist + dist.T) / 2
            near = dist.clone()
            near.fill_diagonal_(torch.inf)
            mean = torch.topk(near, local_k, dim=1, largest=False).values.mean(dim=1) + _TINY
            del near
            w = _kernel(dist, mean, mean, p.mu, p.kernel)
            del dist
            prob = _normalise(w)
            del w
            local = _local(prob, min(p.local_k, len(members)))
            views.append(_View(name, members, x, mean, prob, local))
        n_ref = len(ref)
        if not views:
            return _Fitted(ref, torch.zeros(n_ref, n_ref), [], n_ref)
        shared = _Shared(views, n_ref)
        for _ in range(p.iterations):
            nxt = []
            for v in views:
                other = shared.mean_without(v)
                nxt.append(_sandwich(v.local, other))
            for v, prob in zip(views, nxt, strict=True):
                v.prob = _normalise(prob)
            shared.refresh()
        fused = _normalise(shared.mean_all())
        fused = (fused + fused.T) / 2  # exactly symmetric (rounding aside, it is already)
        return _Fitted(ref, fused, views, n_ref)


@dataclass
class _Local:
    """A modality's fitted patients, as attaching needs them (step 1)."""

    name: str
    members: np.ndarray  # positions within the fitted patients with a modality
    x: torch.Tensor  # features of the members
    mean: torch.Tensor  # mean distance to local_k nearest members


@dataclass
class _View(_Local):
    prob: torch.Tensor  # P, members x members
    local: torch.Tensor  # S, sparse CSR


@dataclass
class _Reference:
    """What :meth:`SNFBuilder.attach` attaches new patients through."""

    modalities: list[str]
    ref: np.ndarray  # fitted patients with a modality: positions among the fitted
    fused: torch.Tensor  # F over them
    peak: np.ndarray  # m: each row's largest off-diagonal F (float32)
    views: list[_Local]


@dataclass
class _Fitted:
    patients: np.ndarray  # fitted patients with a modality (positions among all)
    fused: torch.Tensor  # F over them
    views: list[_View]
    n: int


def _kernel(
    dist: torch.Tensor, mean_q: torch.Tensor, mean_r: torch.Tensor, mu: float, kind: str
) -> torch.Tensor:
    """Affinity of each (query, reference) pair from distance and local scales (eq. 1)."""
    eps = (mean_q[:, None] + mean_r[None, :] + dist) / 3
    eps = torch.where(eps > _TINY, eps, 0.0) + _TINY  # as SNFtool/snfpy
    if kind == "paper":
        return torch.exp(-(dist**2) / (mu * eps))
    scale = mu * eps
    return torch.exp(-(dist**2) / (2 * scale**2)) / (math.sqrt(2 * math.pi) * scale)


def _normalise(w: torch.Tensor) -> torch.Tensor:
    """Equation 2, then symmetrised, of a symmetric ``w`` (in place).

    Equation 2 gives ``p_ij = w_ij d_i`` off the diagonal, with ``d_i = 1 / (2 sum_{k != i}
    w_ik)``, and 1/2 on it; SNFtool then takes ``(p + p^T) / 2``, which for symmetric ``w``
    is ``w_ij (d_i + d_j) / 2``: computed so, without a transposed (cache-hostile) pass.
    """
    rows = w.sum(dim=1) - w.diagonal()
    d = 1.0 / (2 * torch.where(rows > 0, rows, 1.0))
    w *= (d[:, None] + d[None, :]) / 2
    w.fill_diagonal_(0.5)
    return w


def _local(prob: torch.Tensor, keep: int) -> torch.Tensor:
    """Equation 3: each row's ``keep`` largest entries, rescaled to sum 1, as sparse CSR."""
    n = prob.shape[0]
    keep = min(keep, n)
    top = torch.topk(prob, keep, dim=1)
    values = top.values / top.values.sum(dim=1, keepdim=True)
    cols, order = torch.sort(top.indices, dim=1)
    values = torch.gather(values, 1, order)
    crow = torch.arange(0, n * keep + 1, keep, dtype=torch.int64)
    with warnings.catch_warnings():
        # torch flags sparse CSR as beta once per process; sparse @ dense is what SNF needs
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(
            crow, cols.reshape(-1), values.reshape(-1), (n, n), check_invariants=True
        )


def _sandwich(local: torch.Tensor, middle: torch.Tensor) -> torch.Tensor:
    """``S M S^T`` with sparse ``S``: ``O(n**2 k)`` instead of ``O(n**3)``."""
    left = local @ middle  # S M
    return local @ left.T  # S (S M)^T = S M^T S^T = S M S^T, as M is symmetric


class _Shared:
    """Means over modalities of the views' ``P``, pair by pair over the views both have."""

    def __init__(self, views: list[_View], n: int) -> None:
        self.views, self.n = views, n
        lengths = {len(v.members) for v in views}
        self.complete = lengths == {n}  # every fitted patient has every view
        if not self.complete:
            have = torch.zeros(n, len(views))
            for j, v in enumerate(views):
                have[torch.from_numpy(v.members), j] = 1.0
            self.have = have
        self.refresh()

    def refresh(self) -> None:
        if self.complete:
            self.total = self.views[0].prob.clone()
            for v in self.views[1:]:
                self.total += v.prob
            return
        total = torch.zeros(self.n, self.n)
        for v in self.views:
            idx = torch.from_numpy(v.members)
            for start in range(0, len(idx), 1024):
                rows = idx[start : start + 1024]
                total[rows[:, None], idx[None, :]] += v.prob[start : start + 1024]
        self.total = total

    def mean_without(self, v: _View) -> torch.Tensor:
        """``mean_{u != v} P_u`` over ``v``'s members; ``P_v`` where no other view covers a pair."""
        if len(self.views) == 1:
            return v.prob
        if self.complete and len(self.views) == 2:
            return self.views[1].prob if v is self.views[0] else self.views[0].prob
        if self.complete:
            return (self.total - v.prob) / (len(self.views) - 1)
        idx = torch.from_numpy(v.members)
        have = self.have[idx]
        others = have @ have.T - 1  # views other than v that both patients have
        rest = self.total[idx][:, idx] - v.prob
        return torch.where(others > 0, rest / others.clamp(min=1), v.prob)

    def mean_all(self) -> torch.Tensor:
        if self.complete:
            return self.total / len(self.views)
        count = self.have @ self.have.T
        return torch.where(count > 0, self.total / count.clamp(min=1), 0.0)
