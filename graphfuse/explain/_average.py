"""Attributions of an ensemble: the weighted average of its members' attributions.

An ensemble's output is the weighted average of its members' outputs. Attribution methods
that are linear in the explained function (Shapley values, gradients, gradient x input,
integrated gradients, the effect of replacing a feature or a group of features) give the
averaged output the same weighted average of the members' attributions (Shapley's
linearity axiom; Lundberg & Lee, NeurIPS 2017). A feature a member does not read has
attribution 0 for that member, so the average runs over the union of the members'
features. Each member scores features in the units of its own preprocessing (members of
a fold ensemble standardise on their own training patients). For unsigned or optimised
methods (``|gradient|``, masking's learned masks) the average is the members' mean, not
the method's score of the averaged output (for ``|gradient|`` an upper bound of it).

:func:`average_attributions` averages attributions already computed;
:func:`explain_members` runs the explainers on each member (a model and its patient graph)
and averages them, method by method.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from torch_geometric.data import HeteroData

from graphfuse._device import DeviceSetting
from graphfuse.errors import DataError
from graphfuse.explain._attribution import Attribution
from graphfuse.explain._base import Explainer
from graphfuse.explain._run import build_explainers, run
from graphfuse.models import FusionModel

__all__ = ["average_attributions", "explain_members", "member_weights"]


def member_weights(weights: Sequence[float] | None, n: int, *, what: str = "members") -> np.ndarray:
    """``weights`` of ``n`` members normalised to sum 1 (``None``: equal weights).

    Raises
    ------
    DataError
        Not one weight per member, a weight negative or not finite, or all zero.

    Examples
    --------
    >>> member_weights([1, 3], 2).tolist()
    [0.25, 0.75]
    """
    if n < 1:
        raise DataError(f"an average needs at least one of the {what}; got none")
    if weights is None:
        return np.full(n, 1.0 / n)
    w = np.asarray(weights, dtype=np.float64).ravel()
    if len(w) != n:
        raise DataError(f"{len(w)} weights for {n} {what}; give one weight per member")
    if not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise DataError(
            f"weights of the {what} must be finite, non-negative and not all zero; got {w.tolist()}"
        )
    return w / w.sum()


def average_attributions(
    attributions: Sequence[Attribution],
    weights: Sequence[float] | None = None,
    *,
    names: Sequence[str] | None = None,
) -> Attribution:
    """The weighted average of several members' attributions of one method.

    Parameters
    ----------
    attributions
        One attribution per member, all of the same method, over the same patients (the
        same ids; each member's order may differ, the first member's is kept).
    weights
        The members' weights in the ensemble's average (normalised to sum 1); ``None``:
        equal weights.
    names
        The members' names, recorded in ``params``; default ``member_0``, ``member_1``, ...

    Returns
    -------
    Attribution
        ``scores``: per modality (the union of the members' modalities) the union of the
        members' features (first member's order, then new ones as they appear); a member
        lacking a feature or modality counts 0 for it. A cell is NaN where it is NaN in
        every member having the feature (the patient lacks the modality); a NaN in some
        members only counts 0 in those. ``groups`` likewise. ``prediction``: the averaged
        ``p_<class>`` (or ``risk``) and the members' common ``target``. ``edge_scores``:
        the average where every member scored the same edges, else none
        (``params["ensemble"]["edge_scores"]`` says which). ``seconds``: the sum.
        ``seed``: the members' common seed (``None`` where they differ). ``params``: the
        members' common parameters (else ``params["ensemble"]["member_params"]``) plus
        ``params["ensemble"]``: ``members``, ``weights``, ``edge_scores``.
        ``diagnostics``: ``{"members": {name: diagnostics}}``.

    Raises
    ------
    DataError
        No attributions; methods, ``signed`` or ``output`` that differ; patients that
        differ (naming some); a patient explained for different target classes by
        different members (pass ``target=``); a feature mapped to different genes;
        ``weights``/``names`` of the wrong length, duplicate names.

    Examples
    --------
    >>> import pandas as pd
    >>> p = pd.DataFrame({"p_A": [0.5], "p_B": [0.5], "target": ["B"]}, index=["x"])
    >>> a = Attribution("saliency", {"rna": pd.DataFrame({"g1": [1.0]}, index=["x"])}, p)
    >>> b = Attribution("saliency", {"rna": pd.DataFrame({"g2": [3.0]}, index=["x"])}, p)
    >>> average_attributions([a, b]).scores["rna"].to_dict("records")
    [{'g1': 0.5, 'g2': 1.5}]
    """
    members = list(attributions)
    w = member_weights(weights, len(members), what="attributions")
    labels = _names(names, len(members))
    first = members[0]
    for label, a in zip(labels, members, strict=True):
        for attr in ("method", "signed", "output"):
            if getattr(a, attr) != getattr(first, attr):
                raise DataError(
                    f"member {label!r}: attribution {attr} {getattr(a, attr)!r} differs from "
                    f"member {labels[0]!r}'s {getattr(first, attr)!r}; average one method at "
                    "a time"
                )
    patients = first.patients
    aligned = [
        _aligned(a, patients, label, labels[0]) for label, a in zip(labels, members, strict=True)
    ]
    scores = _average_tables([a.scores for a in aligned], w)
    groups = _average_tables([a.groups for a in aligned], w)
    edges, edge_note = _average_edges([a.edge_scores for a in aligned], w)
    params_list = [a.params for a in aligned]
    same_params = all(p == params_list[0] for p in params_list)
    params = dict(params_list[0]) if same_params else {}
    ensemble: dict[str, Any] = {
        "members": labels,
        "weights": [float(x) for x in w],
        "edge_scores": edge_note,
    }
    if not same_params:
        ensemble["member_params"] = dict(zip(labels, params_list, strict=True))
    params["ensemble"] = ensemble
    seeds = {a.seed for a in aligned}
    return Attribution(
        method=first.method,
        scores=scores,
        prediction=_average_prediction([a.prediction for a in aligned], w, labels),
        params=params,
        seed=seeds.pop() if len(seeds) == 1 else None,
        seconds=float(sum(a.seconds for a in aligned)),
        signed=first.signed,
        output=first.output,
        edge_scores=edges,
        feature_genes=_genes([a.feature_genes for a in aligned], labels, scores),
        groups=groups,
        diagnostics={"members": {n: a.diagnostics for n, a in zip(labels, aligned, strict=True)}},
    )


def explain_members(
    models_and_data: Sequence[tuple[FusionModel, HeteroData]],
    methods: Sequence[str] | Mapping[str, Explainer],
    *,
    patients: Any = None,
    weights: Sequence[float] | None = None,
    names: Sequence[str] | None = None,
    target: int | str | None = None,
    seed: int = 0,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    threads: int | None = None,
    device: DeviceSetting | None = None,
    progress: Callable[[str, int, int, Mapping[str, Any]], None] | None = None,
) -> dict[str, Attribution]:
    """Explain each member of an ensemble with each method; average per method.

    Parameters
    ----------
    models_and_data
        Per member a trained model and its patient graph (:func:`graphfuse.explain.run`).
    methods
        Registered explainer names (built once with ``params``), or built explainers.
    patients
        The explained patients' positions: ``None`` (every patient), one sequence of
        positions for every member, or a list with one sequence per member (the same
        patients sit at different positions of different members' graphs). The
        explained patients' ids must be the same for every member.
    weights, names
        As in :func:`average_attributions`.
    target, seed, threads, device
        As in :func:`graphfuse.explain.run`, the same for every member.
    params
        ``method -> its parameters`` for methods given by name.
    progress
        Called as :func:`graphfuse.explain.run` calls it, once per member (each member
        counts its methods from 0 again).

    Returns
    -------
    dict
        ``method -> Attribution`` (:func:`average_attributions` of the members'), in the
        order of ``methods``.

    Raises
    ------
    DataError
        No members, ``patients`` not one per member, or attributions that cannot be
        averaged (:func:`average_attributions`).

    Examples
    --------
    >>> out = explain_members([(m1, g1), (m2, g2)], ["saliency"])  # doctest: +SKIP
    >>> out["saliency"].params["ensemble"]["members"]  # doctest: +SKIP
    ['member_0', 'member_1']
    """
    pairs = list(models_and_data)
    if not pairs:
        raise DataError("explain_members: no members to explain")
    w = member_weights(weights, len(pairs))
    labels = _names(names, len(pairs))
    per_member = _per_member(patients, len(pairs))
    explainers = (
        dict(methods) if isinstance(methods, Mapping) else build_explainers(methods, params)
    )
    outs = [
        run(
            model,
            data,
            explainers,
            patients=where,
            target=target,
            seed=seed,
            threads=threads,
            device=device,
            progress=progress,
        )
        for (model, data), where in zip(pairs, per_member, strict=True)
    ]
    return {m: average_attributions([o[m] for o in outs], w, names=labels) for m in explainers}


# ---------------------------------------------------------------------- helpers
def _names(names: Sequence[str] | None, n: int) -> list[str]:
    labels = [f"member_{i}" for i in range(n)] if names is None else [str(x) for x in names]
    if len(labels) != n:
        raise DataError(f"{len(labels)} names for {n} members; give one name per member")
    if len(set(labels)) != n:
        dup = sorted({x for x in labels if labels.count(x) > 1})
        raise DataError(f"member names must be unique; {dup} appear more than once")
    return labels


def _per_member(patients: Any, n: int) -> list[Any]:
    """``patients`` as one positions sequence (or ``None``) per member."""
    if patients is None:
        return [None] * n
    if isinstance(patients, (list, tuple)) and patients and np.ndim(patients[0]) == 1:
        if len(patients) != n:
            raise DataError(
                f"patients: {len(patients)} position lists for {n} members; give one per "
                "member, or one list for all"
            )
        return list(patients)
    return [patients] * n


def _aligned(a: Attribution, patients: pd.Index, label: str, first: str) -> Attribution:
    """``a`` with its patient rows in ``patients``' order (the same ids, else an error)."""
    own = a.patients
    if own.equals(patients):
        return a
    if len(own) != len(patients) or not own.sort_values().equals(patients.sort_values()):
        missing = patients.difference(own)[:5].tolist()
        extra = own.difference(patients)[:5].tolist()
        raise DataError(
            f"member {label!r} explained other patients than member {first!r} "
            f"({len(own)} vs {len(patients)}; lacking {missing}, extra {extra}); members "
            "must explain the same patients"
        )

    def rows(table: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
        return {k: f.reindex(patients) for k, f in table.items()}

    return Attribution(
        method=a.method,
        scores=rows(a.scores),
        prediction=a.prediction.reindex(patients),
        params=a.params,
        seed=a.seed,
        seconds=a.seconds,
        signed=a.signed,
        output=a.output,
        edge_scores=a.edge_scores,
        feature_genes=a.feature_genes,
        groups=rows(a.groups),
        diagnostics=a.diagnostics,
    )


def _union(columns: Sequence[pd.Index]) -> list[Any]:
    seen: dict[Any, None] = {}
    for cols in columns:
        for c in cols:
            seen.setdefault(c, None)
    return list(seen)


def _average_tables(
    tables: Sequence[Mapping[str, pd.DataFrame]], w: np.ndarray
) -> dict[str, pd.DataFrame]:
    """Per key, the weighted average over the union of columns (absent: 0; NaN only where
    every member having the column is NaN)."""
    keys = _union([pd.Index(list(t)) for t in tables])
    out = {}
    for key in keys:
        having = [(t[key], wk) for t, wk in zip(tables, w, strict=True) if key in t]
        index = having[0][0].index
        columns = _union([f.columns for f, _ in having])
        total = np.zeros((len(index), len(columns)))
        seen = np.zeros((len(index), len(columns)), dtype=bool)
        for frame, wk in having:
            values = frame.reindex(columns=columns).to_numpy(dtype=np.float64)
            # a column the member lacks scores 0 for it, except in rows where the member
            # has no value at all (the patient lacks the modality)
            lacks = ~pd.Index(columns).isin(frame.columns)
            has_row = frame.notna().any(axis=1).to_numpy()
            values[np.ix_(has_row, lacks)] = 0.0
            known = ~np.isnan(values)
            total += wk * np.where(known, values, 0.0)
            seen |= known
        total[~seen] = np.nan
        out[key] = pd.DataFrame(total, index=index, columns=columns)
    return out


def _average_edges(
    edges: Sequence[Mapping[str, pd.DataFrame]], w: np.ndarray
) -> tuple[dict[str, pd.DataFrame], str]:
    """Averaged edge scores where every member scored the same edges."""
    if not any(edges):
        return {}, "none (the method scores no edges)"
    if any(list(e) != list(edges[0]) for e in edges):
        return {}, "dropped: the members scored different edge types"
    out = {}
    for name, frame in edges[0].items():
        key = ["source", "target"]
        base = frame.sort_values(key, kind="stable").reset_index(drop=True)
        score = np.zeros(len(base))
        for e, wk in zip(edges, w, strict=True):
            other = e[name].sort_values(key, kind="stable").reset_index(drop=True)
            if len(other) != len(base) or not (other[key].to_numpy() == base[key].to_numpy()).all():
                return {}, "dropped: the members' graphs have different edges"
            score += wk * other["score"].to_numpy(dtype=np.float64)
        out[name] = base[key].assign(score=score)
    return out, "averaged (every member scored the same edges)"


def _average_prediction(
    predictions: Sequence[pd.DataFrame], w: np.ndarray, labels: Sequence[str]
) -> pd.DataFrame:
    first = predictions[0]
    numeric = [c for c in first.columns if c != "target"]
    for label, p in zip(labels, predictions, strict=True):
        if list(p.columns) != list(first.columns):
            raise DataError(
                f"member {label!r} predicts columns {list(p.columns)}, member {labels[0]!r} "
                f"{list(first.columns)}: the members must share task and classes"
            )
    out = first.copy()
    values = [p[numeric].to_numpy(dtype=np.float64) for p in predictions]
    out[numeric] = sum(wk * v for v, wk in zip(values, w, strict=True))
    if "target" in first.columns:
        targets = np.stack([p["target"].astype(str).to_numpy() for p in predictions])
        differ = (targets != targets[0]).any(axis=0)
        if differ.any():
            shown = first.index[differ][:5].tolist()
            raise DataError(
                f"the members explained different target classes for patients {shown}: "
                "each member's default target is its own predicted class; name the class "
                "to explain (target=...) or explain one predicted class at a time"
            )
    return out


def _genes(
    genes: Sequence[Mapping[str, Mapping[str, str]]],
    labels: Sequence[str],
    scores: Mapping[str, pd.DataFrame],
) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for label, member in zip(labels, genes, strict=True):
        for m, mapping in member.items():
            into = out.setdefault(m, {})
            for feature, gene in mapping.items():
                if into.setdefault(feature, gene) != gene:
                    raise DataError(
                        f"member {label!r} maps feature {feature!r} of modality {m!r} to gene "
                        f"{gene!r}, an earlier member to {into[feature]!r}"
                    )
    return {m: g for m, g in out.items() if m in scores}
