"""Reference inputs of the explainers: the training mean, zeros, or sampled training rows.

Every explainer that compares a patient's features with "no information" — integrated
gradients' path start, sensitivity's replacement values, SHAP's background, masking's
masked-out value, faithfulness' deleted features — takes its reference rows from here.
They are computed from **training patients only** (those having the modality; all
patients having it when no training patient does) and use no label.
"""

from __future__ import annotations

from typing import Literal, Protocol

import numpy as np
import torch
from torch_geometric.data import HeteroData

from graphfuse.errors import DataError
from graphfuse.graphs import PATIENT

__all__ = [
    "FixedBaseline",
    "fixed_baseline",
    "patient_samples",
    "sample_pool",
    "shared_samples",
    "training_mean",
    "training_rows",
]


class ExplainContext(Protocol):
    """What the reference inputs read of an explanation context
    (:class:`graphfuse.explain.ExplainContext` has it)."""

    data: HeteroData
    modalities: list[str]
    available: torch.Tensor

    def features(self) -> dict[str, torch.Tensor]: ...


#: A baseline that is one row per modality (the same for every patient).
FixedBaseline = Literal["mean", "zeros"]


def training_rows(ctx: ExplainContext, i: int) -> torch.Tensor:
    """``(n_nodes,)`` bool: the training patients having modality ``i`` (of
    ``ctx.modalities``), or every patient having it when no training patient does."""
    have = ctx.available[:, i]
    rows = ctx.data[PATIENT].train_mask & have
    if not bool(rows.any()):
        rows = have
    return rows


def training_mean(ctx: ExplainContext) -> dict[str, torch.Tensor]:
    """Per modality, the mean feature vector ``(features,)`` of :func:`training_rows`."""
    feats = ctx.features()
    return {m: feats[m][training_rows(ctx, i)].mean(dim=0) for i, m in enumerate(ctx.modalities)}


def fixed_baseline(ctx: ExplainContext, kind: FixedBaseline) -> dict[str, torch.Tensor]:
    """Per modality one reference row ``(features,)``: ``"mean"`` (:func:`training_mean`)
    or ``"zeros"`` (with standardised features, close to the mean)."""
    if kind == "mean":
        return training_mean(ctx)
    if kind == "zeros":
        return {
            m: torch.zeros(x.shape[1], dtype=x.dtype, device=x.device)
            for m, x in ctx.features().items()
        }
    raise ValueError(f"unknown baseline {kind!r}; expected 'mean' or 'zeros'")


def sample_pool(ctx: ExplainContext, i: int, who: str) -> torch.Tensor:
    """Positions of the patients whose rows of modality ``i`` may be drawn as a baseline.

    Raises
    ------
    DataError
        No patient has the modality.
    """
    pool = torch.nonzero(training_rows(ctx, i)).ravel()
    if not len(pool):
        m = ctx.modalities[i]
        raise DataError(f"{who}: no patient has modality {m!r}; nothing to draw a background")
    return pool


def shared_samples(
    ctx: ExplainContext, k: int, rng: np.random.Generator, who: str
) -> dict[str, torch.Tensor]:
    """Per modality ``(k, features)`` rows of training patients drawn by ``rng`` (the
    same rows for every explained patient; with replacement only when the pool has fewer
    than ``k`` patients), modalities drawn in the order of ``ctx.modalities``."""
    feats = ctx.features()
    rows = {}
    for i, m in enumerate(ctx.modalities):
        pool = sample_pool(ctx, i, who).cpu().numpy()
        pick = rng.choice(pool, size=k, replace=len(pool) < k)
        rows[m] = feats[m][torch.as_tensor(pick, device=feats[m].device)]
    return rows


def patient_samples(
    ctx: ExplainContext, n: int, k: int, generator: torch.Generator, who: str
) -> dict[str, torch.Tensor]:
    """Per modality ``(n, k, features)``: for each of ``n`` explained patients ``k`` rows of
    training patients drawn with replacement by ``generator`` (on its device, then moved
    to the features'), modalities in the order of ``ctx.modalities``."""
    feats = ctx.features()
    out = {}
    for i, m in enumerate(ctx.modalities):
        pool = sample_pool(ctx, i, who)
        draws = torch.randint(0, len(pool), (n, k), generator=generator, device=generator.device)
        draws = draws.to(pool.device)
        out[m] = feats[m][pool[draws]]
    return out
