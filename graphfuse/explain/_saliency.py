"""Gradient saliency and integrated gradients of each patient's output w.r.t. its own rows."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import torch
from pydantic import Field

from graphfuse.explain._base import (
    EXPLAINERS,
    ExplainContext,
    Explainer,
    ExplainerParams,
    Explanation,
)
from graphfuse.explain._perturb import own_row_gradients

__all__ = ["Saliency", "integration_points"]

#: Pairs (patient, integration step) per batch of integrated gradients.
_PAIRS_PER_BATCH = 16384


class SaliencyParams(ExplainerParams):
    kind: Literal["gradient", "abs_gradient", "gradient_x_input", "integrated_gradients"] = (
        "gradient_x_input"
    )
    """``gradient``: d output / d feature; ``abs_gradient``: its magnitude (unsigned);
    ``gradient_x_input``: gradient times the feature's (standardised) value;
    ``integrated_gradients``: the path integral of the gradient from ``baseline`` to the
    patient's rows, times their difference (Sundararajan et al., ICML 2017)."""
    baseline: Literal["mean", "zeros"] = "mean"
    """Integrated gradients' baseline: the training patients' mean row of each modality
    (default; no label used) or zeros (with standardised features, close to it)."""
    steps: int = Field(32, ge=1, le=4096)
    """Integrated gradients' integration points."""
    integration: Literal["gausslegendre", "riemann_trapezoid", "riemann_middle"] = "gausslegendre"
    """Quadrature rule of integrated gradients (captum's names; Gauss-Legendre is its
    default)."""


@EXPLAINERS.register("saliency")
class Saliency(Explainer):
    """Gradient of each explained patient's output with respect to its own features.

    The graph is held fixed and every patient's output is differentiated with respect
    to *its own* rows only. With message passing, a single backward pass of the summed
    outputs of all patients would add to each patient's gradient the effect of its
    features on its neighbours' outputs; here each gradient is exact per patient and
    all patients are still differentiated in batched passes
    (:func:`graphfuse.explain._perturb.own_row_gradients`).

    With ``kind="integrated_gradients"`` the scores of a patient add up to its output
    minus the output with all its rows at the baseline (completeness), up to the
    quadrature error of ``steps`` points.

    Examples
    --------
    >>> Saliency(kind="integrated_gradients", steps=16).params.baseline
    'mean'
    """

    Params = SaliencyParams
    needs_gradients = True
    hetero = True  # reads patient features only; tested on the hetero model

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.signed = self.params.kind != "abs_gradient"

    def _explain(self, ctx: ExplainContext) -> Explanation:
        feats = ctx.features()
        patients = torch.as_tensor(ctx.patients, dtype=torch.long)
        rows = {m: x[patients] for m, x in feats.items()}
        kind = self.params.kind
        if kind == "integrated_gradients":
            scores = self._integrated(ctx, patients, rows)
        else:
            _, grads = own_row_gradients(ctx, patients, rows)
            scores = {}
            for m, g in grads.items():
                g = g.double()
                if kind == "abs_gradient":
                    g = g.abs()
                elif kind == "gradient_x_input":
                    g = g * rows[m].double()
                scores[m] = g
        return Explanation(features={m: s.numpy() for m, s in scores.items()})

    def _integrated(
        self, ctx: ExplainContext, patients: torch.Tensor, rows: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        p = self.params
        if p.baseline == "mean":
            base = ctx.train_mean()
        else:
            base = {m: torch.zeros(x.shape[1], dtype=x.dtype) for m, x in rows.items()}
        alphas, weights = integration_points(p.steps, p.integration)
        a = torch.as_tensor(alphas, dtype=torch.float32)
        w = torch.as_tensor(weights, dtype=torch.float64)
        s = len(alphas)
        total = {
            m: torch.zeros(len(patients), x.shape[1], dtype=torch.float64) for m, x in rows.items()
        }
        per_batch = max(1, _PAIRS_PER_BATCH // s)
        for start in range(0, len(patients), per_batch):
            sl = slice(start, start + per_batch)
            k = len(patients[sl])
            owners = patients[sl].repeat_interleave(s)
            path = {}
            for m, x in rows.items():
                diff = x[sl] - base[m]
                path[m] = (base[m] + a[None, :, None] * diff[:, None, :]).reshape(k * s, -1)
            _, grads = own_row_gradients(ctx, owners, path)
            for m, g in grads.items():
                avg = (g.double().reshape(k, s, -1) * w[None, :, None]).sum(dim=1)
                total[m][sl] = avg * (rows[m][sl].double() - base[m].double())
        return total


def integration_points(steps: int, rule: str = "gausslegendre") -> tuple[np.ndarray, np.ndarray]:
    """Points ``alpha`` in [0, 1] and weights of a quadrature rule of integrated gradients.

    ``gausslegendre`` (Gauss-Legendre nodes mapped to [0, 1]), ``riemann_trapezoid``
    (``steps`` evenly spaced points including both ends) or ``riemann_middle``; the
    weights sum to 1. The points and weights of captum's ``approximation_parameters``,
    except that captum's trapezoid weights (``1/n`` inside, ``1/2n`` at the ends) sum to
    ``(n - 1) / n``; here they are the trapezoid rule's (``1/(n-1)``, ``1/2(n-1)``).

    Examples
    --------
    >>> a, w = integration_points(3, "riemann_trapezoid")
    >>> a.tolist(), w.tolist()
    ([0.0, 0.5, 1.0], [0.25, 0.5, 0.25])
    """
    if rule == "gausslegendre":
        x, w = np.polynomial.legendre.leggauss(steps)
        return 0.5 * (x + 1), 0.5 * w
    if rule == "riemann_trapezoid":
        if steps < 2:
            return np.array([0.0, 1.0]), np.array([0.5, 0.5])
        w = np.full(steps, 1.0 / (steps - 1))
        w[[0, -1]] /= 2
        return np.linspace(0.0, 1.0, steps), w
    if rule == "riemann_middle":
        return (np.arange(steps) + 0.5) / steps, np.full(steps, 1.0 / steps)
    raise ValueError(f"unknown integration rule {rule!r}")
