"""A fused (SNF) graph beside the per-modality graphs: HeteroData, model, config, fit."""

from pathlib import Path

import numpy as np
import pytest
import torch

from graphfuse.config import load_config
from graphfuse.errors import ConfigError
from graphfuse.experiment import fit
from graphfuse.graphs import FUSED_EDGE, KNNBuilder, SNFBuilder, build_patient_graph, edge_type
from graphfuse.models import build_model

QUICK = Path(__file__).resolve().parents[2] / "configs" / "ad_quick.yaml"


@pytest.fixture
def fused_graph(cohort, splits, matrices):
    return build_patient_graph(
        matrices, cohort.y, splits, KNNBuilder(k=4), fused=SNFBuilder(k=4, local_k=6)
    )


def test_fused_graph_sits_beside_the_modality_graphs(fused_graph, cohort):
    assert fused_graph.fused_builder == "snf" and fused_graph.builder == "knn"
    for m in cohort.modalities:
        assert edge_type(m) in fused_graph.edge_types
    ei = fused_graph[FUSED_EDGE].edge_index.numpy()
    train = fused_graph["patient"].train_mask.numpy()
    assert train[ei[0]].all()  # inductive: only training patients send messages
    indeg = np.bincount(ei[1], minlength=cohort.n_patients)
    assert (indeg[~train] == 4).all()


def test_without_a_fused_builder_there_is_no_fused_graph(graph):
    assert FUSED_EDGE not in graph.edge_types and "fused_builder" not in graph


def test_gcn_fusion_can_convolve_over_the_fused_graph(fused_graph, graph):
    torch.manual_seed(0)
    model = build_model("gcn_fusion", fused_graph, 2, hidden=8, graph="fused").eval()
    with torch.no_grad():
        out = model(fused_graph)
    assert out.shape == (fused_graph["patient"].num_nodes, 2) and torch.isfinite(out).all()
    # an absent modality's rows still contribute nothing
    j = fused_graph.modalities.index("imaging")
    lacking = ~fused_graph["patient"].available[:, j]
    x = fused_graph["patient"]["x_imaging"].clone()
    x[lacking] = 1e6
    other = fused_graph.clone()
    other["patient"]["x_imaging"] = x
    with torch.no_grad():
        assert torch.allclose(model(other), out)
    with pytest.raises(ConfigError, match="needs a fused graph"):
        model(graph)


def test_config_selects_each_builder_and_a_fused_one():
    cfg = load_config(QUICK, ["graph.name=threshold", "graph.fused.name=snf", "graph.fused.k=3"])
    assert cfg.graph.name == "threshold" and cfg.graph.params["k"] == 5
    assert cfg.graph.fused.name == "snf" and cfg.graph.fused.params["k"] == 3
    assert cfg.to_dict()["graph"]["fused"]["local_k"] == 20
    with pytest.raises(ConfigError, match=r"graph\.name.*give it as graph\.fused"):
        load_config(QUICK, ["graph.name=snf"])
    with pytest.raises(ConfigError, match=r"graph\.fused\.kk.*unknown key.*local_k"):
        load_config(QUICK, ["graph.fused.name=snf", "graph.fused.kk=3"])


def test_fit_with_a_fused_graph():
    cfg = load_config(
        QUICK,
        [
            "tracking.enabled=false",
            "train.epochs=2",
            "graph.name=threshold",
            "graph.fused=snf",  # shorthand for graph.fused.name=snf
            "model.graph=fused",
        ],
    )
    result = fit(cfg)
    assert result.data.builder == "threshold" and result.data.fused_builder == "snf"
    assert np.isfinite(result.proba).all()
