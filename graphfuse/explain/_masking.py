"""Graph masking: learned soft masks over features and edges (the GNNExplainer objective)."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from pydantic import Field
from scipy.stats import rankdata
from torch_geometric.data import HeteroData

from graphfuse.explain._base import (
    EXPLAINERS,
    ExplainContext,
    Explainer,
    ExplainerOutput,
    ExplainerParams,
    with_features,
)
from graphfuse.explain._baselines import FixedBaseline, fixed_baseline
from graphfuse.graphs import PATIENT

__all__ = ["Masking", "MaskingParams"]

EdgeType = tuple[str, str, str]


class MaskingParams(ExplainerParams):
    epochs: int = Field(100, ge=1, le=100_000)
    """Optimisation steps per restart (Adam, all explained patients jointly)."""
    lr: float = Field(0.1, gt=0.0, le=10.0)
    """Adam learning rate on the mask logits (GNNExplainer's reference code uses 0.01; at
    100 steps that leaves every mask within ``sigmoid(±1)``, too close to its start)."""
    restarts: int = Field(3, ge=1, le=100)
    """Independent optimisations from different random starts; their masks are averaged."""
    objective: Literal["auto", "target", "prediction", "output"] = "auto"
    """``target``: maximise the log-probability of the explained class; ``prediction``:
    of each patient's predicted class (GNNExplainer's original choice); ``output``: keep the
    explained output (squared change of the target's log-odds); ``auto`` (default):
    ``target`` when ``explain(..., target=...)`` names a class, else ``prediction`` (on the
    synthetic cohort it recovered the planted genes better: AUPRC 0.92 against 0.79 for
    ``target``). Models with one output (a risk score) always use ``output``."""
    baseline: FixedBaseline = "mean"
    """What a masked-out feature is replaced by: the mean of the training patients having
    the modality (no label used), or 0."""
    edges: bool = True
    """Also learn edge masks (for the edge types the model's output depends on)."""
    feature_size: float = Field(1.0, ge=0.0)
    """L1 penalty on each patient's feature mask, averaged over its features."""
    feature_entropy: float = Field(0.1, ge=0.0)
    """Entropy penalty on each patient's feature mask, averaged over its features."""
    edge_size: float = Field(0.005, ge=0.0)
    """L1 penalty on the edge masks, summed over edges."""
    edge_entropy: float = Field(0.01, ge=0.0)
    """Entropy penalty on the edge masks, summed over edges."""
    init_std: float = Field(0.1, ge=0.0, le=10.0)
    """Standard deviation of the initial mask logits (mean 0: masks start near 0.5)."""


@dataclass
class _Problem:
    """Everything the optimisation reuses across steps and restarts."""

    ctx: ExplainContext
    unique: torch.Tensor  # (U,) explained node positions, each once
    features: dict[str, torch.Tensor]  # full matrices, absent rows 0
    own_base: dict[str, torch.Tensor]  # (U, F_m) baseline; 0 where the modality is absent
    own_delta: dict[str, torch.Tensor]  # (U, F_m) features - baseline; 0 where absent
    all_patients: bool  # every node is explained (unique == arange(n))
    available: torch.Tensor  # (U, M) float
    n_features: torch.Tensor  # (U,) features each explained patient has
    edge_types: list[EdgeType]  # edge types with edge_weight that the output depends on
    target: torch.Tensor | None  # (U,) class whose log-probability is maximised
    reference: torch.Tensor | None  # (U,) unmasked output, for objective "output"


@EXPLAINERS.register("masking")
class Masking(Explainer):
    """Learned soft masks over features and edges that keep the prediction while staying sparse.

    The GNNExplainer objective (Ying et al., "GNNExplainer: Generating explanations for
    graph neural networks", NeurIPS 2019): mask logits ``s`` are learned by Adam so that
    the model, fed masked inputs, still predicts the explained class, while the masks
    ``sigmoid(s)`` stay small (L1) and near 0 or 1 (entropy)::

        loss = sum_p [ -log p_target(p | masked)
                       + feature_size * mean_f m_pf + feature_entropy * mean_f H(m_pf) ]
               + edge_size * sum_e m_e + edge_entropy * sum_e H(m_e)

    (``objective`` chooses the first term; see :class:`MaskingParams`.)

    **Feature masks**: one per explained patient per feature, applied to that patient's own
    row: ``x' = m * x + (1 - m) * baseline``, the baseline being the training patients'
    mean by default (``baseline``); rows of unexplained patients are untouched. The
    score of a feature is its mask value in ``[0, 1]`` (unsigned: how much of it the
    prediction needs, not its direction). With ``objective="target"`` a feature that
    pushes a patient *away* from the target class is masked out, so scores are evidence
    for the explained class.

    **Edge masks**: one per edge of every edge type carrying ``edge_weight`` (each
    modality graph, the fused graph where present — and, generically, any edge type of a
    ``HeteroData``) whose weights the model's output depends on; applied by multiplying
    ``edge_weight`` on a shallow copy of the graph. Graph-free models (MLPs, linear and
    tree baselines) get feature masks only. An edge is reported when its mask ever received
    a gradient from an explained patient's output (edges outside every explained patient's
    receptive field are left out); scores go to :attr:`Attribution.edge_scores` under the
    relation name (``similar_<modality>``, ``similar_fused``).

    **Joint optimisation**: the masks of all explained patients are learned in one
    optimisation (seconds for hundreds of patients, instead of minutes one by one). It
    approximates the per-patient GNNExplainer in two ways: (1) all explained patients are
    masked at once, so a patient's output is computed with its neighbours' features
    masked too, and a patient's feature mask also receives gradient from its neighbours'
    objectives; (2) edge masks are shared by all explained patients (one global mask per
    edge) instead of one mask per patient over its computation subgraph. For models whose
    outputs depend on each patient's own row only (graph-free models) it is *exactly* the
    one-by-one optimisation: each patient's objective involves only its own mask, and
    Adam updates each mask entry independently.

    **Restarts**: single runs are unstable (the objective is not convex), so ``restarts``
    optimisations from different random starts — all drawn from the explanation's seed —
    are averaged. Their agreement is reported in ``Attribution.diagnostics``:
    ``restart_rank_correlation`` (mean pairwise Spearman correlation of the restarts'
    global feature importances: each feature's mean mask over the explained patients
    having it), ``restart_patient_rank_correlation`` (the same per patient over its own
    features, averaged over patients) and ``restart_edge_rank_correlation``; ``None`` for
    a single restart. ``diagnostics["edge_types"]`` lists the edge types that were masked.

    **Cost**: one forward and backward pass of the whole graph per step, ``epochs x
    restarts`` steps, whatever the number of explained patients. A patient lacking a
    modality keeps its (zero) row unmasked and unpenalised; its row of scores is NaN.

    Examples
    --------
    >>> from graphfuse.explain import EXPLAINERS
    >>> EXPLAINERS.get("masking")(restarts=2).params.restarts
    2
    """

    Params = MaskingParams
    signed = False
    needs_gradients = True
    seeded = True
    hetero = True  # masks patient features and every edge_weight; tested on hetero

    def _explain(self, ctx: ExplainContext) -> ExplainerOutput:
        p = self.params
        problem = _prepare(ctx, p)
        feats, edges = [], []
        touched = {
            et: torch.zeros(ctx.data[et].edge_weight.shape[0], dtype=torch.bool, device=ctx.device)
            for et in problem.edge_types
        }
        for _ in range(p.restarts):
            f, e, t = _optimise(problem, p, ctx.generator)
            feats.append(f)
            edges.append(e)
            for et, mask in t.items():
                touched[et] |= mask
        _, inverse = np.unique(ctx.patients, return_inverse=True)
        features = {
            m: torch.stack([f[m] for f in feats]).mean(0)[inverse].cpu().numpy()
            for m in ctx.modalities
        }
        edge_frames = {}
        for et in problem.edge_types:
            keep = touched[et]
            if not bool(keep.any()) or et[0] != PATIENT or et[2] != PATIENT:
                # ExplainerOutput.edges are over patient positions: edges to other node types
                # (knowledge graphs) are masked but not reported
                continue
            index = ctx.data[et].edge_index[:, keep]
            score = torch.stack([e[et] for e in edges]).mean(0)[keep]
            edge_frames[_edge_name(et)] = pd.DataFrame(
                {
                    "source": index[0].cpu().numpy(),
                    "target": index[1].cpu().numpy(),
                    "score": score.cpu().numpy().astype(np.float64),
                }
            )
        diagnostics = _diagnostics(problem, feats, edges, touched)
        return ExplainerOutput(features=features, edges=edge_frames, diagnostics=diagnostics)


# ---------------------------------------------------------------------------- preparation
def _prepare(ctx: ExplainContext, p: MaskingParams) -> _Problem:
    unique = torch.as_tensor(np.unique(ctx.patients), device=ctx.device)
    features = ctx.features()
    baseline = fixed_baseline(ctx, p.baseline)
    available = ctx.available[unique].float()
    # a patient's absent modality keeps its zero row: the mask is neither applied nor penalised
    have = {m: available[:, i, None] for i, m in enumerate(ctx.modalities)}
    sizes = torch.tensor(
        [features[m].shape[1] for m in ctx.modalities], dtype=torch.float32, device=ctx.device
    )
    with torch.no_grad():
        logits = ctx.forward(features)
    objective = "output" if logits.shape[1] == 1 else p.objective
    if objective == "auto":
        objective = "target" if ctx.target_given else "prediction"
    target = reference = None
    if objective == "target":
        target = ctx.target[unique]
    elif objective == "prediction":
        target = logits[unique].argmax(dim=1)
    else:
        reference = ctx.output(logits)[unique]
    problem = _Problem(
        ctx=ctx,
        unique=unique,
        features=features,
        own_base={m: baseline[m] * have[m] for m in features},
        own_delta={m: (x[unique] - baseline[m]) * have[m] for m, x in features.items()},
        all_patients=len(unique) == ctx.n_nodes,
        available=available,
        n_features=(available * sizes).sum(dim=1).clamp(min=1.0),
        edge_types=[],
        target=target,
        reference=reference,
    )
    if p.edges:
        problem.edge_types = _used_edge_types(problem)
    return problem


def _maskable(data: HeteroData) -> list[EdgeType]:
    return [et for et in data.edge_types if "edge_weight" in data[et]]


def _used_edge_types(problem: _Problem) -> list[EdgeType]:
    """Edge types whose ``edge_weight`` the explained outputs depend on (one probe pass)."""
    data = problem.ctx.data
    candidates = _maskable(data)
    if not candidates:
        return []
    probes = {
        et: torch.ones(
            data[et].edge_weight.shape[0], device=data[et].edge_weight.device, requires_grad=True
        )
        for et in candidates
    }
    graph = _masked_graph(data, problem.features, probes)
    # the explained outputs themselves: the loss of objective "output" is flat here
    value = problem.ctx.output(problem.ctx.model(graph))[problem.unique].sum()
    grads = torch.autograd.grad(value, list(probes.values()), allow_unused=True)
    return [
        et
        for et, g in zip(candidates, grads, strict=True)
        if g is not None and bool((g != 0).any())
    ]


# --------------------------------------------------------------------------- optimisation
def _optimise(
    problem: _Problem, p: MaskingParams, generator: torch.Generator
) -> tuple[dict[str, torch.Tensor], dict[EdgeType, torch.Tensor], dict[EdgeType, torch.Tensor]]:
    """One restart: ``(feature masks (U, F_m), edge masks (E,), edges that got gradient)``."""
    ctx = problem.ctx
    # starts are drawn for every node and then selected, so a patient's start does not
    # depend on which other patients are explained; drawn on the generator's device (the
    # CPU) and moved, so a seed starts alike on every device
    feat_logits = {
        m: (_normal(x.shape, generator, ctx.device)[problem.unique] * p.init_std).requires_grad_(
            True
        )
        for m, x in problem.features.items()
    }
    edge_logits = {
        et: (
            _normal(ctx.data[et].edge_weight.shape, generator, ctx.device) * p.init_std
        ).requires_grad_(True)
        for et in problem.edge_types
    }
    params = list(feat_logits.values()) + list(edge_logits.values())
    optimiser = torch.optim.Adam(params, lr=p.lr, foreach=True)
    touched = {et: torch.zeros_like(s, dtype=torch.bool) for et, s in edge_logits.items()}
    hooks = {et: _touch(touched[et]) for et in edge_logits}
    for _ in range(p.epochs):
        feat_masks = {m: torch.sigmoid(s) for m, s in feat_logits.items()}
        edge_masks = {et: torch.sigmoid(s) for et, s in edge_logits.items()}
        feats = {m: _mask_rows(problem, m, feat_masks[m]) for m in feat_masks}
        graph = _masked_graph(ctx.data, feats, edge_masks, hooks)
        loss = _prediction_loss(problem, ctx.model(graph)) + _penalty(
            problem, p, (feat_logits, feat_masks), (edge_logits, edge_masks)
        )
        # gradients of the masks only: the model's parameters are left alone
        grads = torch.autograd.grad(loss, params)
        for param, grad in zip(params, grads, strict=True):
            param.grad = grad
        optimiser.step()
    with torch.no_grad():
        feat_out = {m: torch.sigmoid(s) for m, s in feat_logits.items()}
        edge_out = {et: torch.sigmoid(s) for et, s in edge_logits.items()}
    return feat_out, edge_out, touched


def _normal(shape: torch.Size, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """Standard normal draws on the generator's device, moved to ``device``."""
    return torch.randn(shape, generator=generator, device=generator.device).to(device)


def _mask_rows(problem: _Problem, modality: str, mask: torch.Tensor) -> torch.Tensor:
    """The modality's feature matrix with explained rows ``baseline + mask * (x - baseline)``."""
    rows = problem.own_base[modality] + mask * problem.own_delta[modality]
    if problem.all_patients:
        return rows
    return problem.features[modality].index_copy(0, problem.unique, rows)


def _touch(touched: torch.Tensor) -> Callable[[torch.Tensor], None]:
    """A gradient hook on masked edge weights marking the edges the prediction reaches."""

    def hook(grad: torch.Tensor) -> None:
        touched.logical_or_(grad != 0)

    return hook


def _masked_graph(
    data: HeteroData,
    features: dict[str, torch.Tensor],
    edge_masks: dict[EdgeType, torch.Tensor],
    hooks: dict[EdgeType, Callable[[torch.Tensor], None]] | None = None,
) -> HeteroData:
    """Shallow copy of ``data`` with features replaced and edge weights multiplied by masks.

    ``hooks`` see the gradient of the loss with respect to the masked weights, which only
    the model's output (not the mask penalties) depends on.
    """
    graph = with_features(data, features) if features else copy.copy(data)
    for et, mask in edge_masks.items():
        weight = data[et].edge_weight * mask
        if hooks is not None:
            weight.register_hook(hooks[et])
        graph[et].edge_weight = weight
    return graph


def _prediction_loss(problem: _Problem, logits: torch.Tensor) -> torch.Tensor:
    """Sum over the explained patients of their prediction term."""
    rows = logits[problem.unique]
    if problem.target is not None:
        logp = torch.log_softmax(rows, dim=1)
        return -logp.gather(1, problem.target[:, None]).sum()
    out = problem.ctx.output(logits)[problem.unique]
    return ((out - problem.reference) ** 2).sum()


def _entropy(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Binary entropy of ``mask = sigmoid(logits)``, from the logits (stable, one log)."""
    return torch.nn.functional.softplus(logits) - logits * mask


def _penalty(
    problem: _Problem,
    p: MaskingParams,
    feat: tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]],
    edge: tuple[dict[EdgeType, torch.Tensor], dict[EdgeType, torch.Tensor]],
) -> torch.Tensor:
    """Size and entropy penalties from ``(logits, masks)``; a patient's absent modalities
    do not count."""
    (feat_logits, feat_masks), (edge_logits, edge_masks) = feat, edge
    size = entropy = torch.zeros(len(problem.unique), device=problem.unique.device)
    for i, m in enumerate(problem.ctx.modalities):
        have = problem.available[:, i]
        size = size + feat_masks[m].sum(dim=1) * have
        entropy = entropy + _entropy(feat_logits[m], feat_masks[m]).sum(dim=1) * have
    total = ((p.feature_size * size + p.feature_entropy * entropy) / problem.n_features).sum()
    for et, mask in edge_masks.items():
        total = total + p.edge_size * mask.sum()
        total = total + p.edge_entropy * _entropy(edge_logits[et], mask).sum()
    return total


# ---------------------------------------------------------------------------- reporting
def _edge_name(et: EdgeType) -> str:
    """``similar_<m>`` for patient-patient relations, ``src__rel__dst`` otherwise."""
    if et[0] == PATIENT and et[2] == PATIENT:
        return et[1]
    return "__".join(et)


def _spearman_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman correlation of each row of ``a`` with the same row of ``b``."""
    ra = rankdata(a, axis=1)
    rb = rankdata(b, axis=1)
    ra = ra - ra.mean(axis=1, keepdims=True)
    rb = rb - rb.mean(axis=1, keepdims=True)
    denom = np.sqrt((ra**2).sum(axis=1) * (rb**2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, (ra * rb).sum(axis=1) / denom, np.nan)


def _mean_pairwise(vectors: list[np.ndarray]) -> float | None:
    if len(vectors) < 2 or len(vectors[0]) < 2:
        return None
    values = [
        float(_spearman_rows(a[None], b[None])[0]) for a, b in itertools.combinations(vectors, 2)
    ]
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else None


def _diagnostics(
    problem: _Problem,
    feats: list[dict[str, torch.Tensor]],
    edges: list[dict[EdgeType, torch.Tensor]],
    touched: dict[EdgeType, torch.Tensor],
) -> dict[str, Any]:
    modalities = problem.ctx.modalities
    available = problem.available.cpu().numpy().astype(bool)
    globals_ = []
    for f in feats:
        parts = []
        for i, m in enumerate(modalities):
            have = available[:, i]
            values = f[m].cpu().numpy()
            parts.append(values[have].mean(axis=0) if have.any() else np.zeros(values.shape[1]))
        globals_.append(np.concatenate(parts))
    patient_corr = None
    if len(feats) > 1:
        # group patients by which modalities they have, so each row ranks its own features
        patterns = {tuple(row) for row in available}
        sums, count = 0.0, 0
        for pattern in patterns:
            rows = np.flatnonzero((available == np.array(pattern)).all(axis=1))
            mods = [m for m, have in zip(modalities, pattern, strict=True) if have]
            if not mods:
                continue
            tables = [
                np.concatenate([f[m].cpu().numpy()[rows] for m in mods], axis=1) for f in feats
            ]
            for a, b in itertools.combinations(tables, 2):
                r = _spearman_rows(a, b)
                r = r[np.isfinite(r)]
                sums += float(r.sum())
                count += len(r)
        patient_corr = sums / count if count else None
    edge_vectors = [
        np.concatenate([e[et][touched[et]].cpu().numpy() for et in problem.edge_types])
        for e in edges
        if problem.edge_types
    ]
    return {
        "restart_rank_correlation": _mean_pairwise(globals_),
        "restart_patient_rank_correlation": patient_corr,
        "restart_edge_rank_correlation": _mean_pairwise(edge_vectors) if edge_vectors else None,
        "edge_types": [_edge_name(et) for et in problem.edge_types],
    }
