"""Outputs of patients whose own features are replaced, everything else held fixed.

The shared engine of perturbation explainers (sensitivity, SHAP): "what would patient
``p``'s output be if its feature rows were these?", for many (patient, rows) pairs.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from graphfuse.explain._base import ExplainContext

__all__ = ["perturbed_outputs"]


@torch.no_grad()
def perturbed_outputs(
    ctx: ExplainContext,
    owners: torch.Tensor,
    rows: Mapping[str, torch.Tensor],
) -> torch.Tensor:
    """Explained output of patient ``owners[b]`` with its own features set to ``rows[m][b]``.

    Reference implementation: one full-graph forward pass per pair.

    Parameters
    ----------
    ctx
        The explanation context (model, graph, targets).
    owners
        ``(B,)`` node positions.
    rows
        ``modality -> (B, features)`` replacement rows (a modality left out keeps the
        patient's own row).

    Returns
    -------
    torch.Tensor
        ``(B,)`` explained outputs (:meth:`ExplainContext.output`).
    """
    base = ctx.features()
    out = torch.empty(len(owners))
    for b, p in enumerate(owners.tolist()):
        feats = dict(base)
        for m, r in rows.items():
            x = base[m].clone()
            x[p] = r[b]
            feats[m] = x
        out[b] = ctx.output(ctx.forward(feats))[p]
    return out
