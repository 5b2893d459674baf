import numpy as np
import pytest

from graphfuse.data import GeneSets, data_root, make_synthetic_cohort, read_interactions
from graphfuse.errors import DataError

SHARED = data_root()


def gmt(tmp_path, text, name="sets.gmt"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_read_gmt_ignores_trailing_tabs_and_keeps_descriptions(tmp_path):
    gs = GeneSets.read_gmt(gmt(tmp_path, "P1\tdesc one\tA\tB\t\nP2\t\tB\tC\tD\n"))
    assert gs.names == ["P1", "P2"] and gs["P1"] == ("A", "B")
    assert gs.descriptions["P1"] == "desc one" and gs.name == "sets"
    assert gs.genes == ["A", "B", "C", "D"]


def test_duplicate_set_name_is_an_error_with_lines(tmp_path):
    with pytest.raises(DataError, match=r"sets\.gmt:3: gene set 'P1' already defined on line 1"):
        GeneSets.read_gmt(gmt(tmp_path, "P1\t\tA\nP2\t\tB\nP1\t\tC\n"))


def test_empty_sets_and_repeated_genes_warn(tmp_path):
    with pytest.warns(UserWarning) as record:
        gs = GeneSets.read_gmt(gmt(tmp_path, "P1\t\tA\tA\tB\nEMPTY\tnothing\n"))
    messages = " ".join(str(w.message) for w in record)
    assert "skipped 1 gene set(s) with no genes" in messages and "'EMPTY'" in messages
    assert "1 gene(s) listed twice" in messages
    assert gs.names == ["P1"] and gs["P1"] == ("A", "B")


def test_mixed_identifier_types_warn(tmp_path):
    with pytest.warns(UserWarning, match="mixed gene identifier types"):
        GeneSets.read_gmt(gmt(tmp_path, "P1\t\tAPP\tENSG00000142192\nP2\t\t351\tMAPT\n"))


def test_not_a_gmt_file(tmp_path):
    with pytest.raises(DataError, match="no gene sets with genes"), pytest.warns(UserWarning):
        GeneSets.read_gmt(gmt(tmp_path, "just a line\n"))
    with pytest.raises(DataError, match="not found"):
        GeneSets.read_gmt(tmp_path / "absent.gmt")


def test_filter_restrict_membership_round_trip(tmp_path):
    gs = GeneSets({"P1": ["A", "B", "C"], "P2": ["C", "D"], "P3": ["E"]}, name="toy")
    assert gs.filter(min_size=2, max_size=2).names == ["P2"]
    r = gs.restrict(["A", "B", "D"], min_size=2)
    assert r.names == ["P1"] and r["P1"] == ("A", "B")
    with pytest.raises(DataError, match="no set of 'toy' keeps 2 gene"):
        gs.restrict(["X", "Y"], min_size=2)
    m, genes = gs.membership(["C", "A", "Z"])
    assert genes == ["C", "A", "Z"]
    assert m.toarray().tolist() == [[1, 1, 0], [1, 0, 0], [0, 0, 0]]
    gs.write_gmt(tmp_path / "out.gmt")
    again = GeneSets.read_gmt(tmp_path / "out.gmt")
    assert dict(again.items()) == dict(gs.items())
    assert set(gs.to_frame().columns) == {"set", "gene"}


def test_synthetic_collection():
    c = make_synthetic_cohort(30, n_genes=60, n_pathways=6, n_regions=10)
    gs = GeneSets.from_cohort(c)
    assert len(gs) == 6 and set(c.truth["pathways"]) <= set(gs.names)


def test_interactions_map_dedupe_and_weights(tmp_path):
    edges = tmp_path / "ppi.csv"
    edges.write_text(
        "protein1,protein2,score\n9606.P1,9606.P2,900\n9606.P2,9606.P1,950\n"
        "9606.P1,9606.P9,999\n9606.P3,9606.P3,999\n9606.P1,9606.P3,500\n"
    )
    smap = tmp_path / "map.csv"
    smap.write_text("symbol,ensp\nAPP,P1\nAPOE,P2\nMAPT,P3\n")
    df = read_interactions(edges, symbol_map=smap, score_column="score", min_score=600)
    assert df[["gene_a", "gene_b"]].values.tolist() == [["APOE", "APP"]]
    assert np.isclose(df["weight"].iloc[0], 950 / 999)
    assert df.attrs["unmapped_nodes"] == 1
    with pytest.raises(DataError, match=r"column\(s\) \['weight'\] not found"):
        read_interactions(edges, score_column="weight")


@pytest.mark.skipif(not (SHARED / "genesets").is_dir(), reason=f"shared data not found at {SHARED}")
def test_real_collections_read():
    reactome = GeneSets.read_gmt(SHARED / "genesets" / "ReactomePathways_2024-09-18.gmt")
    assert len(reactome) == 2694 and len(reactome.genes) == 11668
    assert reactome.id_types["symbol"] > 0.99 * len(reactome.genes)
    hallmark = GeneSets.read_gmt(SHARED / "genesets" / "h.all.v2024.1.Hs.symbols.gmt")
    assert len(hallmark) == 50
    ppi = read_interactions(
        SHARED / "ppi" / "9606.protein.physical.links.v12.0.min900.onlyAB.csv",
        symbol_map=SHARED / "ppi" / "gene_symbol_map.csv",
    )
    assert ppi.attrs["unmapped_nodes"] == 694
    assert {"APP", "APOE"} <= set(ppi["gene_a"]) | set(ppi["gene_b"])
