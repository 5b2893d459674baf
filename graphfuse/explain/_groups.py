"""Groups of features: modalities, gene sets (pathways) and explicit groups.

The idea of captum's ``feature_mask``: an explainer may attribute to groups of features
instead of single features. A group is a list of ``(modality, feature)`` pairs; groups
may overlap (pathways share genes). Gene sets become feature groups through each
modality's feature -> gene map (``var["gene"]``, the graph's ``feature_genes``), so a
pathway holds the features of its genes across every omics modality. Every explainer
and :class:`~graphfuse.explain.Attribution` resolves groups here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from torch_geometric.data import HeteroData

from graphfuse.data import GeneSets
from graphfuse.errors import DataError, GraphfuseError
from graphfuse.graphs import graph_info

__all__ = [
    "Feature",
    "GroupSpec",
    "explicit_groups",
    "feature_groups",
    "features_by_gene",
    "gene_set_groups",
    "gene_set_members",
    "graph_feature_genes",
    "modality_groups",
    "positions_by_modality",
    "validated_gene_sets",
]

#: One feature: ``(modality, feature name)``.
Feature = tuple[str, str]

#: How an explainer groups features: each on its own, per modality, per gene set of its
#: ``gene_sets``, or an explicit ``name -> [(modality, feature), ...]`` mapping.
GroupSpec = Literal["features", "modalities", "pathways"] | dict[str, list[tuple[str, str]]]


def gene_set_members(gene_sets: GeneSets | Mapping[str, Iterable[str]]) -> dict[str, list[str]]:
    """``set name -> member genes`` of a :class:`~graphfuse.data.GeneSets` or a mapping.

    Examples
    --------
    >>> gene_set_members(GeneSets({"P1": ["A", "B"]}))
    {'P1': ['A', 'B']}
    """
    return {name: list(genes) for name, genes in gene_sets.items()}


def validated_gene_sets(value: Any) -> Any:
    """What a ``gene_sets`` parameter validator passes on: a
    :class:`~graphfuse.data.GeneSets` as its ``name -> genes`` dict, anything else as is
    (pydantic then checks it is such a mapping)."""
    return gene_set_members(value) if isinstance(value, GeneSets) else value


def graph_feature_genes(data: HeteroData) -> dict[str, dict[str, str]]:
    """The graph's ``modality -> {feature: gene}`` map (empty where it has none)."""
    return graph_info(data).feature_genes or {}


def features_by_gene(
    feature_genes: Mapping[str, Mapping[str, str]],
    features: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, list[Feature]]:
    """``gene -> the features that map to it``, in the order of ``feature_genes``.

    Parameters
    ----------
    feature_genes
        ``modality -> {feature: gene}``.
    features
        ``modality -> feature names`` to keep (e.g. the model's); default: every feature
        of ``feature_genes``.
    """
    kept = None if features is None else {m: set(names) for m, names in features.items()}
    out: dict[str, list[Feature]] = {}
    for m, mapping in feature_genes.items():
        if kept is not None and m not in kept:
            continue
        for feature, gene in mapping.items():
            if kept is None or feature in kept[m]:
                out.setdefault(gene, []).append((m, feature))
    return out


def gene_set_groups(
    gene_sets: GeneSets | Mapping[str, Iterable[str]],
    feature_genes: Mapping[str, Mapping[str, str]],
    features: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, list[Feature]]:
    """``set name -> the features of its genes`` (each once, in the set's gene order).

    Sets none of whose genes has a feature are left out.

    Parameters
    ----------
    gene_sets
        A :class:`~graphfuse.data.GeneSets` or a ``name -> genes`` mapping.
    feature_genes, features
        As for :func:`features_by_gene`.

    Examples
    --------
    >>> genes = {"expr": {"f1": "A", "f2": "B"}, "meth": {"cg1": "A"}}
    >>> gene_set_groups({"P1": ["A"], "P2": ["C"]}, genes)
    {'P1': [('expr', 'f1'), ('meth', 'cg1')]}
    """
    by_gene = features_by_gene(feature_genes, features)
    out: dict[str, list[Feature]] = {}
    for name, genes in gene_set_members(gene_sets).items():
        members = list(dict.fromkeys(f for g in genes for f in by_gene.get(g, [])))
        if members:
            out[name] = members
    return out


def modality_groups(features: Mapping[str, Sequence[str]]) -> dict[str, list[Feature]]:
    """``modality -> its features``."""
    return {m: [(m, f) for f in names] for m, names in features.items()}


def explicit_groups(
    groups: Mapping[str, Iterable[Sequence[str]]],
    features: Mapping[str, Sequence[str]],
    *,
    who: str,
    error: type[GraphfuseError] = DataError,
) -> dict[str, list[Feature]]:
    """Check an explicit ``name -> [(modality, feature), ...]`` grouping against the model.

    Returns each group's features once, in the order given. ``who`` (the explainer's
    name) starts every message; ``error`` is the class raised.

    Raises
    ------
    GraphfuseError
        A group is empty, or names a modality or feature the model does not have.
    """
    names = {m: set(fs) for m, fs in features.items()}
    out: dict[str, list[Feature]] = {}
    for name, members in groups.items():
        group: list[Feature] = []
        for member in members:
            m, feature = tuple(member)
            if m not in names:
                raise error(
                    f"{who} group {name!r}: unknown modality {m!r}; the model has "
                    f"{', '.join(names)} (a feature is given as (modality, feature name))"
                )
            if feature not in names[m]:
                raise error(
                    f"{who} group {name!r}: modality {m!r} has no feature {feature!r} "
                    "(the model does not have it)"
                )
            group.append((m, feature))
        if not group:
            raise error(f"{who} group {name!r} has no features")
        out[name] = list(dict.fromkeys(group))
    return out


def feature_groups(
    spec: GroupSpec,
    features: Mapping[str, Sequence[str]],
    *,
    feature_genes: Mapping[str, Mapping[str, str]],
    gene_sets: GeneSets | Mapping[str, Iterable[str]] | None,
    who: str,
    error: type[GraphfuseError] = DataError,
) -> dict[Any, list[Feature]]:
    """The groups an explainer's ``groups`` parameter names, over the model's ``features``.

    ``"features"``: every feature its own group, labelled ``(modality, feature)``;
    ``"modalities"``: :func:`modality_groups`; ``"pathways"``: :func:`gene_set_groups`
    of ``gene_sets`` through ``feature_genes``; a mapping: :func:`explicit_groups`.

    Raises
    ------
    DataError
        ``"pathways"``: no gene set has a gene among the model's features.
    GraphfuseError
        An explicit group is invalid (of class ``error``).

    Examples
    --------
    >>> feature_groups("modalities", {"a": ["x", "y"]}, feature_genes={}, gene_sets=None,
    ...                who="shap")
    {'a': [('a', 'x'), ('a', 'y')]}
    """
    if spec == "features":
        return {(m, f): [(m, f)] for m, names in features.items() for f in names}
    if spec == "modalities":
        return dict(modality_groups(features))
    if spec == "pathways":
        groups = gene_set_groups(gene_sets or {}, feature_genes, features)
        if not groups:
            raise DataError(
                f"{who} groups 'pathways': no gene set has a gene among the model's "
                "features (the graph's feature_genes; annotate it with "
                "graphfuse.experiment.annotate_graph)"
            )
        return dict(groups)
    if isinstance(spec, str):
        raise error(f"{who}: unknown groups {spec!r}; expected features, modalities or pathways")
    return dict(explicit_groups(spec, features, who=who, error=error))


def positions_by_modality(
    group: Iterable[Feature], features: Mapping[str, Sequence[str]]
) -> dict[str, list[int]]:
    """``modality -> sorted positions`` of a group's features (modalities in the order
    they first appear in the group)."""
    index = {m: {f: i for i, f in enumerate(names)} for m, names in features.items()}
    out: dict[str, set[int]] = {}
    for m, f in group:
        out.setdefault(m, set()).add(index[m][f])
    return {m: sorted(v) for m, v in out.items()}
