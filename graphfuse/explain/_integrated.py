"""Integrated gradients of each patient's output w.r.t. its own rows (Sundararajan et al., 2017)."""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from pydantic import Field

from graphfuse.explain._base import EXPLAINERS, ExplainContext, ExplainerParams
from graphfuse.explain._baselines import FixedBaseline, fixed_baseline
from graphfuse.explain._gradients import GradientExplainer
from graphfuse.explain._perturb import own_row_gradients
from graphfuse.explain._ticks import patients_done

__all__ = ["IntegratedGradients", "IntegratedGradientsParams", "integration_points"]

#: Pairs (patient, integration step) per batch of integrated gradients.
_PAIRS_PER_BATCH = 16384

#: Quadrature rules of integrated gradients (captum's names).
Integration = Literal["gausslegendre", "riemann_trapezoid", "riemann_middle"]


class IntegratedGradientsParams(ExplainerParams):
    baseline: FixedBaseline = "mean"
    """Integrated gradients' baseline: the training patients' mean row of each modality
    (default; no label used) or zeros (with standardised features, close to it)."""
    steps: int = Field(32, ge=1, le=4096)
    """Integrated gradients' integration points."""
    integration: Integration = "gausslegendre"
    """Quadrature rule of integrated gradients (captum's names; Gauss-Legendre is its
    default)."""


@EXPLAINERS.register("integrated_gradients")
class IntegratedGradients(GradientExplainer):
    """The path integral of the gradient from the baseline to the patient's own rows,
    times their difference (Sundararajan, Taly & Yan, "Axiomatic attribution for deep
    networks", ICML 2017).

    The scores of a patient add up to its output minus the output with all its rows at
    the baseline (completeness), up to the quadrature error of ``steps`` points.

    Examples
    --------
    >>> IntegratedGradients(steps=16).params.baseline
    'mean'
    """

    Params = IntegratedGradientsParams

    def scores(
        self, ctx: ExplainContext, patients: torch.Tensor, rows: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        p = self.params
        base = fixed_baseline(ctx, p.baseline)
        alphas, weights = integration_points(p.steps, p.integration)
        device = patients.device
        a = torch.as_tensor(alphas, dtype=torch.float32, device=device)
        w = torch.as_tensor(weights, dtype=torch.float64, device=device)
        s = len(alphas)
        total = {
            m: torch.zeros(len(patients), x.shape[1], dtype=torch.float64, device=device)
            for m, x in rows.items()
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
            patients_done(min(start + per_batch, len(patients)), len(patients))
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
