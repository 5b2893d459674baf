"""SHAP: Shapley values of each patient's own features, the graph held fixed, batched.

The game of patient ``p``: the players are ``p``'s features (or groups of them) in the
modalities ``p`` has; the value of a coalition ``S`` is ``p``'s explained output when
its features outside ``S`` are replaced by a background (the training mean, or an
average over rows of training patients: interventional Shapley values, Janzing et
al. 2020) and everything else — other patients, edges — stays as it is.

Estimated by permutation sampling (Castro et al. 2009) with antithetic pairs: every
sampled order of the players is also used reversed, which cancels much of the variance
of nearly additive models (Mitchell et al. 2022). Along one order the marginal
contributions telescope, so the estimates sum to ``f(x) - f(background)`` exactly, for
any number of permutations. Each permutation is a path of coalitions (step ``k``: its
first ``k`` players present); where the perturbation engine can walk such paths
(:func:`graphfuse.explain._perturb.path_outputs`: the propagation engine of
``gcn_fusion``, ``attention``, ``mogonet``, whose first layer is linear in the row change,
so a step only subtracts the entering features' mapped changes) no masked row is built
and a coalition costs the later layers only; at genome-wide width (15,534 features, 122
patients) that is over 100 times faster than building the rows, with the same estimates
(``benchmarks/wide_explainers.py``). Otherwise all masked copies of all explained
patients are evaluated in large batches by
:func:`graphfuse.explain._perturb.perturbed_outputs`. Feature-level players stay the
default at every width.

Group Shapley values: the players are groups of features (modalities, pathways); a
feature takes the patient's value when at least one group holding it is in the
coalition, so overlapping groups (pathways sharing genes) define a proper game too.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from pydantic import Field, field_validator, model_validator
from torch_geometric.data import HeteroData

from graphfuse._device import on_device
from graphfuse.errors import ConfigError, DataError
from graphfuse.explain._base import (
    EXPLAINERS,
    ExplainContext,
    Explainer,
    ExplainerOutput,
    ExplainerParams,
    _patients,
    _target,
    check_model,
)
from graphfuse.explain._baselines import shared_samples, training_mean
from graphfuse.explain._groups import (
    GroupSpec,
    feature_groups,
    graph_feature_genes,
    validated_gene_sets,
)
from graphfuse.explain._perturb import path_outputs, perturbed_outputs
from graphfuse.explain._ticks import patients_done
from graphfuse.graphs import PATIENT
from graphfuse.models import FusionModel, eval_mode

__all__ = ["REST_GROUP", "Shap", "ShapleyGame", "patient_game"]

#: Name of the player made of the features no explicit group names.
REST_GROUP = "(rest)"

#: Name of the patients x groups table per kind of grouping (``Attribution.groups``).
_TABLE = {"modalities": "modalities", "pathways": "pathways"}


class ShapParams(ExplainerParams):
    n_permutations: int = Field(10, ge=2, le=1_000_000)
    """Sampled orders of the players per patient, half of them the reverses of the other
    half (antithetic pairs); must be even. Cost per patient: about
    ``n_permutations * players * background`` forward evaluations."""
    background: int | None = Field(None, ge=1, le=10_000)
    """``None``: absent players take the training patients' mean (one reference row).
    An integer ``k``: the value of a coalition is the average over ``k`` rows drawn (with
    the explanation's seed) from training patients having each modality; ``k`` times
    the cost."""
    groups: GroupSpec = "features"
    """Players: each feature (default); each modality a patient has; each gene set of
    ``gene_sets`` (the features of its genes, across omics modalities); or an explicit
    ``name -> [(modality, feature), ...]`` mapping. Groups may overlap; the features no
    group holds form one more player, :data:`REST_GROUP`, so the scores still sum to
    ``f(x) - f(background)``. The groups' Shapley values are the patients x groups table
    ``attribution.groups[...]`` (``"modalities"``, ``"pathways"`` or ``"groups"``; NaN
    where a patient has none of a group's features); each feature's score is its share
    of the values of the groups holding it (a group's value divided equally among its
    features), so for disjoint groups ``attribution.group_scores(groups)`` gives the
    same values."""
    gene_sets: dict[str, list[str]] | None = None
    """Gene sets for ``groups="pathways"`` (a :class:`~graphfuse.data.GeneSets` or a
    ``name -> genes`` mapping), matched through the graph's ``feature_genes``."""
    batch_size: int = Field(8192, ge=1)
    """Masked copies evaluated per call of the perturbation engine (memory bound)."""

    @field_validator("n_permutations")
    @classmethod
    def _even(cls, value: int) -> int:
        if value % 2:
            raise ValueError(
                f"must be even (each sampled order is used with its reverse); got {value}"
            )
        return value

    @field_validator("gene_sets", mode="before")
    @classmethod
    def _sets(cls, value: Any) -> Any:
        return validated_gene_sets(value)

    @model_validator(mode="after")
    def _pathways_need_sets(self) -> ShapParams:
        if self.groups == "pathways" and not self.gene_sets:
            raise ValueError("groups 'pathways' needs gene_sets (a GeneSets or name -> genes)")
        return self


@EXPLAINERS.register("shap")
class Shap(Explainer):
    """Shapley values of each explained patient's own features (or feature groups).

    See the module docstring for the game and the estimator. Scores are in the units
    of the explained output (log-odds of the target class); for each patient they sum
    to its output minus the output with all of its features at the background.

    Examples
    --------
    >>> Shap(n_permutations=20, groups="modalities").params.n_permutations
    20
    """

    Params = ShapParams
    seeded = True
    hetero = True  # perturbs patient features only; tested on the hetero model

    def _explain(self, ctx: ExplainContext) -> ExplainerOutput:
        p = self.params
        layout = _Layout(ctx, p.groups, p.gene_sets)
        x_all = layout.concat(ctx.features())
        background = _background(ctx, layout, p.background)
        scores = np.zeros((len(ctx.patients), layout.n_features))
        table = np.full((len(ctx.patients), len(layout.labels)), np.nan)
        done = 0
        for block in _blocks(ctx, layout, p.n_permutations, len(background)):
            values = _along_paths(ctx, layout, background, block, done)
            if values is None:
                values = _evaluate(ctx, layout, x_all, background, block, p.batch_size)
            for plan, v in zip(block, values, strict=True):
                phi = plan.shapley(v)
                scores[plan.row] = plan.to_features(phi)
                table[plan.row, plan.used] = phi
            done += len(block)
            patients_done(done, len(ctx.patients))
        groups = {}
        if p.groups != "features":
            name = _TABLE.get(p.groups, "groups") if isinstance(p.groups, str) else "groups"
            groups[name] = pd.DataFrame(table, columns=[str(g) for g in layout.labels])
        return ExplainerOutput(features=layout.split(scores), groups=groups)


# ----------------------------------------------------------------------------- players


class _Layout:
    """The explained features laid side by side (modalities in the model's order) and
    the groups (players) holding each, before patient-specific availability.

    ``pair_feature[i]`` belongs to ``pair_group[i]``; a feature may be in several groups.
    """

    def __init__(
        self, ctx: ExplainContext, groups: GroupSpec, gene_sets: dict[str, list[str]] | None = None
    ) -> None:
        names = ctx.data.feature_names
        self.modalities = ctx.modalities
        self.sizes = [len(names[m]) for m in self.modalities]
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)]).astype(np.int64)
        self.n_features = int(self.offsets[-1])
        self.modality_of = np.repeat(np.arange(len(self.modalities)), self.sizes)
        self.index = {
            (m, f): int(self.offsets[i]) + j
            for i, m in enumerate(self.modalities)
            for j, f in enumerate(names[m])
        }
        features = {m: list(names[m]) for m in self.modalities}
        members: dict[Any, list[int]] = {
            label: sorted({self.index[f] for f in group})
            for label, group in feature_groups(
                groups,
                features,
                feature_genes=graph_feature_genes(ctx.data),
                gene_sets=gene_sets,
                who="shap",
                error=ConfigError,
            ).items()
        }
        covered = np.zeros(self.n_features, dtype=bool)
        for pos in members.values():
            covered[pos] = True
        if not covered.all():
            members[REST_GROUP] = list(np.flatnonzero(~covered))
        self.labels: list[Any] = list(members)
        self.pair_feature = np.concatenate(
            [np.asarray(v, dtype=np.int64) for v in members.values()]
        )
        self.pair_group = np.repeat(np.arange(len(members)), [len(v) for v in members.values()])
        self.overlapping = len(self.pair_feature) > self.n_features

    def concat(self, feats: dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.cat([feats[m] for m in self.modalities], dim=-1)

    def split(self, values: np.ndarray) -> dict[str, np.ndarray]:
        return {
            m: values[:, self.offsets[i] : self.offsets[i + 1]]
            for i, m in enumerate(self.modalities)
        }

    def patient_players(self, available: np.ndarray) -> _Players:
        """The players of a patient having ``available`` modalities."""
        present = available[self.modality_of]
        keep = present[self.pair_feature]
        feature, group = self.pair_feature[keep], self.pair_group[keep]
        used = np.unique(group)
        local = np.searchsorted(used, group)
        return _Players(
            feature=feature,
            player=local,
            used=used,
            sizes=np.bincount(local, minlength=len(used)),
            present=present,
        )


@dataclass
class _Players:
    """One patient's game: ``feature[i]`` is held by its player ``player[i]``."""

    feature: np.ndarray
    player: np.ndarray
    used: np.ndarray  # global group index of each player
    sizes: np.ndarray  # present features per player
    present: np.ndarray  # (features,) bool: in a modality the patient has

    @property
    def n(self) -> int:
        return len(self.used)

    def entry(self, position: np.ndarray) -> np.ndarray:
        """``(rows, features)``: the first position (``position``: per row, each
        player's) at which a feature takes the patient's value; -1 for features of absent
        modalities (always the patient's own, zero, row)."""
        out = np.full((len(position), len(self.present)), -1, dtype=np.int64)
        if self.n == 0:
            return out
        out[:, self.present] = np.iinfo(np.int64).max
        np.minimum.at(out.T, self.feature, position[:, self.player].T)
        return out

    def to_features(self, phi: np.ndarray) -> np.ndarray:
        """Each player's value divided equally among its features, summed per feature."""
        return np.bincount(
            self.feature, weights=(phi / self.sizes)[self.player], minlength=len(self.present)
        )


def _background(ctx: ExplainContext, layout: _Layout, k: int | None) -> torch.Tensor:
    """``(K, features)`` reference rows: the training mean, or ``k`` sampled rows."""
    if k is None:
        return layout.concat(training_mean(ctx))[None]
    rng = np.random.default_rng(np.random.SeedSequence([ctx.seed % 2**63]))
    return layout.concat(shared_samples(ctx, k, rng, "shap"))


# ------------------------------------------------------------------ sampling plan


@dataclass
class _Plan:
    """The masked copies of one explained patient: permutations of its players and,
    per permutation and feature, the step at which the feature takes the patient's value."""

    row: int  # position among the explained patients
    node: int
    players: _Players
    perms: np.ndarray  # (n_perm, players)
    entry: torch.Tensor  # (n_perm, features) int32; -1: always the patient's own row
    n_background: int

    @property
    def n_players(self) -> int:
        return self.players.n

    @property
    def used(self) -> np.ndarray:
        return self.players.used

    def jobs(self) -> np.ndarray:
        """``(n_jobs, 3)`` (permutation, step, background): step ``k`` = the first ``k``
        players of the permutation take the patient's values. Order: the empty coalition
        once per background, the full one once, then every interior step."""
        n_perm, d, nb = len(self.perms), self.n_players, self.n_background
        empty = np.stack([np.zeros(nb), np.zeros(nb), np.arange(nb)], axis=1)
        full = np.array([[0, d, 0]])
        j, k, b = np.meshgrid(np.arange(n_perm), np.arange(1, d), np.arange(nb), indexing="ij")
        inner = np.stack([j.ravel(), k.ravel(), b.ravel()], axis=1)
        return np.concatenate([empty, full, inner]).astype(np.int64)

    def shapley(self, out: np.ndarray) -> np.ndarray:
        """Players' Shapley estimates from the outputs of :meth:`jobs`, in that order.

        Along each permutation the value path ``v_0 = f(background), ..., v_d = f(x)``
        is differenced; the differences telescope, so every estimate sums to
        ``f(x) - f(background)`` exactly."""
        n_perm, d, nb = len(self.perms), self.n_players, self.n_background
        if d == 0:  # a patient with no modality: nothing to attribute
            return np.zeros(0)
        v = np.empty((n_perm, d + 1))
        v[:, 0] = out[:nb].mean()
        v[:, d] = out[nb]
        v[:, 1:d] = out[nb + 1 :].reshape(n_perm, d - 1, nb).mean(axis=2)
        contrib = np.zeros((n_perm, d))
        np.put_along_axis(contrib, self.perms, np.diff(v, axis=1), axis=1)
        return contrib.mean(axis=0)

    def to_features(self, phi: np.ndarray) -> np.ndarray:
        return self.players.to_features(phi)


def _plan(ctx: ExplainContext, layout: _Layout, row: int, n_perm: int, n_background: int) -> _Plan:
    node = int(ctx.patients[row])
    players = layout.patient_players(ctx.available[node].cpu().numpy())
    d = players.n
    # one stream per patient: its scores do not depend on which others are explained
    rng = np.random.default_rng(np.random.SeedSequence([ctx.seed % 2**63, node]))
    half = rng.permuted(np.tile(np.arange(d), (n_perm // 2, 1)), axis=1)
    perms = np.concatenate([half, half[:, ::-1]])
    position = np.empty_like(perms)
    np.put_along_axis(position, perms, np.arange(d)[None].repeat(n_perm, 0), axis=1)
    entry = players.entry(position)
    return _Plan(
        row=row,
        node=node,
        players=players,
        perms=perms,
        entry=torch.as_tensor(entry.astype(np.int32), device=ctx.device),
        n_background=n_background,
    )


def _n_jobs(d: int, n_perm: int, n_background: int) -> int:
    return n_background + 1 + n_perm * max(d - 1, 0) * n_background


#: Masked copies planned at once (bounds the memory of the job tables, ~50 MB).
_BLOCK_JOBS = 1 << 21


def _blocks(
    ctx: ExplainContext, layout: _Layout, n_perm: int, n_background: int
) -> Iterator[list[_Plan]]:
    """Explained patients in groups of at most about :data:`_BLOCK_JOBS` masked copies."""
    block: list[_Plan] = []
    jobs = 0
    for row in range(len(ctx.patients)):
        plan = _plan(ctx, layout, row, n_perm, n_background)
        size = _n_jobs(plan.n_players, n_perm, n_background)
        if block and jobs + size > _BLOCK_JOBS:
            yield block
            block, jobs = [], 0
        block.append(plan)
        jobs += size
    if block:
        yield block


def _evaluate(
    ctx: ExplainContext,
    layout: _Layout,
    x_all: torch.Tensor,
    background: torch.Tensor,
    block: list[_Plan],
    batch_size: int,
) -> list[np.ndarray]:
    """Outputs of every job of every plan in ``block``, one array per plan.

    Batches interleave the patients (job ``i`` of every patient, then job ``i + 1``, ...)
    so that one call of the engine sees many different owners, which engines that pack
    several owners into one copy of the graph exploit.
    """
    jobs = [plan.jobs() for plan in block]
    counts = [len(j) for j in jobs]
    which_np = np.repeat(np.arange(len(block)), counts)
    rank = np.arange(len(which_np)) - np.repeat(np.cumsum([0, *counts[:-1]]), counts)
    device = ctx.device
    order = torch.as_tensor(np.lexsort((which_np, rank)), device=device)
    which = torch.as_tensor(which_np, device=device)
    flat = torch.as_tensor(np.concatenate(jobs), device=device)
    entry = torch.stack([plan.entry for plan in block])  # (block, n_perm, features)
    nodes = torch.tensor([plan.node for plan in block], device=device)
    out = torch.empty(len(flat), dtype=torch.float64, device=device)
    for start in range(0, len(flat), batch_size):
        idx = order[start : start + batch_size]
        w, (j, k, b) = which[idx], flat[idx].T
        present = entry[w, j] < k[:, None]
        rows = torch.where(present, x_all[nodes[w]], background[b])
        parts = {
            m: rows[:, layout.offsets[i] : layout.offsets[i + 1]].contiguous()
            for i, m in enumerate(layout.modalities)
        }
        out[idx] = perturbed_outputs(ctx, nodes[w], parts).double()
    return list(torch.split(out.cpu(), counts))  # type: ignore[arg-type]


def _along_paths(
    ctx: ExplainContext,
    layout: _Layout,
    background: torch.Tensor,
    block: list[_Plan],
    done: int,
) -> list[np.ndarray] | None:
    """The outputs of :func:`_evaluate`, from the engine's :func:`path_outputs` (each
    permutation is a path of coalitions: step ``k`` = its first ``k`` players present);
    ``None`` where the engine has no faster way than evaluating rows. Reports progress
    after each patient (``done`` patients came before the block)."""
    out = []
    for row, plan in enumerate(block):
        if row:
            patients_done(done + row, len(ctx.patients))
        d, nb = plan.n_players, len(background)
        if d == 0:
            out.append(np.zeros(_n_jobs(d, len(plan.perms), nb)))
            continue
        entry = {
            m: plan.entry[:, layout.offsets[i] : layout.offsets[i + 1]]
            for i, m in enumerate(layout.modalities)
        }
        per_bg = []
        for bg in background:
            rows = {
                m: bg[layout.offsets[i] : layout.offsets[i + 1]]
                for i, m in enumerate(layout.modalities)
            }
            v = path_outputs(ctx, plan.node, rows, entry, d)
            if v is None:
                return None
            per_bg.append(v.cpu().numpy())
        v = np.stack(per_bg, axis=-1)  # (n_perm, d + 1, background)
        # in the order of plan.jobs(): empty coalition per background, full, then inner
        out.append(np.concatenate([v[0, 0], v[0, d, :1], v[:, 1:d].ravel()]))
    return out


# ------------------------------------------------------------- one patient's game


class ShapleyGame:
    """The cooperative game the ``shap`` explainer estimates, for one patient.

    Call it on ``(k, n_players)`` boolean coalition masks to get their values, e.g.
    to compute exact Shapley values with :func:`graphfuse.explain.exact_shapley`.
    Build it with :func:`patient_game`.

    Attributes
    ----------
    players
        Label of each player: ``(modality, feature)``, a modality name or a group name.
    """

    def __init__(
        self, ctx: ExplainContext, layout: _Layout, background: torch.Tensor, batch_size: int
    ) -> None:
        self._ctx = ctx
        self._layout = layout
        self._background = background
        self._batch_size = batch_size
        self.node = int(ctx.patients[0])
        self._players = layout.patient_players(ctx.available[self.node].cpu().numpy())
        self._x = layout.concat(ctx.features())[self.node]
        self.players = [layout.labels[u] for u in self._players.used]

    @property
    def n_players(self) -> int:
        return len(self.players)

    def __call__(self, masks: np.ndarray) -> np.ndarray:
        """Values of coalitions ``masks`` (``(k, n_players)`` bool), as ``(k,)`` float64."""
        masks = np.asarray(masks, dtype=bool)
        if masks.ndim != 2 or masks.shape[1] != self.n_players:
            raise DataError(
                f"shap game of patient {self.node}: masks must be (k, {self.n_players}); "
                f"got {masks.shape}"
            )
        # a feature takes the patient's value when any player holding it is present
        present = np.zeros((len(masks), len(self._players.present)), dtype=bool)
        np.logical_or.at(present.T, self._players.feature, masks[:, self._players.player].T)
        present[:, ~self._players.present] = True  # absent modalities: own (zero) rows
        device = self._ctx.device
        present_t = torch.as_tensor(present, device=device)
        with eval_mode(self._ctx.model):
            total = torch.zeros(len(masks), dtype=torch.float64, device=device)
            for bg in self._background:
                rows = torch.where(present_t, self._x, bg)
                total += self._outputs(rows)
        return (total / len(self._background)).cpu().numpy()

    def _outputs(self, rows: torch.Tensor) -> torch.Tensor:
        layout = self._layout
        out = torch.empty(len(rows), dtype=torch.float64, device=rows.device)
        for start in range(0, len(rows), self._batch_size):
            chunk = rows[start : start + self._batch_size]
            parts = {
                m: chunk[:, layout.offsets[i] : layout.offsets[i + 1]].contiguous()
                for i, m in enumerate(layout.modalities)
            }
            owners = torch.full((len(chunk),), self.node, dtype=torch.long, device=rows.device)
            out[start : start + len(chunk)] = perturbed_outputs(self._ctx, owners, parts).double()
        return out


def patient_game(
    model: FusionModel,
    data: HeteroData,
    patient: int,
    *,
    target: int | str | None = None,
    background: int | None = None,
    groups: GroupSpec = "features",
    gene_sets: Any = None,
    seed: int = 0,
    batch_size: int = 8192,
) -> ShapleyGame:
    """The game whose Shapley values the ``shap`` explainer estimates for one patient.

    Same players, background and explained output as ``explain(model, data, "shap",
    patients=[patient], target=target, seed=seed, background=background, groups=groups,
    gene_sets=gene_sets)``; pass it to :func:`graphfuse.explain.exact_shapley` for exact values
    (a few thousand forward evaluations for 12 players).

    Parameters
    ----------
    model, data
        A trained model and its patient graph, on one device (where the game is played).
    patient
        Position of the patient in the graph.
    target, background, groups, gene_sets, seed
        As for the explainer (:class:`ShapParams`, :meth:`Explainer.explain`).
    batch_size
        Coalitions evaluated per call of the perturbation engine.

    Returns
    -------
    ShapleyGame
        Callable on coalition masks; ``players`` labels the players.
    """
    positions = _patients([patient], int(data[PATIENT].num_nodes))
    check_model(model)
    model, data = on_device(model, data, who="patient_game")
    with eval_mode(model), torch.no_grad():
        logits = model(data)
    ctx = ExplainContext(model, data, positions, _target(target, logits, data), seed)
    params = Shap(
        background=background, groups=groups, gene_sets=gene_sets, batch_size=batch_size
    ).params
    layout = _Layout(ctx, params.groups, params.gene_sets)
    return ShapleyGame(ctx, layout, _background(ctx, layout, params.background), batch_size)
