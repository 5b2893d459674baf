"""Every model x task x missing-modality pattern: a forward pass, and a backward pass with
finite gradients for the models trained by gradient (issue 3's "done means")."""

import pytest
import torch

from graphfuse.errors import ConfigError
from graphfuse.models import MODELS

from .conftest import graph_for

PATTERNS = ["none_missing", "some_missing", "one_modality"]
TASKS = {"classification": 2, "survival": 1}


@pytest.fixture(params=PATTERNS)
def pattern(request, graph, cohort, complete_graph, complete_cohort, one_modality_graph):
    """A patient graph with the missing-modality pattern, and its cohort."""
    if request.param == "none_missing":
        assert complete_graph["patient"].available.all()
        return complete_graph, complete_cohort
    if request.param == "some_missing":
        assert not graph["patient"].available.all()
        return graph, cohort
    one, i = one_modality_graph
    assert one["patient"].available[i].sum() == 1
    return one, cohort


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("name", MODELS.names())
def test_forward_and_backward(name, task, pattern, built):
    cls = MODELS.get(name)
    pattern = graph_for(name, *pattern)  # a knowledge graph for knowledge-graph models
    n_out = TASKS[task]
    if task not in cls.tasks:
        with pytest.raises(ConfigError, match="does not support task"):
            built(name, pattern, n_out, task=task)
        return
    model = built(name, pattern, n_out, task=task)
    model.train()
    out = model(pattern)
    assert out.shape == (pattern["patient"].num_nodes, n_out)
    assert torch.isfinite(out).all()
    if not cls.differentiable:
        assert not out.requires_grad
        return
    y = pattern["patient"].y
    if task == "classification":
        loss = torch.nn.functional.cross_entropy(out, y)
    else:  # any smooth function of the risk scores; the Cox loss is the trainer's business
        loss = (out[:, 0] * (2.0 * y - 1.0)).logsumexp(0)
    if hasattr(model, "auxiliary_loss"):
        loss = loss + model.auxiliary_loss(y, pattern["patient"].train_mask)
    loss.backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None, pname
        assert torch.isfinite(p.grad).all(), pname
    assert any(p.grad.abs().sum() > 0 for p in model.parameters())
