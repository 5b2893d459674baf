"""A small trained model per model family, annotated like ``experiment.fit`` does."""

from __future__ import annotations

import pytest
import torch

from graphfuse.experiment import annotate_graph
from graphfuse.models import MODELS, build_model
from graphfuse.train import train_model


def trained(name: str, graph, cohort, **params):
    annotate_graph(graph, cohort)
    torch.manual_seed(0)
    model = build_model(name, graph, len(cohort.classes), **params)
    train_model(model, graph, epochs=30, lr=1e-2, weight_decay=1e-3, patience=30, progress=False)
    return model


#: Models on the patient graph (knowledge-graph models: tests/models/test_hetero.py).
PATIENT_MODELS = [n for n in MODELS.names() if MODELS.get(n).graph_kind == "patient"]


@pytest.fixture(params=PATIENT_MODELS)
def model_and_graph(request, graph, cohort):
    return trained(request.param, graph, cohort), graph


@pytest.fixture
def gcn(graph, cohort):
    return trained("gcn_fusion", graph, cohort), graph
