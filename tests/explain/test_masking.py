"""Graph masking (GNNExplainer objective): shapes, seeds, restarts, planted signal, edges."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

import graphfuse.explain._masking as masking_module
from graphfuse.errors import ConfigError
from graphfuse.explain import Attribution, Masking, explain
from graphfuse.graphs import (
    GENE,
    PATIENT,
    KNNBuilder,
    build_knowledge_graph,
    build_patient_graph,
    edge_type,
    feature_gene_map,
    feature_key,
)
from graphfuse.models import FusionModel

from .conftest import trained

FAST = dict(epochs=15, restarts=2)
GRAPH_FREE = {"early_mlp", "late_mlp", "logistic", "random_forest"}


def _values(attribution: Attribution) -> np.ndarray:
    return attribution.table().to_numpy()


class OneFeature(FusionModel):
    """Log-odds driven by one feature of one modality: the patient's own value plus its
    neighbours' (through that modality's graph, weighted by ``edge_weight``)."""

    def __init__(self, in_dims: dict[str, int], modality: str, index: int) -> None:
        super().__init__(in_dims, 2)
        self.modality, self.index = modality, index
        self.scale = nn.Parameter(torch.tensor(3.0))

    def forward(self, data):
        store = data[PATIENT]
        have = store.available[:, list(data.modalities).index(self.modality)]
        x = torch.where(have, store[feature_key(self.modality)][:, self.index], 0.0)
        edges = data[edge_type(self.modality)]
        src, dst = edges.edge_index
        neighbours = torch.zeros_like(x).index_add(0, dst, edges.edge_weight * x[src])
        half = self.scale * (x + 0.3 * neighbours) / 2
        return torch.stack([-half, half], dim=1)


class Frozen(FusionModel):
    """A model that declares itself non-differentiable (like the scikit-learn baselines)."""

    differentiable = False

    def fit_direct(self, data):
        pass

    def forward(self, data):
        return torch.zeros(data[PATIENT].num_nodes, self.n_classes)


def _in_dims(graph) -> dict[str, int]:
    return {m: len(graph.feature_names[m]) for m in graph.modalities}


@pytest.fixture(scope="module")
def models(cohort, splits, matrices):
    """Small trained models, once per module (explaining changes neither model nor graph)."""
    out = {}
    for name in ["gcn_fusion", "early_mlp", "late_mlp"]:
        graph = build_patient_graph(matrices, cohort.y, splits, KNNBuilder(k=4))
        out[name] = trained(name, graph, cohort), graph
    return out


@pytest.fixture
def gcn(models):
    return models["gcn_fusion"]


# ------------------------------------------------------------------------- contract
def test_shapes_ranges_and_edges(gcn):
    model, graph = gcn
    att = explain(model, graph, "masking", seed=3, **FAST)
    assert att.method == "masking" and att.signed is False and att.seed == 3
    available = graph[PATIENT].available.numpy()
    for i, m in enumerate(graph.modalities):
        frame = att.scores[m]
        assert frame.shape == (48, len(graph.feature_names[m]))
        assert list(frame.columns) == list(graph.feature_names[m])
        have = available[:, i]
        assert frame[~have].isna().all(axis=None)
        values = frame[have].to_numpy()
        assert np.isfinite(values).all() and (values >= 0).all() and (values <= 1).all()
    # gcn_fusion convolves over every modality graph: one edge table each
    assert set(att.edge_scores) == {f"similar_{m}" for m in graph.modalities}
    ids = set(graph.patients)
    for m in graph.modalities:
        edges = att.edge_scores[f"similar_{m}"]
        assert list(edges.columns) == ["source", "target", "score"]
        assert 0 < len(edges) <= graph[edge_type(m)].edge_index.shape[1]
        assert set(edges["source"]) <= ids and set(edges["target"]) <= ids
        assert edges["score"].between(0, 1).all()
    diagnostics = att.diagnostics
    assert -1 <= diagnostics["restart_rank_correlation"] <= 1
    assert -1 <= diagnostics["restart_patient_rank_correlation"] <= 1
    assert -1 <= diagnostics["restart_edge_rank_correlation"] <= 1


def test_subset_with_repeats_and_save_load(gcn, tmp_path):
    model, graph = gcn
    att = explain(model, graph, "masking", patients=[7, 0, 7], **FAST)
    assert list(att.patients) == [graph.patients[7], graph.patients[0], graph.patients[7]]
    table = att.table()
    pd.testing.assert_series_equal(table.iloc[0], table.iloc[2], check_names=False)
    back = Attribution.load(att.save(tmp_path / "masking"))
    pd.testing.assert_frame_equal(back.table(), table)
    assert back.params == att.params
    for name, frame in att.edge_scores.items():
        pd.testing.assert_frame_equal(back.edge_scores[name], frame)


@pytest.mark.parametrize("name", ["early_mlp", "late_mlp"])
def test_graph_free_models_get_feature_masks_only(models, name):
    model, graph = models[name]
    att = explain(model, graph, "masking", epochs=5, restarts=1)
    assert att.edge_scores == {}
    assert att.diagnostics["edge_types"] == []
    assert att.diagnostics["restart_edge_rank_correlation"] is None
    assert all(f.shape[0] == 48 for f in att.scores.values())


def test_params_are_validated():
    with pytest.raises(ConfigError, match="restarts"):
        Masking(restarts=0)
    with pytest.raises(ConfigError, match="learning_rate"):
        Masking(learning_rate=0.1)


# ------------------------------------------------------------------- seeds, restarts
def test_deterministic_under_the_seed_and_seeds_differ(gcn):
    model, graph = gcn
    a = explain(model, graph, "masking", seed=1, **FAST)
    b = explain(model, graph, "masking", seed=1, **FAST)
    c = explain(model, graph, "masking", seed=2, **FAST)
    pd.testing.assert_frame_equal(a.table(), b.table())
    for name in a.edge_scores:
        pd.testing.assert_frame_equal(a.edge_scores[name], b.edge_scores[name])
    assert a.params == b.params
    assert not np.allclose(_values(a), _values(c), equal_nan=True)


def test_restarts_are_averaged(gcn, monkeypatch):
    model, graph = gcn
    runs = []
    optimise = masking_module._optimise

    def spy(*args, **kwargs):
        out = optimise(*args, **kwargs)
        runs.append(out)
        return out

    monkeypatch.setattr(masking_module, "_optimise", spy)
    att = explain(model, graph, "masking", seed=5, epochs=10, restarts=3)
    assert len(runs) == 3
    available = graph[PATIENT].available.numpy()
    for i, m in enumerate(graph.modalities):
        masks = [r[0][m].numpy() for r in runs]
        assert not np.allclose(masks[0], masks[1])  # different starts
        have = available[:, i]
        mean = np.mean(masks, axis=0)[have]
        np.testing.assert_allclose(att.scores[m].to_numpy()[have], mean, rtol=1e-6)
    et = edge_type(graph.modalities[0])
    touched = runs[0][2][et] | runs[1][2][et] | runs[2][2][et]
    mean_edges = np.mean([r[1][et].numpy() for r in runs], axis=0)[touched.numpy()]
    np.testing.assert_allclose(att.edge_scores[et[1]]["score"], mean_edges, rtol=1e-6)
    # the first restart does not depend on how many follow it
    runs.clear()
    single = explain(model, graph, "masking", seed=5, epochs=10, restarts=1)
    assert single.diagnostics["restart_rank_correlation"] is None
    m = graph.modalities[0]
    have = available[:, 0]
    np.testing.assert_allclose(single.scores[m].to_numpy()[have], runs[0][0][m].numpy()[have])


def test_joint_optimisation_is_exact_for_graph_free_models(models):
    model, graph = models["early_mlp"]
    joint = explain(model, graph, "masking", epochs=20, restarts=1)
    alone = explain(model, graph, "masking", patients=[5, 11], epochs=20, restarts=1)
    np.testing.assert_allclose(_values(alone), _values(joint)[[5, 11]], atol=1e-5, equal_nan=True)


# ------------------------------------------------------------------ truth, refusals
@pytest.mark.parametrize("objective", ["target", "prediction", "output"])
def test_planted_signal_is_found_under_its_modality(graph, cohort, objective):
    modality, index = "methylation", 3
    assert len(graph.feature_names["expression"]) > index  # same position, other modality
    model = OneFeature(_in_dims(graph), modality, index)
    att = explain(model, graph, "masking", objective=objective, epochs=60, restarts=2)
    planted = (modality, graph.feature_names[modality][index])
    importance = att.feature_importance()
    assert importance.index[0] == planted
    assert importance.iloc[1] < 0.5 * importance.iloc[0]
    # the model reads only that modality's graph: only its edges get masks
    assert set(att.edge_scores) == {f"similar_{modality}"}
    if objective == "output":  # every patient keeps its own planted feature
        frame = att.scores[modality].dropna()
        assert (frame.idxmax(axis=1) == planted[1]).mean() >= 0.9


def test_absent_modalities_are_left_unmasked(graph, monkeypatch):
    model = OneFeature(_in_dims(graph), "methylation", 3)
    seen = []
    forward = model.forward

    def record(data):
        store = data[PATIENT]
        rows = [
            store[feature_key(m)][~store.available[:, i]] for i, m in enumerate(data.modalities)
        ]
        seen.append(torch.cat([r.flatten() for r in rows]))
        return forward(data)

    monkeypatch.setattr(model, "forward", record)
    explain(model, graph, "masking", epochs=3, restarts=1)
    assert seen[0].numel() > 0 and seen[0].isnan().all()  # the graph itself: NaN rows
    assert len(seen) >= 4 and all(bool((v == 0).all()) for v in seen[1:])  # masked copies


def test_labels_are_not_used(gcn):
    model, graph = gcn
    a = explain(model, graph, "masking", **FAST)
    relabelled = copy.copy(graph)
    relabelled[PATIENT].y = 1 - graph[PATIENT].y
    b = explain(model, relabelled, "masking", **FAST)
    pd.testing.assert_frame_equal(a.table(), b.table())
    for name in a.edge_scores:
        pd.testing.assert_frame_equal(a.edge_scores[name], b.edge_scores[name])


def test_refuses_non_differentiable_models(graph):
    model = Frozen(_in_dims(graph), 2)
    assert not Masking.supports(model)
    with pytest.raises(ConfigError, match="not differentiable"):
        explain(model, graph, "masking")


class GeneVotes(FusionModel):
    """A toy model on a knowledge graph: patients sum gene -> patient edge weights."""

    def __init__(self, in_dims: dict[str, int], n_genes: int) -> None:
        super().__init__(in_dims, 2)
        self.gene = nn.Parameter(torch.linspace(-1, 1, n_genes))

    def forward(self, data):
        edges = data[(GENE, "rev_expression_gene", PATIENT)]
        src, dst = edges.edge_index
        n = data[PATIENT].num_nodes
        z = torch.zeros(n).index_add(0, dst, edges.edge_weight * self.gene[src])
        z = z + data[PATIENT][feature_key("expression")][:, 0].nan_to_num()
        return torch.stack([-z / 2, z / 2], dim=1)


def test_edge_masks_apply_to_any_heterodata_edge_type(graph, cohort):
    kg = build_knowledge_graph(graph, feature_genes=feature_gene_map(cohort), top_genes=5)
    kg.patients = [str(p) for p in cohort.patients]
    model = GeneVotes(_in_dims(graph), kg[GENE].num_nodes)
    att = explain(model, kg, "masking", **FAST)
    # the gene -> patient edges are masked (the only ones the output depends on) ...
    assert att.diagnostics["edge_types"] == ["gene__rev_expression_gene__patient"]
    assert att.diagnostics["restart_edge_rank_correlation"] is not None
    # ... but only patient-patient edges map to patient ids in Attribution.edge_scores
    assert att.edge_scores == {}
    model.graph_kind = "knowledge"
    assert Masking.supports(model)  # masking explains knowledge-graph models
