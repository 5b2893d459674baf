"""Map an omics modality's features to gene symbols (``var["gene"]``)."""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from graphfuse.data._tables import read_csv_file
from graphfuse.errors import DataError

__all__ = ["GeneMapping", "gene_column", "strip_version"]

_ENSEMBL_VERSION = re.compile(r"^(ENS[A-Z]*\d+)\.\d+$")


def strip_version(ids: Sequence[str] | pd.Index) -> list[str]:
    """Drop the version suffix of Ensembl IDs (``ENSG00000161896.6`` -> ``ENSG00000161896``).

    Only IDs of the Ensembl form lose their suffix; other names (symbols such as
    ``RP11-34P13.7``) are kept as they are.

    Examples
    --------
    >>> strip_version(["ENSG00000161896.6", "ENST00000335137.4", "RP11-34P13.7", "APOE"])
    ['ENSG00000161896', 'ENST00000335137', 'RP11-34P13.7', 'APOE']
    """
    return [_ENSEMBL_VERSION.sub(r"\1", str(i)) for i in ids]


@dataclass(frozen=True)
class GeneMapping:
    """How an omics modality's features map to gene symbols.

    The gene ID of each feature is taken from its name (``ids="features"``) or from a
    ``var`` column of an AnnData input (``ids="var"``, ``column=...``); a ``strip_prefix``
    and Ensembl version suffixes are removed; then, if a ``table`` is given, the IDs are
    translated to symbols through it (``from_column`` -> ``to_column``).

    Parameters
    ----------
    ids
        ``"features"``: the feature names; ``"var"``: the ``var`` column ``column``.
    column
        The ``var`` column holding gene IDs (with ``ids="var"``).
    strip_prefix
        A prefix removed from every ID that has it (e.g. ``"HS_"``).
    strip_version
        Remove Ensembl version suffixes (``.6``); see :func:`strip_version`.
    table
        A CSV/TSV file (may be gzipped) translating IDs to symbols, e.g. the data root's
        ``genemap/ensembl-gene-index.csv.gz``.
    from_column, to_column
        Its ID and symbol columns; default: its first and second columns.

    Examples
    --------
    >>> GeneMapping(strip_prefix="HS_").map(["HS_APOE", "HS_APP"]).tolist()
    ['APOE', 'APP']
    """

    ids: Literal["features", "var"] = "features"
    column: str | None = None
    strip_prefix: str | None = None
    strip_version: bool = True
    table: str | Path | None = None
    from_column: str | None = None
    to_column: str | None = None

    def map(
        self,
        features: Sequence[str] | pd.Index,
        var: pd.DataFrame | None = None,
        *,
        where: str = "omics modality",
    ) -> pd.Series:
        """Gene symbol of each feature (NaN where unmapped), indexed by feature name.

        Parameters
        ----------
        features
            Feature names, in column order.
        var
            The features' annotation (needed with ``ids="var"``).
        where
            What is being mapped, for messages (``modality 'rna' (rna.csv)``).

        Raises
        ------
        DataError
            The ``var`` column or mapping table is missing, or no feature maps to a gene.

        Warns
        -----
        UserWarning
            Some features map to no gene: says how many, with examples.
        """
        names = pd.Index([str(f) for f in features])
        if self.ids == "var":
            if self.column is None:
                raise DataError(f"{where}: genes.ids is 'var' but no genes.column is given")
            if var is None or self.column not in var.columns:
                have = [] if var is None else list(var.columns)
                raise DataError(
                    f"{where}: var column {self.column!r} (feature -> gene) not found; "
                    f"var columns: {have} (a plain table has none: use genes.ids: features)"
                )
            raw = var[self.column].astype(object).to_numpy()
        else:
            raw = names.to_numpy(dtype=object)
        present = pd.notna(raw) & (pd.Series(raw, dtype=object).astype(str).str.strip() != "")
        ids = [str(v).strip() if ok else "" for v, ok in zip(raw, present, strict=True)]
        if self.strip_prefix:
            p = self.strip_prefix
            ids = [i[len(p) :] if i.startswith(p) else i for i in ids]
        if self.strip_version:
            ids = strip_version(ids)
        genes = pd.Series(ids, index=names, dtype=object).replace("", np.nan)
        if self.table is not None:
            lookup = self._lookup(where)
            genes = genes.map(lookup)
        mapped = genes.notna()
        if not mapped.any():
            how = f"through {self.table}" if self.table is not None else f"from {self.ids}"
            example = [i for i in ids if i][:5]
            raise DataError(
                f"{where}: the feature -> gene mapping maps none of its {len(names)} features "
                f"to a gene ({how}); its IDs look like {example}. Check genes.ids, "
                "genes.strip_prefix and the mapping table's columns, or set genes: none"
            )
        if not mapped.all():
            missed = names[~mapped.to_numpy()]
            warnings.warn(
                f"{where}: {len(missed)} of {len(names)} feature(s) map to no gene "
                f"(var['gene'] is NaN for them), e.g. {list(missed[:5])}",
                UserWarning,
                stacklevel=3,
            )
        return genes

    def _lookup(self, where: str) -> pd.Series:
        path = Path(self.table)  # type: ignore[arg-type]
        if not path.is_file():
            raise DataError(f"{where}: gene mapping table {path} not found")
        sep = "\t" if ".tsv" in path.suffixes or ".txt" in path.suffixes else ","
        table = read_csv_file(path, f"{where}: gene mapping table", sep=sep, dtype=str)
        if table.shape[1] < 2:
            raise DataError(
                f"{where}: gene mapping table {path} has {table.shape[1]} column(s); expected "
                "an ID column and a symbol column"
            )
        src = self.from_column or table.columns[0]
        dst = self.to_column or table.columns[1]
        for col, key in ((src, "from_column"), (dst, "to_column")):
            if col not in table.columns:
                raise DataError(
                    f"{where}: gene mapping table {path}: column {col!r} (genes.{key}) not "
                    f"found; columns: {list(table.columns)}"
                )
        keys = table[src].str.strip()
        if self.strip_version:
            keys = pd.Series(strip_version(keys.fillna("")), index=table.index)
        pairs = pd.DataFrame({"k": keys, "v": table[dst].str.strip()}).dropna()
        pairs = pairs[(pairs["k"] != "") & (pairs["v"] != "")]
        return pairs.drop_duplicates("k").set_index("k")["v"]


def gene_column(
    mapping: GeneMapping | None,
    features: Sequence[str] | pd.Index,
    var: pd.DataFrame | None = None,
    *,
    where: str = "omics modality",
) -> pd.Categorical:
    """``var["gene"]`` of an omics modality: symbols, NaN where unmapped, as a categorical.

    A categorical is what AnnData writes and reads back, and it stores a column with no
    mapped gene at all (``mapping=None``) as well.

    Examples
    --------
    >>> gene_column(GeneMapping(strip_prefix="HS_"), ["HS_APOE", "HS_APP"]).tolist()
    ['APOE', 'APP']
    >>> bool(gene_column(None, ["cg01", "cg02"]).isna().all())
    True
    """
    if mapping is None:
        return pd.Categorical([np.nan] * len(features), categories=pd.Index([], dtype=object))
    return pd.Categorical(mapping.map(features, var, where=where).to_numpy(dtype=object))
