"""Feature -> gene symbol mapping."""

from __future__ import annotations

import pandas as pd
import pytest

from graphfuse.data import GeneMapping, data_root
from graphfuse.data._genes import strip_version
from graphfuse.errors import DataError


def test_strip_version_touches_ensembl_ids_only():
    assert strip_version(["ENSG00000161896.6", "ENSMUSG00000000001.4", "RP11-34P13.7"]) == [
        "ENSG00000161896",
        "ENSMUSG00000000001",
        "RP11-34P13.7",
    ]


def test_features_var_column_and_table(tmp_path):
    assert GeneMapping(strip_prefix="HS_").map(["HS_APOE", "APP"]).tolist() == ["APOE", "APP"]
    var = pd.DataFrame({"sym": ["APOE", None]}, index=["f1", "f2"])
    with pytest.warns(UserWarning, match=r"1 of 2 feature\(s\) map to no gene"):
        genes = GeneMapping(ids="var", column="sym").map(var.index, var)
    assert genes.index.tolist() == ["f1", "f2"] and genes.iloc[0] == "APOE"
    with pytest.raises(
        DataError, match=r"var column 'gene_ids' .* not found; var columns: \['sym'\]"
    ):
        GeneMapping(ids="var", column="gene_ids").map(var.index, var)
    table = tmp_path / "map.tsv"
    pd.DataFrame({"id": ["cg1", "cg2"], "name": ["X", "GENE"], "sym": ["A", "B"]}).to_csv(
        table, sep="\t", index=False
    )
    mapped = GeneMapping(table=table, to_column="sym").map(["cg2", "cg1"])
    assert mapped.tolist() == ["B", "A"]
    with pytest.raises(DataError, match=r"column 'symbol' \(genes\.to_column\) not found"):
        GeneMapping(table=table, to_column="symbol").map(["cg1"])


def test_ensembl_to_symbol_map_of_the_data_root():
    table = data_root() / "genemap" / "ensembl-gene-index.csv.gz"
    if not table.is_file():
        pytest.skip(f"shared data absent: {table} not found (set GRAPHFUSE_DATA)")
    genes = GeneMapping(table=table).map(["ENSG00000130203.9", "ENSG00000142192.20"])
    assert genes.tolist() == ["APOE", "APP"]
