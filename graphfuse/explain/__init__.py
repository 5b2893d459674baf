"""Explain stage (SHAP, gradient saliency, graph masking, sensitivity analysis).

Not built yet: the explainer suite is tracked in its own issue. The stage's contract
(see ``docs/index.md``): an explainer takes a trained model and its ``HeteroData``
and returns an ``Attribution`` — per modality a patients x features table of scores.
"""

__all__: list[str] = []
