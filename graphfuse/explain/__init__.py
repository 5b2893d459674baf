"""Explain stage: SHAP, gradient saliency, graph masking and sensitivity analysis.

Every explainer takes a trained model and its patient graph and returns an
:class:`Attribution` — per modality a patients x features table of scores — which maps
features to genes, ranks genes, aggregates to pathways and saves/loads itself::

    from graphfuse.explain import explain

    attribution = explain(result.model, result.data, "saliency")
    attribution.gene_ranking()[:20]
"""

from graphfuse.explain._attribution import Attribution
from graphfuse.explain._average import average_attributions, explain_members, member_weights
from graphfuse.explain._base import (
    EXPLAINERS,
    ExplainContext,
    Explainer,
    ExplainerOutput,
    ExplainerParams,
    build_explainer,
    explain,
)
from graphfuse.explain._faithfulness import FaithfulnessResult, faithfulness
from graphfuse.explain._gradients import AbsGradient, Gradient, GradientExplainer, GradientXInput
from graphfuse.explain._integrated import IntegratedGradients
from graphfuse.explain._masking import Masking
from graphfuse.explain._perturb import (
    own_row_gradients,
    perturbation_engine,
    perturbed_outputs,
    replaced_outputs,
)
from graphfuse.explain._perturb_gcn import GCNFusionEngine  # noqa: F401 (registers fast paths)
from graphfuse.explain._plots import agreement_figure, heatmap_figure, top_features_figure
from graphfuse.explain._run import build_explainers, run
from graphfuse.explain._saliency import Saliency
from graphfuse.explain._sensitivity import Sensitivity
from graphfuse.explain._shap import Shap, ShapleyGame, patient_game
from graphfuse.explain._shapley import exact_shapley
from graphfuse.explain._stability import agreement, consensus_ranking, rank_stability
from graphfuse.explain._truth import planted_truth, score_attribution, truth_scores

__all__ = [
    "EXPLAINERS",
    "AbsGradient",
    "Attribution",
    "ExplainContext",
    "Explainer",
    "ExplainerOutput",
    "ExplainerParams",
    "FaithfulnessResult",
    "Gradient",
    "GradientExplainer",
    "GradientXInput",
    "IntegratedGradients",
    "Masking",
    "Saliency",
    "Sensitivity",
    "Shap",
    "ShapleyGame",
    "agreement",
    "agreement_figure",
    "average_attributions",
    "build_explainer",
    "build_explainers",
    "consensus_ranking",
    "exact_shapley",
    "explain",
    "explain_members",
    "faithfulness",
    "heatmap_figure",
    "member_weights",
    "own_row_gradients",
    "patient_game",
    "perturbation_engine",
    "perturbed_outputs",
    "planted_truth",
    "rank_stability",
    "replaced_outputs",
    "run",
    "score_attribution",
    "top_features_figure",
    "truth_scores",
]


def __getattr__(name: str) -> object:
    # ``Explanation`` was the name of :class:`ExplainerOutput`; it is kept as a deprecated
    # alias (it is not PyG's ``Explanation``: see :meth:`Attribution.to_pyg`).
    if name == "Explanation":
        import warnings

        warnings.warn(
            "graphfuse.explain.Explanation is deprecated: it is now called ExplainerOutput "
            "(PyG's Explanation of an attribution is Attribution.to_pyg())",
            DeprecationWarning,
            stacklevel=2,
        )
        return ExplainerOutput
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
