"""Explain stage: SHAP, gradient saliency, graph masking and sensitivity analysis.

Every explainer takes a trained model and its patient graph and returns an
:class:`Attribution` — per modality a patients x features table of scores — which maps
features to genes, ranks genes, aggregates to pathways and saves/loads itself::

    from graphfuse.explain import explain

    attribution = explain(result.model, result.data, "saliency")
    attribution.gene_ranking()[:20]
"""

from graphfuse.explain._attribution import Attribution
from graphfuse.explain._base import (
    EXPLAINERS,
    ExplainContext,
    Explainer,
    ExplainerParams,
    Explanation,
    build_explainer,
    explain,
)
from graphfuse.explain._saliency import Saliency

__all__ = [
    "EXPLAINERS",
    "Attribution",
    "ExplainContext",
    "Explainer",
    "ExplainerParams",
    "Explanation",
    "Saliency",
    "build_explainer",
    "explain",
]
