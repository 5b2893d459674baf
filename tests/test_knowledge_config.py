"""The graph.knowledge config section: validation, prepare() building the heterograph, tags."""

from __future__ import annotations

import numpy as np
import pytest

from graphfuse.config import load_config
from graphfuse.data import data_root
from graphfuse.errors import ConfigError
from graphfuse.experiment import fit, prepare
from graphfuse.experiment._track import _run_tags
from graphfuse.graphs import GENE, build_knowledge_graph, feature_gene_map

QUICK = [
    "data.synthetic.n_patients=40",
    "data.synthetic.n_genes=80",
    "data.synthetic.n_pathways=10",
    "data.synthetic.n_regions=10",
    "tracking.enabled=false",
]


def cfg(*extra: str):
    return load_config(None, [*QUICK, *extra])


def test_defaults_and_shorthands():
    c = cfg("graph.knowledge={}")
    k = c.graph.knowledge
    assert k.gene_sets == {"pathway": "synthetic"} and k.top_genes == 50 and k.variable_nodes
    c = cfg("graph.knowledge={gene_sets: reactome, interactions: string}")
    assert c.graph.knowledge.gene_sets == {"pathway": "reactome"}
    assert c.graph.knowledge.interactions.symbol_map == "ppi/gene_symbol_map.csv"
    assert cfg().graph.knowledge is None
    assert "knowledge" not in cfg().to_dict()["graph"]  # absent: configs dump as before
    dumped = cfg("graph.knowledge={}").to_dict()["graph"]["knowledge"]
    assert dumped["gene_sets"] == {"pathway": "synthetic"}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("{gene_sets: {pathway: reactom}}", r"graph\.knowledge\.gene_sets.*'reactom'.*reactome"),
        ("{gene_sets: {gene: reactome}}", r"node type 'gene'"),
        ("{top_gene: 5}", r"graph\.knowledge\.top_gene: unknown key; valid keys here: .*top_genes"),
        ("{z_threshold: 2.0}", "exactly one of top_genes and z_threshold"),
        ("{top_genes: 0}", r"graph\.knowledge\.top_genes"),
        ("{interactions: {file: x.csv}}", r"interactions\.file: unknown key"),
    ],
)
def test_invalid_sections_name_the_key(value, message):
    with pytest.raises(ConfigError, match=message):
        cfg(f"graph.knowledge={value}")


def test_prepare_builds_the_knowledge_graph_on_the_patient_graph():
    c = cfg("graph.knowledge={top_genes: 5, min_set_size: 2}")
    prepared = prepare(c)
    data = prepared.data
    assert {"gene", "pathway", "clinical_variable", "imaging_region"} <= set(data.node_types)
    assert ("patient", "similar_expression", "patient") in data.edge_types  # kept
    fwd = data["patient", "expression_gene", GENE].edge_index[0].numpy()
    train = data["patient"].train_mask.numpy()
    assert train[fwd].all()  # inductive: held-out patients only receive
    counts = np.bincount(fwd, minlength=len(train))
    have = data["patient"].available[:, data.modalities.index("expression")].numpy()
    assert (counts[train & have] == 5).all()
    assert data.patients == [str(p) for p in prepared.cohort.patients]
    tags = _run_tags(c, prepared.fingerprint, data)
    assert tags["graphfuse.graph_kind"] == "knowledge"
    assert _run_tags(cfg(), "x", prepare(cfg()).data)["graphfuse.graph_kind"] == "patient"


def test_fit_hetero_is_one_config_change():
    c = cfg(
        "graph.knowledge={top_genes: 5, min_set_size: 2}",
        "model.name=hetero",
        "model.hidden=16",
        "train.epochs=3",
    )
    result = fit(c)
    assert result.model.registry_name == "hetero"
    assert 0.0 <= result.metrics["test"]["roc_auc"] <= 1.0
    with pytest.raises(ConfigError, match=r"'hetero'.*'patient' graph.*graph\.knowledge"):
        fit(cfg("model.name=hetero", "train.epochs=1"))


def test_unmapped_omics_modality_gets_no_gene_edges(graph, cohort):
    genes = {"expression": feature_gene_map(cohort)["expression"]}  # methylation left out
    kg = build_knowledge_graph(graph, feature_genes=genes, top_genes=5)
    assert ("patient", "expression_gene", GENE) in kg.edge_types
    assert not any(rel.endswith("methylation_gene") for _, rel, _ in kg.edge_types)


def test_feature_gene_map_leaves_missing_genes_out(cohort):
    class Stub:  # a cohort whose methylation probes lack genes for three of them
        def __init__(self):
            self.kinds = {"methylation": "omics"}

        def modality(self, name):
            var = cohort.modality(name).var.copy()
            var["gene"] = var["gene"].astype(object)
            var.iloc[:3, var.columns.get_loc("gene")] = np.nan
            return type("A", (), {"var": var})()

    mapped = feature_gene_map(Stub())["methylation"]
    assert "nan" not in mapped.values()
    assert len(mapped) == cohort.modality("methylation").n_vars - 3


@pytest.mark.skipif(
    not (data_root() / "ppi" / "gene_symbol_map.csv").is_file(), reason="shared data absent"
)
def test_string_interactions_from_the_data_root():
    from graphfuse.data import make_synthetic_cohort

    cohort = make_synthetic_cohort(30, n_genes=60, n_pathways=6, n_regions=10, seed=0)
    data = prepare(cfg("graph.knowledge={interactions: string}"), cohort=cohort).data
    # synthetic gene names are not human symbols: no interaction survives, none is invented
    assert data[GENE, "interacts", GENE].edge_index.shape[1] == 0
