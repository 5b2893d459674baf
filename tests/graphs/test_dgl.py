"""Round trip HeteroData -> DGL -> HeteroData keeps counts, features and edge weights."""

import pandas as pd
import pytest
import torch

pytest.importorskip("dgl", reason="optional backend: pip install 'graphfuse[dgl]'")

from graphfuse.data import GeneSets
from graphfuse.graphs import build_knowledge_graph, feature_gene_map
from graphfuse.graphs.dgl import from_dgl, to_dgl


def assert_same(a, b):
    assert set(a.node_types) == set(b.node_types)
    assert set(a.edge_types) == set(b.edge_types)
    for nt in a.node_types:
        assert a[nt].num_nodes == b[nt].num_nodes
        for key, value in a[nt].items():
            if torch.is_tensor(value):
                assert torch.equal(value, b[nt][key]) or (
                    value.is_floating_point() and torch.allclose(value, b[nt][key], equal_nan=True)
                ), (nt, key)
            else:
                assert b[nt][key] == value
    for et in a.edge_types:
        for key, value in a[et].items():
            assert torch.equal(value, b[et][key]), (et, key)


def test_patient_graph_round_trip(graph):
    g = to_dgl(graph)
    for et in graph.edge_types:
        assert g.num_edges(et) == graph[et].edge_index.shape[1]
        assert torch.equal(g.edges[et].data["edge_weight"], graph[et].edge_weight)
    assert torch.equal(g.nodes["patient"].data["available"], graph["patient"].available)
    back = from_dgl(g, like=graph)
    assert_same(graph, back)
    assert back.modalities == graph.modalities and back.transductive == graph.transductive


def test_knowledge_graph_round_trip_keeps_hetero_edge_features(graph, cohort):
    kg = build_knowledge_graph(
        graph,
        feature_genes=feature_gene_map(cohort),
        gene_sets={"pathway": GeneSets.from_cohort(cohort)},
        interactions=pd.DataFrame({"gene_a": ["G00000"], "gene_b": ["G00001"], "weight": [0.7]}),
        top_genes=5,
        min_set_size=3,
        patients=list(cohort.patients),
    )
    g = to_dgl(kg)
    et = ("gene", "rev_expression_gene", "patient")
    assert g.edges[et].data["edge_attr"].shape == kg[et].edge_attr.shape
    back = from_dgl(g, like=kg)
    assert_same(kg, back)
    assert back["gene"].node_names == kg["gene"].node_names
