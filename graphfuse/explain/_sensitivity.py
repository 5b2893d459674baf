"""Sensitivity analysis: replace features or groups of features by a baseline, per patient."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from pydantic import Field, field_validator, model_validator

from graphfuse.explain._base import (
    EXPLAINERS,
    ExplainContext,
    Explainer,
    ExplainerOutput,
    ExplainerParams,
)
from graphfuse.explain._baselines import fixed_baseline, patient_samples
from graphfuse.explain._groups import (
    GroupSpec,
    feature_groups,
    graph_feature_genes,
    positions_by_modality,
    validated_gene_sets,
)
from graphfuse.explain._perturb import perturbed_outputs, replaced_outputs
from graphfuse.explain._ticks import patients_done

__all__ = ["Sensitivity"]

#: Perturbed copies of patients' rows per call of the perturbation engine.
_PAIRS_PER_BATCH = 16384


class SensitivityParams(ExplainerParams):
    groups: GroupSpec = "features"
    """What is replaced at once: each single feature (default); each modality's whole
    row; each gene set of ``gene_sets`` (the features of its genes, across omics
    modalities); or an explicit ``name -> [(modality, feature), ...]`` mapping (e.g.
    imaging region sets). Groups give a patients x groups table besides the feature
    scores (:attr:`~graphfuse.explain.Attribution.groups`)."""
    gene_sets: dict[str, list[str]] | None = None
    """Gene sets for ``groups="pathways"`` (a :class:`~graphfuse.data.GeneSets` or a
    ``name -> genes`` mapping)."""
    baseline: Literal["mean", "zeros", "samples"] = "mean"
    """Replacement values: the training patients' mean (default; no label used), zeros,
    or the values of ``samples`` training patients drawn at random per patient, the
    output averaged over the draws (a sample from the training distribution)."""
    samples: int = Field(8, ge=1, le=1000)
    """Draws per patient with ``baseline="samples"``."""
    feature_scores: bool = True
    """With groups, also score every single feature (set false to save the time when
    only the group table matters; feature scores are then NaN)."""

    @field_validator("gene_sets", mode="before")
    @classmethod
    def _sets(cls, value: Any) -> Any:
        return validated_gene_sets(value)

    @model_validator(mode="after")
    def _pathways_need_sets(self) -> SensitivityParams:
        if self.groups == "pathways" and not self.gene_sets:
            raise ValueError("groups 'pathways' needs gene_sets (a GeneSets or name -> genes)")
        return self


@EXPLAINERS.register("sensitivity")
class Sensitivity(Explainer):
    """Change of each patient's output when features are replaced by a baseline.

    For a patient ``p`` and a feature (or group) ``g``: ``score = f(x_p) - f(x_p with g
    replaced)``, ``f`` the explained output (log-odds of the target class) with the
    graph and every other patient held fixed — positive where the feature's actual value
    pushes the output up relative to the baseline. Each replacement is one exact
    perturbed evaluation, batched through
    :func:`graphfuse.explain._perturb.perturbed_outputs` (single features through
    :func:`~graphfuse.explain._perturb.replaced_outputs`, which never builds the rows).

    MOGONET's biomarker ranking (Wang et al., Nat. Commun. 2021: a feature's importance
    is the drop in performance when it is set to zero) corresponds to
    ``groups="features", baseline="zeros"`` ranked by
    :meth:`~graphfuse.explain.Attribution.feature_importance` (mean ``|score|`` over
    patients) — measured on the model's output rather than on test labels, so no label
    is used.

    Examples
    --------
    >>> Sensitivity(groups="modalities", baseline="samples", samples=4).seeded
    True
    """

    Params = SensitivityParams
    hetero = True  # perturbs patient features only; tested on the hetero model

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.seeded = self.params.baseline == "samples"

    def _explain(self, ctx: ExplainContext) -> ExplainerOutput:
        p = self.params
        feats = ctx.features()
        patients = torch.as_tensor(ctx.patients, dtype=torch.long, device=ctx.device)
        fill = self._fill(ctx, feats, patients)
        own = {m: x[patients] for m, x in feats.items()}
        original = perturbed_outputs(ctx, patients, own)
        groups = self._groups(ctx)
        per_feature = groups is None or p.feature_scores
        steps = _Steps(
            (int(ctx.available[patients].sum()) if per_feature else 0)
            + (len(groups[1]) * len(patients) if groups is not None else 0)
        )
        scores: dict[str, np.ndarray] = {}
        for i, (m, x) in enumerate(own.items()):
            values = np.full(x.shape, np.nan)
            if per_feature:
                have = ctx.available[patients, i]
                rows = torch.nonzero(have).ravel()
                if len(rows):
                    drop = _single_features(
                        ctx, patients[rows], x[rows], fill[m][rows], m, steps.add
                    )
                    values[rows.cpu().numpy()] = (original[rows, None] - drop).cpu().numpy()
            scores[m] = values
        tables = {}
        if groups is not None:
            name, members = groups
            tables[name] = _group_table(ctx, patients, own, fill, members, original, steps.add)
        return ExplainerOutput(features=scores, groups=tables)

    def _fill(
        self, ctx: ExplainContext, feats: dict[str, torch.Tensor], patients: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Replacement values per modality: ``(patients, draws, features)``."""
        p = self.params
        k = len(patients)
        if p.baseline == "samples":
            return patient_samples(ctx, k, p.samples, ctx.generator, "sensitivity")
        base = fixed_baseline(ctx, p.baseline)
        return {m: base[m].expand(k, 1, -1) for m in feats}

    def _groups(self, ctx: ExplainContext) -> tuple[str, dict[str, dict[str, list[int]]]] | None:
        """``(table name, group -> modality -> feature positions)``, or ``None``."""
        p = self.params
        if p.groups == "features":
            return None
        names = {m: list(ctx.data.feature_names[m]) for m in ctx.modalities}
        groups = feature_groups(
            p.groups,
            names,
            feature_genes=graph_feature_genes(ctx.data),
            gene_sets=p.gene_sets,
            who="sensitivity",
        )
        members = {name: positions_by_modality(g, names) for name, g in groups.items()}
        return p.groups if isinstance(p.groups, str) else "groups", members


def _single_features(
    ctx: ExplainContext,
    owners: torch.Tensor,
    x: torch.Tensor,
    fill: torch.Tensor,
    modality: str,
    tick: Callable[[int], None],
) -> torch.Tensor:
    """``(patients, features)``: mean output over draws with one feature replaced."""
    k, f = x.shape
    s = fill.shape[1]
    out = torch.empty(k, f, dtype=torch.float64, device=x.device)
    per_batch = max(1, _PAIRS_PER_BATCH * 4 // (f * s))
    for start in range(0, k, per_batch):
        sl = slice(start, min(start + per_batch, k))
        c = sl.stop - sl.start
        pairs = owners[sl].repeat_interleave(s * f)  # (patient, draw, feature) order
        columns = torch.arange(f, device=x.device).repeat(c * s)
        values = fill[sl].reshape(-1)
        outs = replaced_outputs(ctx, pairs, modality, columns, values)
        out[sl] = outs.reshape(c, s, f).mean(dim=1)
        tick(c)
    return out


def _group_table(
    ctx: ExplainContext,
    patients: torch.Tensor,
    own: dict[str, torch.Tensor],
    fill: dict[str, torch.Tensor],
    members: dict[str, dict[str, list[int]]],
    original: torch.Tensor,
    tick: Callable[[int], None],
) -> pd.DataFrame:
    """Patients x groups: output minus the mean output with the group replaced."""
    k = len(patients)
    s = next(iter(fill.values())).shape[1]
    per_batch = max(1, _PAIRS_PER_BATCH // s)
    table = np.full((k, len(members)), np.nan)
    for j, group in enumerate(members.values()):
        touched = [ctx.modalities.index(m) for m in group]
        have = ctx.available[patients][:, touched].any(dim=1)
        for start in range(0, k, per_batch):
            sl = slice(start, min(start + per_batch, k))
            c = sl.stop - sl.start
            rows = {}
            for m, cols in group.items():
                r = own[m][sl, None, :].expand(c, s, -1).clone()
                idx = torch.as_tensor(cols, dtype=torch.long, device=ctx.device)
                r[:, :, idx] = fill[m][sl][:, :, idx]
                rows[m] = r.reshape(c * s, -1)
            outs = perturbed_outputs(ctx, patients[sl].repeat_interleave(s), rows)
            table[sl, j] = (original[sl] - outs.reshape(c, s).mean(dim=1)).cpu().numpy()
            tick(c)
        table[~have.cpu().numpy(), j] = np.nan
    return pd.DataFrame(table, columns=list(members))


class _Steps:
    """Counts (patient, feature set) steps done and reports them (:func:`patients_done`)."""

    def __init__(self, total: int) -> None:
        self.total, self.done = total, 0

    def add(self, n: int) -> None:
        self.done += n
        patients_done(self.done, self.total)
