"""What models declare: output kind, trainer hooks, the fusion protocol and its propagation
description — and that the explainers' fast path is chosen by it, not by a model's name."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch_geometric.nn import GCNConv

from graphfuse.explain import perturbation_engine, perturbed_outputs
from graphfuse.explain._perturb import _reference_outputs
from graphfuse.graphs import PATIENT, edge_type, feature_key
from graphfuse.models import (
    MODELS,
    FusionModel,
    ModalityFusionModel,
    PropagationLayer,
    build_model,
)

from ..explain.test_perturb import assert_close, context, random_pairs

FUSION = [n for n in MODELS.names() if issubclass(MODELS.get(n), ModalityFusionModel)]


def test_the_per_modality_fusion_models_declare_the_protocol():
    assert set(FUSION) == {"gcn_fusion", "attention", "mogonet"}


@pytest.mark.parametrize("name", FUSION)
@pytest.mark.parametrize("training", [False, True])
def test_forward_is_fuse_of_encode(name, training, graph):
    torch.manual_seed(0)
    model = build_model(name, graph, 2).train(training)
    torch.manual_seed(1)
    out = model(graph)
    torch.manual_seed(1)
    assert torch.equal(model.fuse(*model.encode(graph)), out)  # same dropout draws too


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("gcn_fusion", {}),
        ("gcn_fusion", {"root": True, "layers": 3}),
        ("attention", {"layers": 1}),
        ("mogonet", {"hidden": [16, 8]}),
    ],
)
def test_propagation_describes_the_encoders(name, params, graph):
    """Evaluating the described layers gives the model's own embeddings (eval mode)."""
    torch.manual_seed(0)
    model = build_model(name, graph, 2, **params).eval()
    with torch.no_grad():
        h, mask = model.embed(graph)
        store = graph[PATIENT]
        for j, m in enumerate(model.modalities):
            x = torch.where(mask[:, j : j + 1], store[feature_key(m)], 0.0)
            layers = model.propagation(graph, m)
            assert all(isinstance(layer, PropagationLayer) for layer in layers)
            for layer in layers:
                src, dst = layer.edge_index
                mapped = x @ layer.weight.T
                z = torch.zeros_like(mapped).index_add_(
                    0, dst, mapped[src] * layer.edge_weight[:, None]
                )
                if layer.bias is not None:
                    z = z + layer.bias
                if layer.root is not None:
                    z = z + x @ layer.root.T
                x = layer.activation(z)
            torch.testing.assert_close(x * mask[:, j : j + 1], h[:, j], atol=1e-5, rtol=1e-4)


def test_output_kind():
    dims = {"a": 3, "b": 2}
    assert MODELS.get("gcn_fusion")(dims, 2).output_kind == "logits"
    assert MODELS.get("gcn_fusion")(dims, 1).output_kind == "risk"
    assert MODELS.get("logistic")(dims, 2).output_kind == "log_probabilities"


def test_trainer_hooks_have_defaults(graph):
    model = build_model("gcn_fusion", graph, 2)
    mask = graph[PATIENT].train_mask
    assert model.pretrain(graph, mask) == 0
    assert {id(p) for p in model.param_groups(0.1)} == {id(p) for p in model.parameters()}
    assert float(model.auxiliary_loss(graph[PATIENT].y, mask)) == 0.0
    assert model.receptive_field() is None


def test_a_model_not_trained_by_gradient_must_say_how_it_is_fitted():
    with pytest.raises(TypeError, match="differentiable = False but defines no fit_direct"):

        class _Closed(FusionModel):
            differentiable = False

            def forward(self, data):
                return data


class _OneLayer(ModalityFusionModel):
    """A model written outside the library: one GCNConv per modality, summed, one linear map."""

    registry_name = "one_layer"

    def __init__(self, in_dims, n_classes, describe: bool = True):
        super().__init__(in_dims, n_classes)
        self.convs = nn.ModuleDict({m: GCNConv(d, 8) for m, d in in_dims.items()})
        self.out = nn.Linear(8, n_classes)
        self.describe = describe

    def embed(self, data):
        store = data[PATIENT]
        order = list(data.modalities)
        hs, have = [], []
        for m, conv in self.convs.items():
            ok = store.available[:, order.index(m)]
            x = torch.where(ok[:, None], store[feature_key(m)], 0.0)
            edges = data[edge_type(m)]
            hs.append(torch.tanh(conv(x, edges.edge_index, edges.edge_weight)) * ok[:, None])
            have.append(ok)
        return torch.stack(hs, 1), torch.stack(have, 1)

    def fuse(self, h, mask):
        return self.out(h.sum(dim=1))

    def propagation(self, data, modality):
        if not self.describe:
            return None
        from torch_geometric.nn.conv.gcn_conv import gcn_norm

        conv = self.convs[modality]
        edges = data[edge_type(modality)]
        n = data[PATIENT].num_nodes
        ei, ew = gcn_norm(edges.edge_index, edges.edge_weight, n, add_self_loops=True)
        return [PropagationLayer(ei, ew, conv.lin.weight, conv.bias, None, torch.tanh)]


@pytest.mark.parametrize("describe", [True, False])
def test_the_fast_path_follows_what_a_new_model_declares(describe, graph):
    torch.manual_seed(0)
    dims = {m: len(graph.feature_names[m]) for m in graph.modalities}
    model = _OneLayer(dims, 2, describe=describe)
    ctx = context(model, graph)
    engine = perturbation_engine(ctx)
    assert (type(engine).__name__ == "GCNFusionEngine") is describe
    owners, rows = random_pairs(ctx, 16)
    assert_close(perturbed_outputs(ctx, owners, rows), _reference_outputs(ctx, owners, rows))
