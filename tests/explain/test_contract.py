"""The contract every registered explainer keeps, on every model family.

Shapes and bookkeeping (scores filed under the right modality and feature), determinism
under a seed, save/load, refusal of unsupported models, no use of labels, and a planted
signal found where it was planted.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from graphfuse.errors import ConfigError
from graphfuse.explain import EXPLAINERS, Attribution, build_explainer
from graphfuse.graphs import PATIENT, feature_key
from graphfuse.models import FusionModel

from .conftest import PATIENT_MODELS, trained

#: Small settings so the whole contract runs in seconds.
FAST = {
    "shap": {"n_permutations": 4},
    "masking": {"epochs": 30, "restarts": 2},
    "sensitivity": {},
    "saliency": {},
}


def small(name: str, **extra):
    params = {
        k: v for k, v in FAST.get(name, {}).items() if k in EXPLAINERS.get(name).Params.model_fields
    }
    return build_explainer(name, **(params | extra))


@pytest.fixture(params=PATIENT_MODELS)
def family(request, graph, cohort):
    return trained(request.param, graph, cohort), graph


def explainers_for(model):
    return [n for n in EXPLAINERS.names() if EXPLAINERS.get(n).supports(model)]


def test_every_model_family_has_explainers(family):
    model, _ = family
    supported = explainers_for(model)
    assert supported, f"no explainer supports {model.registry_name}"
    if getattr(model, "differentiable", True):
        assert set(supported) == set(EXPLAINERS.names())


def test_shapes_bookkeeping_and_nan_rows(family):
    model, graph = family
    patients = np.arange(0, graph[PATIENT].num_nodes, 3)
    for name in explainers_for(model):
        attr = small(name).explain(model, graph, patients=patients, seed=1)
        assert attr.method == name
        assert attr.modalities == list(model.modalities)
        assert list(attr.patients) == [graph.patients[p] for p in patients]
        for m in attr.modalities:
            frame = attr.scores[m]
            assert list(frame.columns) == list(graph.feature_names[m])
            have = graph[PATIENT].available[patients, list(graph.modalities).index(m)].numpy()
            assert frame[have].notna().all().all(), f"{name}: NaN score for a patient having {m}"
            assert frame[~have].isna().all().all(), f"{name}: scores for patients lacking {m}"
        assert attr.seconds > 0
        assert np.allclose(attr.prediction.filter(like="p_").sum(axis=1), 1.0, atol=1e-5)


def test_deterministic_under_seed_and_labels_unused(gcn):
    model, graph = gcn
    patients = np.arange(0, 48, 4)
    shuffled = copy.copy(graph)
    shuffled[PATIENT].y = graph[PATIENT].y.flip(0)
    for name in EXPLAINERS.names():
        a = small(name).explain(model, graph, patients=patients, seed=3)
        b = small(name).explain(model, graph, patients=patients, seed=3)
        c = small(name).explain(model, shuffled, patients=patients, seed=3)
        for m in a.modalities:
            np.testing.assert_allclose(a.scores[m], b.scores[m], err_msg=name)
            np.testing.assert_allclose(a.scores[m], c.scores[m], err_msg=f"{name} used labels")


def test_save_load_round_trip(gcn, tmp_path):
    model, graph = gcn
    for name in EXPLAINERS.names():
        attr = small(name).explain(model, graph, patients=[0, 1, 2, 5], seed=0)
        back = Attribution.load(attr.save(tmp_path / name))
        assert back.method == attr.method and back.params == attr.params
        for m in attr.modalities:
            np.testing.assert_array_equal(back.scores[m].to_numpy(), attr.scores[m].to_numpy())
        assert back.prediction.equals(attr.prediction)
        assert back.feature_genes == attr.feature_genes
        assert set(back.edge_scores) == set(attr.edge_scores)


class _NotDifferentiable(FusionModel):
    differentiable = False
    registry_name = "frozen_table"

    def fit_direct(self, data):
        pass

    def forward(self, data):
        n = data[PATIENT].num_nodes
        return torch.zeros(n, self.n_classes)


def test_gradient_explainers_refuse_non_differentiable_models(graph):
    model = _NotDifferentiable({m: len(graph.feature_names[m]) for m in graph.modalities}, 2)
    needing = [n for n in EXPLAINERS.names() if EXPLAINERS.get(n).needs_gradients]
    assert needing, "at least the gradient explainers need gradients"
    for name in needing:
        with pytest.raises(ConfigError, match=rf"{name}.*frozen_table.*gradients"):
            small(name).explain(model, graph)


class _Planted(FusionModel):
    """Output depends on one feature of one modality only: log-odds = 3 * x[:, j]."""

    registry_name = "planted"

    def __init__(self, in_dims, modality: str, feature: int):
        super().__init__(in_dims, 2)
        self.modality, self.feature = modality, feature
        self.scale = torch.nn.Parameter(torch.tensor(3.0))

    def forward(self, data):
        x = data[PATIENT][feature_key(self.modality)][:, self.feature]
        x = torch.nan_to_num(x, nan=0.0)
        return torch.stack([torch.zeros_like(x), self.scale * x], dim=1)


@pytest.mark.parametrize("modality", ["methylation", "imaging"])
def test_planted_signal_found_under_its_modality(graph, modality):
    in_dims = {m: len(graph.feature_names[m]) for m in graph.modalities}
    feature = 4
    model = _Planted(in_dims, modality, feature).eval()
    have = graph[PATIENT].available[:, list(graph.modalities).index(modality)].numpy()
    x = graph[PATIENT][feature_key(modality)][:, feature].numpy()
    train = graph[PATIENT].train_mask.numpy() & have
    # patients whose planted feature is far from the baseline, so that removing it matters
    patients = np.flatnonzero(have & (np.abs(x - np.nanmean(x[train])) > 0.5))[:10]
    assert len(patients) >= 5
    planted = (modality, graph.feature_names[modality][feature])
    for name in EXPLAINERS.names():
        attr = small(name).explain(model, graph, patients=patients, seed=0)
        top = attr.feature_importance().index[0]
        assert top == planted, f"{name} put its top score on {top}, not {planted}"
        for p in attr.patients:
            row = attr.patient_ranking(p, k=1).iloc[0]
            assert (row["modality"], row["feature"]) == planted, f"{name}, patient {p}"
