"""``saliency``: one explainer name for the four gradient algorithms, chosen by ``kind``."""

from __future__ import annotations

from typing import Any, Literal

import torch

from graphfuse.explain._base import EXPLAINERS, ExplainContext
from graphfuse.explain._gradients import AbsGradient, Gradient, GradientExplainer, GradientXInput
from graphfuse.explain._integrated import (
    IntegratedGradients,
    IntegratedGradientsParams,
    integration_points,
)

__all__ = ["SALIENCY_KINDS", "Saliency", "SaliencyParams", "integration_points"]

#: ``kind`` of :class:`Saliency` -> the algorithm (each also registered under its kind).
SALIENCY_KINDS: dict[str, type[GradientExplainer]] = {
    "gradient": Gradient,
    "abs_gradient": AbsGradient,
    "gradient_x_input": GradientXInput,
    "integrated_gradients": IntegratedGradients,
}


class SaliencyParams(IntegratedGradientsParams):
    kind: Literal["gradient", "abs_gradient", "gradient_x_input", "integrated_gradients"] = (
        "gradient_x_input"
    )
    """``gradient``: d output / d feature; ``abs_gradient``: its magnitude (unsigned);
    ``gradient_x_input``: gradient times the feature's (standardised) value;
    ``integrated_gradients``: the path integral of the gradient from ``baseline`` to the
    patient's rows, times their difference (Sundararajan et al., ICML 2017). ``baseline``,
    ``steps`` and ``integration`` are those of :class:`IntegratedGradientsParams`."""


@EXPLAINERS.register("saliency")
class Saliency(GradientExplainer):
    """Gradient saliency of each explained patient's own features, by ``kind``.

    Runs the algorithm of :data:`SALIENCY_KINDS` that ``kind`` names (also registered
    under that name): :class:`~graphfuse.explain.Gradient`,
    :class:`~graphfuse.explain.AbsGradient`, :class:`~graphfuse.explain.GradientXInput`
    (the default) or :class:`~graphfuse.explain.IntegratedGradients` (with ``baseline``,
    ``steps`` and ``integration``); the attribution is filed under ``saliency`` with
    these parameters.

    With ``kind="integrated_gradients"`` the scores of a patient add up to its output
    minus the output with all its rows at the baseline (completeness), up to the
    quadrature error of ``steps`` points.

    Examples
    --------
    >>> Saliency(kind="integrated_gradients", steps=16).params.baseline
    'mean'
    """

    Params = SaliencyParams

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        p = self.params
        if p.kind == "integrated_gradients":
            kind = IntegratedGradients(
                baseline=p.baseline, steps=p.steps, integration=p.integration
            )
        else:
            kind = SALIENCY_KINDS[p.kind]()
        self.algorithm: GradientExplainer = kind
        self.signed = kind.signed

    def scores(
        self, ctx: ExplainContext, patients: torch.Tensor, rows: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        return self.algorithm.scores(ctx, patients, rows)
