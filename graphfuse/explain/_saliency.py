"""Gradient saliency: gradients of the explained output w.r.t. each patient's own features."""

from __future__ import annotations

from typing import Literal

import torch

from graphfuse.explain._base import (
    EXPLAINERS,
    ExplainContext,
    Explainer,
    ExplainerParams,
    Explanation,
)

__all__ = ["Saliency"]


class SaliencyParams(ExplainerParams):
    kind: Literal["gradient", "abs_gradient", "gradient_x_input"] = "gradient_x_input"
    """``gradient``: d output / d feature; ``abs_gradient``: its magnitude;
    ``gradient_x_input``: gradient times the feature's (standardised) value."""


@EXPLAINERS.register("saliency")
class Saliency(Explainer):
    """Gradient of each explained patient's output with respect to its own features.

    The graph is held fixed and every patient's output is differentiated with respect
    to *its own* feature row. One backward pass serves all patients only where their
    outputs do not depend on each other's features; in a graph they do (a training
    patient's features reach its neighbours), so the exact per-patient gradient needs
    patient-by-patient differentiation.
    """

    Params = SaliencyParams
    needs_gradients = True

    def _explain(self, ctx: ExplainContext) -> Explanation:
        feats = {m: x.clone().requires_grad_(True) for m, x in ctx.features().items()}
        out = {m: torch.zeros(len(ctx.patients), x.shape[1]) for m, x in feats.items()}
        for row, p in enumerate(ctx.patients):
            value = ctx.output(ctx.forward(feats))[p]
            grads = torch.autograd.grad(value, list(feats.values()))
            for m, g in zip(feats, grads, strict=True):
                out[m][row] = g[p]
        kind = self.params.kind
        scores = {}
        for m, g in out.items():
            if kind == "abs_gradient":
                g = g.abs()
            elif kind == "gradient_x_input":
                g = g * feats[m].detach()[ctx.patients]
            scores[m] = g.numpy()
        return Explanation(features=scores)
