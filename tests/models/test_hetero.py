"""The relation-aware heterogeneous GNN on knowledge graphs, and explainers on it."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from graphfuse.errors import ConfigError, DataError
from graphfuse.experiment import annotate_graph
from graphfuse.explain import EXPLAINERS, build_explainer
from graphfuse.explain._base import Explainer
from graphfuse.graphs import GENE, PATIENT, feature_key
from graphfuse.models import HeteroGNN, build_model, load_checkpoint, save_checkpoint
from graphfuse.train import classification_metrics, predict_proba, train_model

from .conftest import knowledge_graph


@pytest.fixture
def kg(graph, cohort):
    data = knowledge_graph(graph, cohort)
    annotate_graph(data, cohort)
    return data


def hetero(kg, **params):
    torch.manual_seed(0)
    return build_model("hetero", kg, 2, **params).eval()


def test_refused_on_a_patient_graph_naming_both(graph):
    with pytest.raises(ConfigError, match=r"'hetero' reads a 'knowledge' graph.*'patient' graph"):
        build_model("hetero", graph, 2)
    with pytest.raises(ConfigError, match=r"graph\.knowledge"):
        build_model("hetero", graph, 2)


def test_params_validated(kg):
    with pytest.raises(ValueError, match="hidden"):
        build_model("hetero", kg, 2, hidden=0)
    with pytest.raises(ValueError, match="extra"):
        build_model("hetero", kg, 2, hiden=8)
    with pytest.raises(ConfigError, match="build_model"):
        HeteroGNN({"expression": 3}, 2)  # no schema: it must come from a graph


def test_schema_in_spec_and_checkpoint(kg, tmp_path):
    model = hetero(kg, hidden=8)
    schema = model.spec()["graph_args"]["schema"]
    assert schema["nodes"] == {nt: kg[nt].num_nodes for nt in kg.node_types if nt != PATIENT}
    assert ["gene", "in_pathway", "pathway"] in schema["relations"]
    save_checkpoint(model, tmp_path / "ckpt")
    again = load_checkpoint(tmp_path / "ckpt")
    assert again.spec() == model.spec()
    with torch.no_grad():
        assert torch.equal(model(kg), again(kg))
    other = copy.copy(kg)
    other["pathway"].num_nodes = kg["pathway"].num_nodes + 1
    with pytest.raises(DataError, match="'pathway' nodes"):
        model(other)


def test_every_layer_keeps_only_relations_that_reach_patients(kg):
    model = hetero(kg, layers=2)
    last = set(model.convs[-1].convs.keys())
    assert last and all(dst == PATIENT for _, _, dst in last)
    first = set(model.convs[0].convs.keys())
    assert (GENE, "rev_in_pathway", PATIENT) not in first  # no such relation at all
    assert ("pathway", "rev_in_pathway", GENE) in first  # pathways reach patients via genes
    assert "pathway" in model.embeddings
    one = hetero(kg, layers=1)
    assert "pathway" not in one.embeddings  # two hops away: unused with one layer


def test_pathway_edges_change_predictions(kg):
    """Gene-set membership is read: rewiring genes to other pathways moves the output."""
    model = hetero(kg)
    other = copy.copy(kg)
    members = kg["pathway", "rev_in_pathway", GENE].edge_index.clone()
    members[0] = (members[0] + 1) % kg["pathway"].num_nodes
    other["pathway", "rev_in_pathway", GENE].edge_index = members
    with torch.no_grad():
        assert not torch.allclose(model(kg), model(other))


def test_hidden_modality_cuts_its_edges_too(kg):
    """A modality hidden in ``available`` (as modality dropout does) reaches the patient
    neither through its features nor through its gene edges or similarity edges."""
    j = kg.modalities.index("methylation")
    store = kg[PATIENT]
    i = int(torch.nonzero(store.available[:, j] & store.train_mask)[0])
    hidden = copy.copy(kg)
    available = store.available.clone()
    available[i, j] = False
    hidden[PATIENT].available = available
    changed = copy.copy(hidden)
    x = store[feature_key("methylation")].clone()
    x[i] = 100.0
    changed[PATIENT][feature_key("methylation")] = x
    rev = kg[GENE, "rev_methylation_gene", PATIENT]
    into_i = rev.edge_index[1] == i
    assert into_i.any()
    weight = rev.edge_weight.clone()
    weight[into_i] *= 50.0
    changed[GENE, "rev_methylation_gene", PATIENT].edge_weight = weight
    similar = kg[PATIENT, "similar_methylation", PATIENT]
    assert (similar.edge_index == i).any()
    sim_weight = similar.edge_weight.clone()
    sim_weight[(similar.edge_index == i).any(0)] *= 50.0
    changed[PATIENT, "similar_methylation", PATIENT].edge_weight = sim_weight
    model = hetero(kg)
    with torch.no_grad():
        assert torch.allclose(model(hidden)[i], model(changed)[i], atol=1e-5)
        assert not torch.allclose(model(kg)[i], model(changed)[i])  # visible: it matters


def test_learns_on_the_tiny_knowledge_graph(kg):
    torch.manual_seed(0)
    model = build_model("hetero", kg, 2)
    history = train_model(
        model, kg, epochs=40, lr=1e-2, weight_decay=1e-3, patience=40, progress=False
    )
    assert history.epochs[-1]["train_loss"] < history.epochs[0]["train_loss"]
    train = kg[PATIENT].train_mask.numpy()
    proba = predict_proba(model, kg)
    y = kg[PATIENT].y.numpy()
    assert classification_metrics(y[train], proba[train])["roc_auc"] > 0.9


# ------------------------------------------------------------------------ explainers
FAST = {
    "saliency": {},
    "sensitivity": {"groups": "modalities", "feature_scores": False},
    "shap": {"n_permutations": 2, "groups": "modalities"},
    "masking": {"epochs": 20, "restarts": 2},
}


@pytest.fixture(scope="module")
def trained_kg(cohort, splits, matrices):
    from graphfuse.graphs import KNNBuilder, build_patient_graph

    base = build_patient_graph(matrices, cohort.y, splits, KNNBuilder(k=4))
    data = knowledge_graph(base, cohort)
    annotate_graph(data, cohort)
    torch.manual_seed(0)
    model = build_model("hetero", data, 2)
    train_model(model, data, epochs=30, lr=1e-2, weight_decay=1e-3, patience=30, progress=False)
    return model, data


@pytest.mark.parametrize("name", sorted(FAST))
def test_explainers_run_on_the_hetero_model(name, trained_kg):
    model, data = trained_kg
    assert EXPLAINERS.get(name).hetero and EXPLAINERS.get(name).supports(model)
    test = np.flatnonzero(data[PATIENT].test_mask.numpy())[:4]
    att = build_explainer(name, **FAST[name]).explain(model, data, patients=test, seed=1)
    assert list(att.patients) == [data.patients[p] for p in test]
    if name == "sensitivity":  # per modality only (one full forward per pair here)
        table = next(iter(att.groups.values()))
        have = data[PATIENT].available[test].numpy()
        assert np.isfinite(table.to_numpy()[have]).all() and (table.to_numpy() != 0).any()
        return
    for m in att.modalities:
        frame = att.scores[m]
        have = data[PATIENT].available[test, data.modalities.index(m)].numpy()
        assert frame[have].notna().all().all() and frame[~have].isna().all().all()
    values = np.concatenate([att.scores[m].to_numpy().ravel() for m in att.modalities])
    values = values[~np.isnan(values)]
    assert np.abs(values).max() > 0  # the model's own-feature path is seen
    if name == "masking":  # every relation's edge_weight scales its messages: all masked
        assert "gene__rev_expression_gene__patient" in att.diagnostics["edge_types"]


def test_explainer_without_hetero_refuses_it(trained_kg):
    model, data = trained_kg

    class PatientOnly(Explainer):
        registry_name = "patient_only"

        def _explain(self, ctx):  # pragma: no cover - never reached
            raise AssertionError

    with pytest.raises(ConfigError, match="knowledge-graph heterographs"):
        PatientOnly().explain(model, data)


@pytest.mark.parametrize("params", [{"root": False}, {"conv": "sage"}, {"edge_values": "none"}])
def test_variants_keep_the_missing_modality_contract(kg, params):
    model = hetero(kg, **params)
    j = kg.modalities.index("imaging")
    lacking = ~kg[PATIENT].available[:, j]
    filled = copy.copy(kg)
    x = kg[PATIENT][feature_key("imaging")].clone()
    x[lacking] = 1e6
    filled[PATIENT][feature_key("imaging")] = x
    with torch.no_grad():
        out = model(kg)
        assert torch.isfinite(out).all() and torch.allclose(out, model(filled))
