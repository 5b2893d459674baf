"""Gradient explainers: the gradient of each patient's output w.r.t. its own features.

A small base, :class:`GradientExplainer`, prepares every explained patient's own rows;
each algorithm is one class over it: :class:`Gradient`, :class:`AbsGradient`,
:class:`GradientXInput` here and :class:`~graphfuse.explain.IntegratedGradients` in its
own module. ``saliency`` (:class:`~graphfuse.explain.Saliency`) picks one by ``kind``.
"""

from __future__ import annotations

import torch

from graphfuse.explain._base import EXPLAINERS, ExplainContext, Explainer, ExplainerOutput
from graphfuse.explain._perturb import own_row_gradients

__all__ = ["AbsGradient", "Gradient", "GradientExplainer", "GradientXInput"]


class GradientExplainer(Explainer):
    """Base of the gradient explainers: scores from the patients' own rows.

    The graph is held fixed and every patient's output is differentiated with respect
    to *its own* rows only. With message passing, a single backward pass of the summed
    outputs of all patients would add to each patient's gradient the effect of its
    features on its neighbours' outputs; here each gradient is exact per patient and
    all patients are still differentiated in batched passes
    (:func:`graphfuse.explain._perturb.own_row_gradients`). A subclass implements
    :meth:`scores`.
    """

    needs_gradients = True
    hetero = True  # reads patient features only; tested on the hetero model

    def _explain(self, ctx: ExplainContext) -> ExplainerOutput:
        patients = torch.as_tensor(ctx.patients, dtype=torch.long, device=ctx.device)
        rows = {m: x[patients] for m, x in ctx.features().items()}
        scores = self.scores(ctx, patients, rows)
        return ExplainerOutput(features={m: s.cpu().numpy() for m, s in scores.items()})

    def scores(
        self, ctx: ExplainContext, patients: torch.Tensor, rows: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        """Per modality ``(patients, features)`` float64 scores of the explained ``patients``
        (node positions), whose own feature rows are ``rows``."""
        _, grads = own_row_gradients(ctx, patients, rows)
        return {m: self._from_gradient(g.double(), rows[m]) for m, g in grads.items()}

    def _from_gradient(self, gradient: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        return gradient


@EXPLAINERS.register("gradient")
class Gradient(GradientExplainer):
    """``d output / d feature`` of each explained patient's own features (signed).

    Examples
    --------
    >>> Gradient().signed
    True
    """


@EXPLAINERS.register("abs_gradient")
class AbsGradient(GradientExplainer):
    """``|d output / d feature|``: the gradient's magnitude (unsigned; Simonyan et al.,
    "Deep inside convolutional networks", ICLR workshop 2014).

    Examples
    --------
    >>> AbsGradient().signed
    False
    """

    signed = False

    def _from_gradient(self, gradient: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        return gradient.abs()


@EXPLAINERS.register("gradient_x_input")
class GradientXInput(GradientExplainer):
    """Gradient times the feature's (standardised) value (Shrikumar et al., "Not just a
    black box", 2016): a first-order estimate of the feature's share of the output.

    Examples
    --------
    >>> GradientXInput().params.model_dump()
    {}
    """

    def _from_gradient(self, gradient: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        return gradient * rows.double()
