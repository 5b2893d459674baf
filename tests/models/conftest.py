"""Helpers of the model tests: build (and, for fitted baselines, fit) a model; graph variants."""

from __future__ import annotations

import copy

import pytest
import torch

from graphfuse.data import GeneSets, Preprocessor, make_synthetic_cohort
from graphfuse.graphs import (
    KNNBuilder,
    build_knowledge_graph,
    build_patient_graph,
    edge_type,
    feature_key,
)
from graphfuse.models import MODELS, build_model
from graphfuse.train import stratified_split

_FITTED: dict[tuple, dict] = {}


def _built(name, graph, n_classes=2, *, task="classification", **params):
    """``name`` built for ``graph`` in eval mode; fitted baselines fitted on its training
    patients (fits of the session's shared ``graph`` fixture are cached: it is rebuilt
    identically for every test)."""
    torch.manual_seed(0)
    model = build_model(name, graph, n_classes, task=task, **params)
    if hasattr(model, "fit_direct"):
        key = (name, n_classes, tuple(sorted(params.items())), _sig(graph))
        if key not in _FITTED:
            model.fit_direct(graph)
            _FITTED[key] = copy.deepcopy(model.state_dict())
        model.load_state_dict(_FITTED[key])
    return model.eval()


def _sig(graph) -> tuple:
    store = graph["patient"]
    x = torch.cat([store[feature_key(m)].nan_to_num(7.0).sum(0) for m in graph.modalities])
    return (
        tuple(store.y.tolist()),
        tuple(store.train_mask.tolist()),
        tuple(store.available.flatten().tolist()),
        tuple(x.tolist()),
    )


@pytest.fixture
def built():
    return _built


def knowledge_graph(graph, cohort):
    """The knowledge heterograph on a patient graph of ``cohort`` (its own gene sets)."""
    return build_knowledge_graph(
        graph,
        feature_genes=cohort.feature_genes(),
        gene_sets={"pathway": GeneSets.from_cohort(cohort)},
        top_genes=10,
        min_set_size=3,
    )


def graph_for(name, graph, cohort):
    """``graph`` for a patient-graph model; for a knowledge-graph model (``hetero``) the
    knowledge graph built on it from the same cohort."""
    if MODELS.get(name).graph_kind == "knowledge":
        return knowledge_graph(graph, cohort)
    return graph


@pytest.fixture(scope="session")
def complete_cohort():
    """A 32-patient cohort where every patient has every modality."""
    tiny = dict(n_genes=120, n_pathways=12, n_regions=12, n_disease_pathways=2, effect_size=1.5)
    return make_synthetic_cohort(32, **tiny, missing={"imaging": 0.0, "methylation": 0.0}, seed=11)


@pytest.fixture(scope="session")
def complete_graph(complete_cohort):
    """A 32-patient graph where every patient has every modality."""
    cohort = complete_cohort
    splits = stratified_split(cohort.y, val_fraction=0.25, test_fraction=0.25, seed=0)
    matrices = Preprocessor().fit(cohort, splits["train"]).transform(cohort)
    return build_patient_graph(matrices, cohort.y, splits, KNNBuilder(k=4))


@pytest.fixture
def one_modality_graph(graph):
    """A copy of ``graph`` where one training patient having every modality keeps only
    ``expression`` (its other features NaN, its edges there removed), and its position."""
    return _only_one_modality(graph)


def _only_one_modality(graph, keep: str = "expression"):
    store = graph["patient"]
    full = store.available.all(dim=1) & store.train_mask
    i = int(torch.nonzero(full)[0])
    other = copy.copy(graph)
    available = store.available.clone()
    for j, m in enumerate(graph.modalities):
        if m == keep:
            continue
        available[i, j] = False
        x = store[feature_key(m)].clone()
        x[i] = float("nan")
        other["patient"][feature_key(m)] = x
        edges = graph[edge_type(m)]
        touching = (edges.edge_index == i).any(dim=0)
        other[edge_type(m)].edge_index = edges.edge_index[:, ~touching]
        other[edge_type(m)].edge_weight = edges.edge_weight[~touching]
    other["patient"].available = available
    return other, i
