"""Gene-gene interaction networks (e.g. STRING) as edge lists of gene symbols."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from graphfuse.data._tables import read_csv_file
from graphfuse.errors import DataError

__all__ = ["read_interactions"]


def read_interactions(
    path: str | Path,
    *,
    symbol_map: str | Path | None = None,
    columns: tuple[str, str] = ("protein1", "protein2"),
    score_column: str | None = None,
    min_score: float | None = None,
) -> pd.DataFrame:
    """Read an undirected interaction edge list and map its nodes to gene symbols.

    Parameters
    ----------
    path
        CSV/TSV edge list (STRING format: ``protein1,protein2[,combined_score]`` with IDs
        such as ``9606.ENSP00000000412``).
    symbol_map
        Optional CSV with columns ``symbol`` and ``ensp`` mapping protein IDs (without the
        taxon prefix) to symbols. Without it, node IDs are used as they are.
    columns
        The two node columns.
    score_column, min_score
        Optional score column (becomes ``weight``, scaled to ``[0, 1]`` when its maximum
        exceeds 1, as STRING's 0-1000 scores) and a minimum score to keep an edge.

    Returns
    -------
    pandas.DataFrame
        Columns ``gene_a``, ``gene_b``, ``weight``: one row per undirected pair
        (``gene_a < gene_b``), no self-loops. ``attrs`` records the source, the number of
        edges read and the number of nodes that mapped to no symbol.

    Examples
    --------
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "ppi.csv"
    >>> _ = p.write_text("protein1,protein2\\nB,A\\nA,B\\nA,C\\nC,C\\n")
    >>> read_interactions(p)[["gene_a", "gene_b"]].values.tolist()
    [['A', 'B'], ['A', 'C']]
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: interaction file not found")
    sep = "\t" if path.suffix in {".tsv", ".txt"} else ","
    table = read_csv_file(path, "interaction file", sep=sep)
    missing = [c for c in (*columns, *([score_column] if score_column else [])) if c not in table]
    if missing:
        raise DataError(f"{path}: column(s) {missing} not found; columns: {list(table.columns)}")
    a = table[columns[0]].astype(str).str.replace(r"^\d+\.", "", regex=True)
    b = table[columns[1]].astype(str).str.replace(r"^\d+\.", "", regex=True)
    weight = np.ones(len(table), dtype=np.float32)
    if score_column:
        weight = pd.to_numeric(table[score_column], errors="coerce").to_numpy(dtype=np.float32)
        if np.isnan(weight).any():
            row = int(np.flatnonzero(np.isnan(weight))[0])
            raise DataError(
                f"{path}: column {score_column!r}, row {row + 2}: score is not a number "
                f"({table[score_column].iloc[row]!r})"
            )
    keep = np.ones(len(table), dtype=bool)
    if min_score is not None:
        keep &= weight >= min_score
    if score_column and weight.max(initial=0) > 1:
        weight = weight / weight.max()
    unmapped = 0
    if symbol_map is not None:
        smap = read_csv_file(Path(symbol_map), "protein -> symbol map")
        if not {"symbol", "ensp"} <= set(smap.columns):
            raise DataError(f"{symbol_map}: expected columns 'symbol' and 'ensp'")
        lookup = dict(zip(smap["ensp"].astype(str), smap["symbol"].astype(str), strict=True))
        nodes = pd.unique(pd.concat([a, b]))
        unmapped = int(sum(n not in lookup for n in nodes))
        a, b = a.map(lookup), b.map(lookup)
        keep &= a.notna().to_numpy() & b.notna().to_numpy()
    edges = pd.DataFrame({"x": a[keep].to_numpy(), "y": b[keep].to_numpy(), "weight": weight[keep]})
    edges = edges[edges["x"] != edges["y"]]
    x, y = edges["x"].to_numpy(dtype=object), edges["y"].to_numpy(dtype=object)
    swap = x > y
    lo, hi = np.where(swap, y, x), np.where(swap, x, y)
    out = pd.DataFrame({"gene_a": lo, "gene_b": hi, "weight": edges["weight"].to_numpy()})
    out = out.groupby(["gene_a", "gene_b"], as_index=False, sort=True)["weight"].max()
    if out.empty:
        raise DataError(f"{path}: no interaction left after mapping and filtering")
    out.attrs = {"source": str(path), "edges_read": len(table), "unmapped_nodes": unmapped}
    return out
