"""Faithfulness of an attribution: deletion and insertion curves, fidelity+ and fidelity-.

Does the model's output really hinge on the features an explainer ranks first? Each
explained patient's own features are replaced by a baseline (the training patients'
mean) in the order of the patient's own ``|score|`` ranking, and its output is
recomputed with the graph and every other patient held fixed; a random ranking of the
same features (seeded) is the reference.

- Deletion curve (Petsiuk et al. 2018, RISE; Samek et al. 2017, "most relevant
  first"): replace the top-ranked features, a growing share of them; a faithful ranking
  makes the output fall fast, so a **lower** area under the curve is more faithful.
- Insertion curve: start from the baseline and restore the top-ranked features; the
  output should recover fast, so a **higher** area is more faithful.
- Fidelity+ and fidelity- (Yuan, Yu, Gui & Ji 2022, "Explainability in graph neural
  networks: a taxonomic survey", IEEE TPAMI; probability form): the drop of the
  output when the top-``k`` features are removed (fidelity+, necessity: higher is
  better) and when only the top-``k`` are kept (fidelity-, sufficiency: lower is better).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from torch_geometric.data import HeteroData

from graphfuse._device import on_device
from graphfuse.errors import DataError
from graphfuse.explain._attribution import Attribution
from graphfuse.explain._base import ExplainContext, check_model
from graphfuse.explain._baselines import training_mean
from graphfuse.explain._names import class_names, patient_ids
from graphfuse.explain._perturb import perturbed_outputs
from graphfuse.models import FusionModel, eval_mode

__all__ = ["FaithfulnessResult", "faithfulness"]

_CHUNK = 8192  # perturbed patients built and evaluated at a time (bounds memory)
_RANKINGS = ("attribution", "random")
_CURVES = ("deletion", "insertion")


@dataclass
class FaithfulnessResult:
    """Deletion/insertion curves and fidelity of one attribution, beside a random ranking.

    Attributes
    ----------
    summary
        Index ``ranking`` (``attribution``, ``random``); columns ``deletion_auc`` (lower is
        more faithful) and ``insertion_auc`` (higher is more faithful): the area under the
        mean curve divided by the width of its x-axis, i.e. the curve's average height in
        units of :attr:`output`.
    curves
        Mean curves, one row per ``ranking``, ``curve`` (``deletion``, ``insertion``) and
        ``step``; columns ``fraction`` (mean share of the patients' features replaced,
        for deletion, or restored, for insertion), ``output`` (mean over patients) and
        ``sem`` (its standard error over patients).
    fidelity
        One row per ``ranking`` and ``k``; ``fidelity_plus``: mean of ``f(x) - f(x
        without its top-k)``; ``fidelity_minus``: mean of ``f(x) - f(only the top-k of
        x)`` (the rest at the baseline).
    per_patient
        Every patient's curves: ``patient``, ``ranking``, ``curve``, ``step``,
        ``n_perturbed`` (features replaced or restored), ``output`` (random: the mean over
        draws).
    output
        What ``f`` is, e.g. ``"probability of the predicted class"``.
    full_output, baseline_output
        Mean ``f`` with all of each patient's features, and with all of them at the
        baseline: the two ends of every curve.
    params
        The settings (steps, k, output, target, n_random, seed, baseline, method).
    """

    summary: pd.DataFrame
    curves: pd.DataFrame
    fidelity: pd.DataFrame
    per_patient: pd.DataFrame
    output: str
    full_output: float
    baseline_output: float
    params: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return (
            f"FaithfulnessResult(method={self.params.get('method')!r}, output={self.output!r}, "
            f"patients={self.per_patient['patient'].nunique()})\n{self.summary.to_string()}"
        )


def faithfulness(
    attribution: Attribution,
    model: FusionModel,
    data: HeteroData,
    *,
    steps: int | Sequence[float] | Sequence[int] = 20,
    k: int | Sequence[int] = (5, 10, 20),
    output: Literal["probability", "log_odds"] = "probability",
    target: Literal["predicted", "explained"] = "predicted",
    n_random: int = 1,
    seed: int = 0,
) -> FaithfulnessResult:
    """Deletion and insertion curves, their areas, and fidelity+/- of an attribution.

    For every patient the attribution explains, its features (of the modalities it has)
    are ordered by its own ``|score|`` (ties broken at random, seeded), and replaced by
    the baseline — each modality's mean over training patients
    (:meth:`ExplainContext.train_mean`, no labels used) — in that order; the graph and
    every other patient stay as they are. Everything is evaluated in batches by
    :func:`graphfuse.explain._perturb.perturbed_outputs`.

    Parameters
    ----------
    attribution
        Scores of ``model`` on ``data`` (any explainer); its patients are the ones tested.
    model, data
        The explained model and its patient graph, on one device (where everything is
        computed).
    steps
        Points of the curves. An integer ``n``: the fractions ``0, 1/n, ..., 1`` of each
        patient's features. A sequence of floats: those fractions (in ``[0, 1]``). A
        sequence of integers: numbers of features (capped at each patient's count).
    k
        Numbers of top features for fidelity+ and fidelity-.
    output
        ``"probability"`` (default, as in Yuan et al.) or ``"log_odds"`` of the target
        class. A one-output model (a risk score) is evaluated on that output.
    target
        ``"predicted"`` (default): each patient's predicted class, so a drop of ``f``
        always means losing the evidence for the prediction; ``"explained"``: the class
        the attribution explained (``prediction["target"]``).
    n_random
        Random rankings drawn per patient; the ``random`` rows average them.
    seed
        Seed of the random rankings and the tie-breaking.

    Returns
    -------
    FaithfulnessResult
        ``summary`` (AUCs), ``curves``, ``fidelity`` and ``per_patient`` tables.

    Raises
    ------
    DataError
        The attribution names patients or misses features of ``data``, or the settings
        are invalid.

    Examples
    --------
    >>> from graphfuse.explain import explain, faithfulness
    >>> attribution = explain(model, data, "saliency")  # doctest: +SKIP
    >>> faithfulness(attribution, model, data).summary  # doctest: +SKIP
    """
    step_values, by_count, ks = _settings(steps, k, output, n_random)
    positions = _positions(attribution, data)
    check_model(model)
    model, data = on_device(model, data, who="faithfulness")
    with eval_mode(model), torch.no_grad():
        logits = model(data)
        ctx = ExplainContext(
            model, data, positions, _targets(target, logits, attribution, data), seed
        )
        values, full, empty, counts, d = _evaluate(
            ctx, attribution, step_values, by_count, ks, n_random, seed
        )
    if logits.shape[1] > 1:
        values, full, empty = (_transform(v, output) for v in (values, full, empty))
    n_steps = len(step_values)
    # values: (rankings, curves, patients, steps + ks); rankings >= 1 are random draws
    by_ranking = np.stack([values[0], values[1:].mean(axis=0)])
    curves, per_patient, summary = _curve_tables(
        by_ranking[..., :n_steps], step_values, by_count, counts[:, :n_steps], d, attribution
    )
    params = {
        "method": attribution.method,
        "steps": [float(s) if not by_count else int(s) for s in step_values],
        "k": ks,
        "output": output,
        "target": target,
        "n_random": n_random,
        "seed": seed,
        "baseline": "train_mean",
    }
    return FaithfulnessResult(
        summary=summary,
        curves=curves,
        fidelity=_fidelity_table(by_ranking[..., n_steps:], full, ks),
        per_patient=per_patient,
        output=_output_name(logits.shape[1], output, target),
        full_output=float(np.mean(full)),
        baseline_output=float(np.mean(empty)),
        params=params,
    )


# --------------------------------------------------------------------------- settings
def _settings(
    steps: int | Sequence[float] | Sequence[int], k: int | Sequence[int], output: str, n_random: int
) -> tuple[np.ndarray, bool, list[int]]:
    """``(step values, whether they count features, sorted k)``, checked."""
    if n_random < 1:
        raise DataError(f"n_random must be at least 1; got {n_random}")
    if output not in ("probability", "log_odds"):
        raise DataError(f"output must be 'probability' or 'log_odds'; got {output!r}")
    step_values, by_count = _parse_steps(steps)
    ks = sorted({int(v) for v in np.atleast_1d(k)})
    if any(v < 1 for v in ks):
        raise DataError(f"k must be positive numbers of features; got {list(np.atleast_1d(k))}")
    return step_values, by_count, ks


def _parse_steps(steps: int | Sequence[float] | Sequence[int]) -> tuple[np.ndarray, bool]:
    """``(sorted step values, whether they count features)``."""
    if isinstance(steps, (int, np.integer)) and not isinstance(steps, bool):
        if steps < 1:
            raise DataError(f"steps must be at least 1; got {steps}")
        return np.linspace(0.0, 1.0, int(steps) + 1), False
    arr = np.unique(np.asarray(steps))
    if arr.size < 2:
        raise DataError(f"steps needs at least two points to draw a curve; got {list(arr)}")
    if np.issubdtype(arr.dtype, np.integer):
        if arr[0] < 0:
            raise DataError(f"steps counted in features must be >= 0; got {arr.tolist()}")
        return arr.astype(np.int64), True
    if not np.issubdtype(arr.dtype, np.floating) or arr[0] < 0 or arr[-1] > 1:
        raise DataError(
            "steps must be an integer, fractions in [0, 1] or integer feature counts; "
            f"got {list(arr)}"
        )
    return arr.astype(float), False


def _positions(attribution: Attribution, data: HeteroData) -> np.ndarray:
    ids = [str(p) for p in patient_ids(data)]
    where = {p: i for i, p in enumerate(ids)}
    wanted = [str(p) for p in attribution.patients]
    missing = [p for p in wanted if p not in where]
    if missing:
        raise DataError(
            f"attribution {attribution.method!r} explains patients that are not in the "
            f"graph: {missing[:5]} ({len(missing)} in all)"
        )
    return np.asarray([where[p] for p in wanted], dtype=np.int64)


def _targets(
    target: str, logits: torch.Tensor, attribution: Attribution, data: HeteroData
) -> torch.Tensor:
    n, c = logits.shape
    if c == 1:
        return torch.zeros(n, dtype=torch.long, device=logits.device)
    if target == "predicted":
        return logits.argmax(dim=1)
    if target != "explained":
        raise DataError(f"target must be 'predicted' or 'explained'; got {target!r}")
    if "target" not in attribution.prediction.columns:
        raise DataError(
            f"attribution {attribution.method!r} records no explained class "
            "(prediction['target']); use target='predicted'"
        )
    classes = class_names(data, c)
    explained = attribution.prediction["target"].astype(str)
    unknown = sorted(set(explained) - set(classes))
    if unknown:
        raise DataError(
            f"attribution {attribution.method!r} explains classes {unknown} that the model "
            f"does not have (classes {classes})"
        )
    out = logits.argmax(dim=1)
    out[torch.as_tensor(_positions(attribution, data), device=out.device)] = torch.as_tensor(
        [classes.index(t) for t in explained], dtype=torch.long, device=out.device
    )
    return out


def _scores(attribution: Attribution, ctx: ExplainContext) -> np.ndarray:
    """``|score|`` of the explained patients, all modalities side by side, in the graph's
    feature order."""
    parts = []
    for m in ctx.modalities:
        names = list(ctx.data.feature_names[m])
        if m not in attribution.scores:
            raise DataError(
                f"attribution {attribution.method!r} has no scores for modality {m!r} of the "
                f"model (it has {', '.join(attribution.modalities)})"
            )
        frame = attribution.scores[m]
        absent = [f for f in names if f not in frame.columns]
        if absent:
            raise DataError(
                f"attribution {attribution.method!r}, modality {m!r}: no scores for features "
                f"{absent[:5]} ({len(absent)} of {len(names)}) of the graph"
            )
        parts.append(np.abs(frame[names].to_numpy(dtype=np.float64)))
    return np.concatenate(parts, axis=1)


# --------------------------------------------------------------------------- evaluation
def _ranks(primary: np.ndarray, avail: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Rank (0 = first) of every feature per patient by increasing ``primary``, ties at
    random; features of absent modalities come last."""
    primary = np.where(avail, primary, np.inf)
    order = np.lexsort((rng.random(primary.shape), primary), axis=-1)
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.broadcast_to(np.arange(order.shape[1]), order.shape), 1)
    return ranks


@dataclass
class _Perturbation:
    """The explained patients' rows side by side, their baseline and their rankings."""

    ctx: ExplainContext
    x: torch.Tensor  # (patients, features) own rows, all modalities
    baseline: torch.Tensor  # (features,) training mean
    sizes: list[int]  # features per modality
    available: torch.Tensor  # (patients, features) bool: in a modality the patient has
    ranks: torch.Tensor  # (rankings, patients, features) int32

    def outputs(self, r: np.ndarray, c: np.ndarray, b: np.ndarray, n: np.ndarray) -> np.ndarray:
        """Output of patient ``b`` (position among the explained) with, by ranking ``r``,
        its first ``n`` features replaced (curve ``c == 0``, deletion) or all but them
        (insertion)."""
        ctx, pos = self.ctx, self.ctx.patients
        device = self.x.device
        out = np.empty(len(b))
        for s in range(0, len(b), _CHUNK):
            sl = slice(s, s + _CHUNK)
            bb = torch.as_tensor(b[sl], device=device)
            rank = self.ranks[torch.as_tensor(r[sl], device=device), bb]
            cut = torch.as_tensor(n[sl], device=device)[:, None]
            deletion = torch.as_tensor(c[sl] == 0, device=device)[:, None]
            keep = torch.where(deletion, rank >= cut, rank < cut)
            keep |= ~self.available[bb]
            rows_all = torch.where(keep, self.x[bb], self.baseline)
            rows = dict(zip(ctx.modalities, torch.split(rows_all, self.sizes, dim=1), strict=True))
            owners = torch.as_tensor(pos[b[sl]], device=device)
            out[sl] = perturbed_outputs(ctx, owners, rows).double().cpu().numpy()
        return out


def _perturbation(
    ctx: ExplainContext, attribution: Attribution, n_random: int, seed: int
) -> tuple[_Perturbation, np.ndarray]:
    """The perturbation set-up and each explained patient's number of features."""
    pos = ctx.patients
    feats = ctx.features()
    base = training_mean(ctx)
    sizes = [feats[m].shape[1] for m in ctx.modalities]
    repeats = torch.tensor(sizes, device=ctx.device)
    avail = torch.repeat_interleave(ctx.available[pos], repeats, dim=1).cpu().numpy()
    d = avail.sum(axis=1)
    if (d == 0).any():
        raise DataError("some explained patients have no features to perturb")
    rng = np.random.default_rng(seed)
    primary = -_scores(attribution, ctx)
    primary = np.where(np.isnan(primary), np.finfo(np.float64).max, primary)
    ranks = [_ranks(primary, avail, rng)]
    ranks += [_ranks(rng.random(primary.shape), avail, rng) for _ in range(n_random)]
    setup = _Perturbation(
        ctx=ctx,
        x=torch.cat([feats[m][pos] for m in ctx.modalities], dim=1),
        baseline=torch.cat([base[m] for m in ctx.modalities]),
        sizes=sizes,
        available=torch.as_tensor(avail, device=ctx.device),
        ranks=torch.as_tensor(np.stack(ranks).astype(np.int32), device=ctx.device),
    )
    return setup, d


def _evaluate(
    ctx: ExplainContext,
    attribution: Attribution,
    step_values: np.ndarray,
    by_count: bool,
    ks: list[int],
    n_random: int,
    seed: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Raw outputs ``(rankings, 2, patients, steps + ks)``, full and baseline outputs per
    patient, the perturbed counts ``(patients, steps + ks)`` and feature counts."""
    setup, d = _perturbation(ctx, attribution, n_random, seed)
    if by_count:
        counts = np.minimum(step_values[None, :], d[:, None])
    else:
        counts = np.rint(step_values[None, :] * d[:, None]).astype(np.int64)
    counts = np.concatenate([counts, np.minimum(np.asarray(ks)[None, :], d[:, None])], axis=1)

    n_pat = len(ctx.patients)
    every = np.arange(n_pat)
    zeros = np.zeros(n_pat, dtype=np.int64)
    full = setup.outputs(zeros, zeros, every, zeros)  # deletion of nothing
    empty = setup.outputs(zeros, np.ones_like(zeros), every, zeros)  # insertion of nothing

    n_r = 1 + n_random
    r_i, c_i, b_i, s_i = np.meshgrid(
        np.arange(n_r), np.arange(2), every, np.arange(counts.shape[1]), indexing="ij"
    )
    n_i = counts[b_i, s_i]
    d_i = d[b_i]
    values = np.where((n_i == 0) == (c_i == 0), full[b_i], empty[b_i])  # the two ends
    interior = (n_i > 0) & (n_i < d_i)
    key = ((r_i * 2 + c_i) * n_pat + b_i) * (int(d.max()) + 1) + n_i
    _, first, inverse = np.unique(key[interior], return_index=True, return_inverse=True)
    pick = [a[interior][first] for a in (r_i, c_i, b_i, n_i)]
    values[interior] = setup.outputs(*pick)[inverse.ravel()]
    return values, full, empty, counts, d


def _transform(values: np.ndarray, output: str) -> np.ndarray:
    """Log-odds of the target class -> its probability (``sigmoid``), if asked."""
    if output == "probability":
        return 1.0 / (1.0 + np.exp(-values))
    return values


# --------------------------------------------------------------------------- tables
def _output_name(n_outputs: int, output: str, target: str) -> str:
    """What ``f`` is, e.g. ``"probability of the predicted class"``."""
    if n_outputs == 1:
        return "risk score"
    which = "predicted" if target == "predicted" else "explained"
    if output == "probability":
        return f"probability of the {which} class"
    return f"log-odds of the {which} class"


def _fidelity_table(fid: np.ndarray, full: np.ndarray, ks: list[int]) -> pd.DataFrame:
    """Fidelity+ and fidelity- per ranking and ``k``; ``fid``: ``(2 rankings, 2 curves,
    patients, ks)`` outputs without the top-k (deletion) and with only the top-k."""
    rows = []
    for r, name in enumerate(_RANKINGS):
        for j, kk in enumerate(ks):
            rows.append(
                {
                    "ranking": name,
                    "k": kk,
                    "fidelity_plus": float(np.mean(full - fid[r, 0, :, j])),
                    "fidelity_minus": float(np.mean(full - fid[r, 1, :, j])),
                }
            )
    return pd.DataFrame(rows)


def _auc(x: np.ndarray, y: np.ndarray) -> float:
    """Trapezoidal area under ``y(x)`` divided by the width of ``x``: the mean height."""
    width = float(x[-1] - x[0])
    return float(np.sum((y[1:] + y[:-1]) * np.diff(x)) / 2.0 / width)


def _curve_tables(
    values: np.ndarray,
    step_values: np.ndarray,
    by_count: bool,
    counts: np.ndarray,
    d: np.ndarray,
    attribution: Attribution,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``values``: ``(2 rankings, 2 curves, patients, steps)``."""
    n_pat = values.shape[2]
    mean = values.mean(axis=2)
    sem = values.std(axis=2, ddof=1) / np.sqrt(n_pat) if n_pat > 1 else np.full_like(mean, np.nan)
    fraction = (counts / d[:, None]).mean(axis=0)
    steps = step_values.astype(np.int64) if by_count else step_values
    rows, summary = [], {}
    for r, ranking in enumerate(_RANKINGS):
        summary[ranking] = {
            f"{curve}_auc": _auc(step_values.astype(float), mean[r, c])
            for c, curve in enumerate(_CURVES)
        }
        for c, curve in enumerate(_CURVES):
            for s, step in enumerate(steps):
                rows.append((ranking, curve, step, fraction[s], mean[r, c, s], sem[r, c, s]))
    curves = pd.DataFrame(rows, columns=["ranking", "curve", "step", "fraction", "output", "sem"])
    r_i, c_i, b_i, s_i = np.meshgrid(
        np.arange(2), np.arange(2), np.arange(n_pat), np.arange(len(steps)), indexing="ij"
    )
    per_patient = pd.DataFrame(
        {
            "patient": np.asarray(attribution.patients, dtype=object)[b_i.ravel()],
            "ranking": np.asarray(_RANKINGS, dtype=object)[r_i.ravel()],
            "curve": np.asarray(_CURVES, dtype=object)[c_i.ravel()],
            "step": steps[s_i.ravel()],
            "n_perturbed": counts[b_i.ravel(), s_i.ravel()],
            "output": values.ravel(),
        }
    )
    table = pd.DataFrame.from_dict(summary, orient="index")
    table.index.name = "ranking"
    return curves, per_patient, table
