"""The reference an explainer benchmark checks gene rankings against: the planted pathways
and genes of a synthetic cohort, or the reference the cohort's config declares
(``benchmark.reference``: the Alzheimer's disease reference of the shared data folder, sets
of a collection or of a GMT file, a reference gene ranking); and the gene- and
pathway-level reference tests."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from graphfuse.config import ReferenceConfig
from graphfuse.data import GeneSets, data_path, data_root, load_gene_sets, read_csv_file
from graphfuse.enrich import Universe, permutation_test
from graphfuse.errors import DataError

__all__ = ["ad_reference"]

_REFERENCE_GENE_SET = "WP5124_ALZHEIMERS_DISEASE"
_ID = re.compile(r"GO:\d{7}|R-HSA-\d+|HALLMARK_[A-Z0-9_]+")


@dataclass
class _Reference:
    """The reference a ranking is checked against: a gene set and pathway ids/names."""

    label: str
    genes: GeneSets | None
    pathways: dict[str, str]  # id or set name -> theme
    planted: bool = False
    ranking: pd.Series | None = None  # gene -> |score| of a reference ranking
    ranking_label: str | None = None

    def matches(self, gene_sets: GeneSets) -> list[str]:
        """Sets of ``gene_sets`` that are reference pathways (by id, or by name)."""
        out = []
        for name in gene_sets.names:
            text = f"{name} {gene_sets.descriptions.get(name, '')}"
            if name in self.pathways or set(_ID.findall(text)) & set(self.pathways):
                out.append(name)
        return out


def ad_reference(root: str | Path | None = None) -> tuple[GeneSets, dict[str, str]]:
    """The Alzheimer's disease reference of the shared data folder.

    Reads ``genesets/ad_reference.gmt`` (WikiPathways WP5124 and WP2059) and the AD-related
    GO BP terms, Reactome pathways and Hallmark sets listed by theme in
    ``genesets/ad_reference.md``.

    Parameters
    ----------
    root
        The data root (default :func:`graphfuse.data.data_root`).

    Returns
    -------
    tuple
        The WP5124 gene set (a :class:`~graphfuse.data.GeneSets` of one set), and
        ``{GO id | Reactome id | Hallmark name: theme}``.

    Raises
    ------
    DataError
        The files are not in the data root.
    """
    folder = Path(root) if root is not None else data_root()
    gmt, md = folder / "genesets" / "ad_reference.gmt", folder / "genesets" / "ad_reference.md"
    if not gmt.is_file() or not md.is_file():
        raise DataError(f"the AD reference ({gmt.name}, {md.name}) is not in {gmt.parent}")
    sets = GeneSets.read_gmt(gmt, name="ad_reference")
    if _REFERENCE_GENE_SET not in sets:
        raise DataError(f"{gmt}: no set {_REFERENCE_GENE_SET!r}; it has {sets.names}")
    genes = GeneSets({_REFERENCE_GENE_SET: sets[_REFERENCE_GENE_SET]}, name="WP5124")
    pathways: dict[str, str] = {}
    for line in md.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) >= 3 and _ID.fullmatch(cells[1]):
            pathways[cells[1]] = cells[0]
        elif "HALLMARK_" in line and not line.startswith("|"):
            for name in re.findall(r"HALLMARK_[A-Z0-9_]+", line):
                pathways.setdefault(name, "hallmark")
    return genes, pathways


def _reference(cohort: Any, notes: list[str], config: ReferenceConfig | None = None) -> _Reference:
    """The planted pathways and genes (synthetic cohort), else the reference of ``config``
    (``benchmark.reference``); none without either (the note says so)."""
    truth = cohort.truth
    if truth and "pathways" in truth and config is None:
        from graphfuse.explain import planted_truth

        planted = planted_truth(cohort)
        return _Reference(
            "planted disease genes and pathways",
            GeneSets({"planted_genes": planted["genes"]}, name="planted"),
            {p: "planted" for p in planted["pathways"]},
            planted=True,
        )
    if config is None:
        notes.append(
            "the config declares no benchmark.reference: no reference biology is tested "
            "(e.g. benchmark: {reference: {builtin: ad}} or {collection: hallmark, sets: [...]})"
        )
        return _Reference("none", None, {})
    ref = _declared_sets(config)
    if config.ranking is not None:
        ref.ranking, ref.ranking_label = reference_ranking(config)
    return ref


def _declared_sets(config: ReferenceConfig) -> _Reference:
    """The reference sets of ``config``: gene level = their union, pathway level = the sets."""
    if config.builtin == "ad":
        genes, pathways = ad_reference()
        label = config.label or "AD reference (WP5124; AD pathways of ad_reference.md)"
        return _Reference(label, genes, pathways)
    if config.collection is None and config.gmt is None:
        return _Reference(config.label or "reference ranking", None, {})
    if config.gmt is not None:
        where = f"benchmark.reference.gmt {config.gmt}"
        sets = GeneSets.read_gmt(data_path(config.gmt, key="benchmark.reference.gmt"))
    else:
        where = f"benchmark.reference.collection {config.collection!r}"
        sets = load_gene_sets(config.collection)
    names = config.sets or sets.names
    unknown = [n for n in names if n not in sets]
    if unknown:
        close = [n for n in sets.names if any(u.split("_")[-1] in n for u in unknown)][:8]
        raise DataError(
            f"{where}: no set(s) {unknown} ({len(sets.names)} sets; e.g. {close or sets.names[:5]})"
        )
    members = sorted({g for n in names for g in sets[n]})
    label = config.label or ", ".join(names)
    return _Reference(
        label, GeneSets({"reference_genes": members}, name=label), dict.fromkeys(names, "reference")
    )


def reference_ranking(config: ReferenceConfig) -> tuple[pd.Series, str]:
    """``gene -> |score|`` of ``config.ranking`` (the largest ``|score|`` where a gene
    repeats), sorted decreasing, and its label."""
    spec = config.ranking
    assert spec is not None
    path = data_path(spec.path, key="benchmark.reference.ranking.path")
    where = f"benchmark.reference.ranking {path}"
    table = read_csv_file(path, "reference ranking")
    missing = [c for c in (spec.gene, spec.score) if c not in table.columns]
    if missing:
        raise DataError(f"{where}: no column(s) {missing}; columns: {list(table.columns)[:20]}")
    score = pd.to_numeric(table[spec.score], errors="coerce")
    bad = score.isna() & table[spec.score].notna()
    if bad.any():
        i = int(bad.to_numpy().nonzero()[0][0])
        raise DataError(
            f"{where}, column {spec.score!r}, row {i + 2}: {table[spec.score].iloc[i]!r} "
            "is not a number"
        )
    frame = pd.DataFrame({"gene": table[spec.gene].astype(str), "score": score.abs()}).dropna()
    ranking = frame.groupby("gene")["score"].max().sort_values(ascending=False, kind="stable")
    return ranking, spec.label or path.name


def _gene_reference(
    method: str, top: list[str], background: list[str], ref: _Reference, options: dict[str, Any]
) -> dict[str, Any]:
    row: dict[str, Any] = {"explainer": method, "level": "genes", "reference": ref.label}
    if ref.genes is None:
        return row
    members = set(ref.genes.genes) & set(background)
    row |= {"n_reference": len(members), "overlap": len(members & set(top))}
    if not members:
        return row
    res = permutation_test(top, ref.genes, background=background, min_size=1, **options)
    first = res.table.iloc[0]
    row |= {
        "reference": first["set"],
        "p": float(first["p"]),
        "permutation_p": float(first["empirical_p"]),
        "statistic": "overlap of the top-k with the reference genes",
        "genes": first["genes"],
    }
    return row


def _pathway_reference(
    method: str,
    name: str,
    top: list[str],
    universe: Universe,
    table: pd.DataFrame,
    fdr: float,
    options: dict[str, Any],
) -> dict[str, Any]:
    """Reference pathways among the tested sets of one collection: how many the top-k
    overlaps, how many are significant in the collection-wide ORA (BH over all its sets),
    and a permutation p of the list's smallest reference-pathway p against random lists."""
    refs = table.loc[table["reference"], "set"].tolist()
    row: dict[str, Any] = {
        "explainer": method,
        "level": f"pathways:{name}",
        "reference": f"reference pathways in {universe.collection}",
        "n_reference": len(refs),
    }
    if not refs:
        return row
    sub = GeneSets({s: universe.sets[s] for s in refs}, name=f"{universe.collection}:reference")
    res = permutation_test(top, Universe(sub, universe.genes, min_size=1, max_size=None), **options)
    hits = table[table["reference"]]
    significant = hits.loc[hits["fdr"] < fdr, "set"].tolist()
    row |= {
        "overlap": int((hits["overlap"] > 0).sum()),
        "n_significant": len(significant),
        "p": float(hits["p"].min()),
        "permutation_p": res.min_p_value,
        "statistic": "smallest reference-pathway ORA p of the top-k vs random lists",
        "genes": ";".join(significant),
    }
    return row
