"""The controls of the explainer benchmark: rankings a reviewer compares explanations with.

- :func:`model_free_ranking`: per-gene ``|t|`` (Welch, two classes; the one-way ANOVA F
  statistic for more) on the **training patients only**, of the features the model saw
  (after preprocessing) — what a ranking needs no model for;
- :func:`coefficient_ranking`: ``|coefficient|`` of the ``logistic`` baseline fitted on the
  same features (the largest over classes);
- :func:`permuted_cohort`: the cohort with its labels permuted, to train the **null** model:
  the same model on labels that carry no biology, explained the same way, must recover
  nothing;
- :func:`consensus_ranking`: the explainers' mean rank per gene.

A gene measured by several features takes the largest score of its features (the rule of
:meth:`graphfuse.explain.Attribution.gene_importance`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from torch_geometric.data import HeteroData

from graphfuse.data import Cohort
from graphfuse.errors import DataError
from graphfuse.graphs import PATIENT, feature_key, graph_info

__all__ = [
    "coefficient_ranking",
    "consensus_ranking",
    "gene_scores",
    "model_free_ranking",
    "permuted_cohort",
]


def gene_scores(scores: Mapping[str, np.ndarray], data: HeteroData) -> pd.Series:
    """Per-feature scores (``modality -> one score per feature``) as per-gene scores: the
    largest score of a gene's features, sorted decreasing; features without a gene are
    left out."""
    info = graph_info(data)
    genes, values = [], []
    for modality, score in scores.items():
        names = info.feature_names.get(modality, [])
        mapping = info.feature_genes.get(modality, {})
        if len(names) != len(score):
            raise ValueError(f"{modality}: {len(score)} scores for {len(names)} features")
        for name, value in zip(names, score, strict=True):
            gene = mapping.get(name)
            if gene is not None:
                genes.append(gene)
                values.append(float(value))
    if not genes:
        raise DataError("no feature of the model maps to a gene (var['gene'])")
    series = pd.Series(values, index=genes).groupby(level=0).max()
    return series.sort_values(ascending=False, kind="stable").rename("importance")


def _training(data: HeteroData, modality: str) -> tuple[np.ndarray, np.ndarray]:
    store = data[PATIENT]
    index = list(data.modalities).index(modality)
    keep = (store.train_mask & store.available[:, index]).numpy()
    return store[feature_key(modality)].numpy()[keep].astype(np.float64), store.y.numpy()[keep]


def model_free_ranking(data: HeteroData) -> pd.Series:
    """Per-gene ``|t|`` of the training patients (Welch's t for two classes, the one-way
    ANOVA F for more), of every omics feature with a gene, largest per gene.

    Examples
    --------
    Used by the benchmark on a prepared model's graph data::

        model_free_ranking(fitted.data).head()
    """
    info = graph_info(data)
    scores = {}
    for modality, mapping in info.feature_genes.items():
        if not mapping:
            continue
        x, y = _training(data, modality)
        scores[modality] = _statistic(x, y)
    return gene_scores(scores, data)


def _statistic(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    classes = np.unique(y)
    if len(classes) < 2:
        raise DataError("the training patients have one class only; no t statistic")
    if len(classes) == 2:
        a, b = x[y == classes[0]], x[y == classes[1]]
        va = a.var(axis=0, ddof=1) / len(a) if len(a) > 1 else np.zeros(x.shape[1])
        vb = b.var(axis=0, ddof=1) / len(b) if len(b) > 1 else np.zeros(x.shape[1])
        se = np.sqrt(va + vb)
        diff = a.mean(axis=0) - b.mean(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(se > 0, np.abs(diff) / se, 0.0)
        return t
    grand = x.mean(axis=0)
    between = sum((y == c).sum() * (x[y == c].mean(axis=0) - grand) ** 2 for c in classes) / (
        len(classes) - 1
    )
    within = sum(((x[y == c] - x[y == c].mean(axis=0)) ** 2).sum(axis=0) for c in classes)
    within = within / max(len(y) - len(classes), 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(within > 0, between / within, 0.0)


def coefficient_ranking(model: object, data: HeteroData) -> pd.Series:
    """Per-gene ``|coefficient|`` of a fitted ``logistic`` baseline (largest over classes
    and over a gene's features); its inputs are the standardised features the graph
    model saw, so coefficients are comparable across features."""
    coef = getattr(model, "coef_", None)
    if coef is None or coef.numel() == 0:
        raise DataError("coefficient_ranking needs a fitted logistic baseline")
    weights = coef.abs().amax(dim=0).numpy()
    dims = model.in_dims  # type: ignore[attr-defined]
    scores, start = {}, 0
    for modality in model.modalities:  # type: ignore[attr-defined]
        n = dims[modality]
        scores[modality] = weights[start : start + n]
        start += n
    return gene_scores(scores, data)


def permuted_cohort(cohort: Cohort, seed: int) -> Cohort:
    """``cohort`` with its target permuted over the patients (seeded): the null model's
    data. Features, availability and every other column are unchanged.

    Examples
    --------
    >>> from graphfuse.data import make_synthetic_cohort  # doctest: +SKIP
    >>> null = permuted_cohort(make_synthetic_cohort(n_patients=40), seed=0)  # doctest: +SKIP
    """
    rng = np.random.default_rng(seed)
    mdata = cohort.mdata.copy()
    values = mdata.obs[cohort.target].to_numpy()
    mdata.obs[cohort.target] = pd.Series(
        values[rng.permutation(len(values))], index=mdata.obs.index
    ).astype(mdata.obs[cohort.target].dtype)
    mdata.uns.pop("truth", None)  # a permuted cohort has no planted truth
    return Cohort(mdata, target=cohort.target)


def consensus_ranking(rankings: Mapping[str, pd.Series]) -> pd.Series:
    """The genes by mean rank over ``rankings`` (rank 1 = most important); the score is
    ``-mean rank`` so that higher is more important, like every other ranking."""
    if not rankings:
        raise ValueError("consensus_ranking needs at least one ranking")
    genes = sorted(set.intersection(*(set(r.index) for r in rankings.values())))
    ranks = pd.DataFrame(
        {name: r.loc[genes].rank(ascending=False, method="average") for name, r in rankings.items()}
    )
    score = -ranks.mean(axis=1)
    return score.sort_values(ascending=False, kind="stable").rename("importance")
