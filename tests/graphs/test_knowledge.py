import numpy as np
import pandas as pd
import pytest

from graphfuse.data import GeneSets, Preprocessor
from graphfuse.errors import DataError
from graphfuse.graphs import (
    GENE,
    KNNBuilder,
    build_knowledge_graph,
    build_patient_graph,
    feature_gene_map,
    feature_key,
)


@pytest.fixture
def kg(graph, cohort):
    return build_knowledge_graph(
        graph,
        feature_genes=feature_gene_map(cohort),
        gene_sets={"pathway": GeneSets.from_cohort(cohort)},
        interactions=pd.DataFrame(
            {"gene_a": ["G00000", "G00001", "NOPE"], "gene_b": ["G00002", "G00003", "G00004"],
             "weight": [1.0, 0.5, 1.0]}
        ),
        top_genes=10,
        min_set_size=3,
        patients=list(cohort.patients),
    )  # fmt: skip


def test_nodes_and_names(kg, cohort):
    assert set(kg.node_types) == {"patient", GENE, "pathway", "clinical_variable", "imaging_region"}
    assert kg["patient"].node_names == list(cohort.patients)
    measured = set(cohort.modality("expression").var["gene"]) | set(
        cohort.modality("methylation").var["gene"]
    )
    assert set(kg[GENE].node_names) == measured
    assert kg["clinical_variable"].node_names[:2] == ["age", "sex"]
    assert kg["imaging_region"].num_nodes == cohort.modality("imaging").n_vars
    assert set(kg["pathway"].node_names) <= set(GeneSets.from_cohort(cohort).names)


def test_patient_gene_edges_top_k_and_only_training_patients_send(kg, graph):
    train = graph["patient"].train_mask.numpy()
    has_expr = graph["patient"].available[:, 0].numpy()
    fwd = kg["patient", "expression_gene", GENE].edge_index.numpy()
    rev = kg[GENE, "rev_expression_gene", "patient"].edge_index.numpy()
    out = np.bincount(fwd[0], minlength=len(train))
    assert (out[train & has_expr] == 10).all()
    assert (out[~train] == 0).all()  # held-out patients never send
    inc = np.bincount(rev[1], minlength=len(train))
    assert (inc[has_expr] == 10).all()  # every patient with expression receives from its genes


def test_edge_values_are_mean_z_of_the_genes_features(kg, graph, cohort):
    fmap = feature_gene_map(cohort)["methylation"]
    names = graph.feature_names["methylation"]
    x = graph["patient"][feature_key("methylation")].numpy()
    store = kg[GENE, "rev_methylation_gene", "patient"]
    (g, p), z = store.edge_index.numpy(), store.edge_attr.numpy()[:, 0]
    genes = kg[GENE].node_names
    for e in range(0, len(z), max(1, len(z) // 25)):
        cols = [i for i, f in enumerate(names) if fmap.get(f) == genes[g[e]]]
        assert z[e] == pytest.approx(x[p[e], cols].mean(), abs=1e-5)
    assert np.allclose(store.edge_weight.numpy(), np.abs(z))
    # patients lacking methylation have no methylation edges
    lacking = ~graph["patient"].available[:, 1].numpy()
    assert not np.isin(np.flatnonzero(lacking), p).any()


def test_pathways_interactions_and_variables(kg, graph, cohort):
    mem = kg[GENE, "in_pathway", "pathway"].edge_index
    rev = kg["pathway", "rev_in_pathway", GENE].edge_index
    assert mem.shape[1] == rev.shape[1] > 0
    ppi = kg[GENE, "interacts", GENE].edge_index.numpy()
    assert ppi.shape[1] == 4  # two measured pairs, both directions; NOPE dropped
    names = kg[GENE].node_names
    assert {(names[a], names[b]) for a, b in ppi.T} >= {("G00000", "G00002"), ("G00002", "G00000")}
    img = kg["imaging_region", "rev_has_value", "patient"]
    has_img = graph["patient"].available[:, 2].numpy()
    assert set(np.unique(img.edge_index[1].numpy())) == set(np.flatnonzero(has_img))
    x = graph["patient"][feature_key("imaging")].numpy()
    (r, p) = img.edge_index.numpy()
    assert np.allclose(img.edge_attr.numpy()[:, 0], x[p, r])


def test_threshold_rule_and_transductive(cohort, splits):
    mats = Preprocessor().fit(cohort, splits["train"]).transform(cohort)
    base = build_patient_graph(mats, cohort.y, splits, KNNBuilder(k=3), transductive=True)
    kg = build_knowledge_graph(
        base, feature_genes=feature_gene_map(cohort), top_genes=None, z_threshold=2.5
    )
    store = kg["patient", "expression_gene", GENE]
    assert (store.edge_weight >= 2.5).all()
    held = ~base["patient"].train_mask
    assert held[store.edge_index[0]].any()  # transductive: everyone sends


def test_a_mapping_that_maps_nothing_is_named(graph):
    with pytest.raises(DataError, match=r"'expression': none of its .* features maps to a gene"):
        build_knowledge_graph(graph, feature_genes={"expression": {}, "methylation": {}})
    with pytest.raises(ValueError, match="exactly one of top_genes and z_threshold"):
        build_knowledge_graph(graph, feature_genes={}, top_genes=None)
