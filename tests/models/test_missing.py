"""Missing-modality strategies of gcn_fusion and attention: skip, learned, neighbors."""

import copy

import pytest
import torch
from torch_geometric.data import HeteroData

from graphfuse.graphs import edge_type, feature_key
from graphfuse.models import MissingCompleter, build_model

FUSION = ["gcn_fusion", "attention"]


def test_default_is_skip(graph):
    for name in FUSION:
        model = build_model(name, graph, 2)
        assert model.params.missing == "skip"
        assert not any("completer" in k for k in model.state_dict())


def test_unknown_strategy_refused(graph):
    with pytest.raises(ValueError, match="missing"):
        build_model("gcn_fusion", graph, 2, missing="impute")


def tiny_graph():
    """Patients 0..4; modalities a, c (everyone) and b (patients 0, 1, 2 only).

    Edges into patient 3: from 0 in graphs a and c, from 1 in graph a. Patient 4 has
    neighbour 3 only (which lacks b). Patient 2 has b but sends nothing to 3.
    """
    data = HeteroData()
    data["patient"].num_nodes = 5
    full, lacks_b = [True, True, True], [True, False, True]
    data["patient"].available = torch.tensor([full, full, full, lacks_b, lacks_b])
    data.modalities = ["a", "b", "c"]
    data[edge_type("a")].edge_index = torch.tensor([[0, 1, 3], [3, 3, 4]])
    data[edge_type("b")].edge_index = torch.tensor([[0, 1], [1, 0]])
    data[edge_type("c")].edge_index = torch.tensor([[0, 2], [3, 1]])
    return data


def test_neighbors_completion_is_the_mean_of_neighbours_having_it():
    data = tiny_graph()
    mask = data["patient"].available
    h = torch.arange(5 * 3 * 2, dtype=torch.float32).reshape(5, 3, 2)
    out, filled = MissingCompleter(["a", "b", "c"], 2, "neighbors")(h, mask, data)
    # patient 3 lacks b: neighbours 0 (linked twice, counted once) and 1
    assert torch.equal(out[3, 1], (h[0, 1] + h[1, 1]) / 2)
    assert filled[3, 1]
    # patient 4: its only neighbour lacks b too -> stays absent, slot zero
    assert not filled[4, 1] and (out[4, 1] == 0).all()
    assert torch.equal(out[mask], h[mask])  # available slots untouched


def test_learned_stand_in_and_skip_on_the_tiny_graph():
    data = tiny_graph()
    mask = data["patient"].available
    h = torch.randn(5, 3, 2)
    learned = MissingCompleter(["a", "b", "c"], 2, "learned")
    with torch.no_grad():
        learned.tokens[1] = torch.tensor([7.0, 8.0])
    out, filled = learned(h, mask, data)
    assert filled.all() and torch.equal(out[4, 1], torch.tensor([7.0, 8.0]))
    out, filled = MissingCompleter(["a", "b", "c"], 2, "skip")(h, mask, data)
    assert torch.equal(filled, mask) and (out[~mask] == 0).all()


def test_learned_missing_embedding_receives_gradient(graph):
    torch.manual_seed(0)
    model = build_model("gcn_fusion", graph, 2, hidden=16, missing="learned").train()
    torch.nn.functional.cross_entropy(model(graph), graph["patient"].y).backward()
    grad = model.completer.tokens.grad
    lacking = (~graph["patient"].available).any(dim=0)
    assert lacking.any() and (~lacking).any()
    assert (grad[lacking].abs().sum(dim=1) > 0).all()  # modalities some patient lacks
    assert (grad[~lacking] == 0).all()  # nobody lacks them: the token is never used


def test_learned_missing_embedding_changes_only_patients_lacking_it(graph):
    torch.manual_seed(0)
    model = build_model("attention", graph, 2, hidden=16, missing="learned").eval()
    j = graph.modalities.index("imaging")
    lacking = ~graph["patient"].available[:, j]
    with torch.no_grad():
        before = model(graph)
        model.completer.tokens[j] += 1.0
        after = model(graph)
    assert not torch.allclose(before[lacking], after[lacking])
    assert torch.equal(before[~lacking], after[~lacking])


def neighbour_pair(graph, modality="imaging"):
    """(i, k): patient i lacks ``modality``; training patient k has it and sends i an edge
    in the graph of a modality i has."""
    store = graph["patient"]
    j = graph.modalities.index(modality)
    have = store.available[:, j]
    for m in graph.modalities:
        if m == modality:
            continue
        src, dst = graph[edge_type(m)].edge_index
        ok = have[src] & ~have[dst] & (src != dst)
        if ok.any():
            e = int(torch.nonzero(ok)[0])
            return int(dst[e]), int(src[e])
    raise AssertionError("fixture has no such pair")


def shifted(graph, patient, modality, by=3.0):
    other = copy.copy(graph)
    x = graph["patient"][feature_key(modality)].clone()
    x[patient] += by
    other["patient"][feature_key(modality)] = x
    return other


@pytest.mark.parametrize("name", FUSION)
def test_neighbors_completion_follows_the_neighbour(graph, name):
    """Changing neighbour k's imaging moves patient i (who lacks imaging) only with
    missing='neighbors': under 'skip', k's imaging never reaches i."""
    i, k = neighbour_pair(graph)
    moved = shifted(graph, k, "imaging")
    for missing, should_move in [("neighbors", True), ("skip", False)]:
        torch.manual_seed(0)
        model = build_model(name, graph, 2, hidden=16, missing=missing).eval()
        with torch.no_grad():
            before, after = model(graph)[i], model(moved)[i]
        assert torch.allclose(before, after) is not should_move, missing


@pytest.mark.parametrize("missing", ["learned", "neighbors"])
@pytest.mark.parametrize("name", FUSION)
def test_strategies_keep_the_contract(graph, name, missing):
    """Absent rows' contents are ignored; a held-out patient's features move only itself."""
    torch.manual_seed(0)
    model = build_model(name, graph, 2, hidden=16, missing=missing).eval()
    store = graph["patient"]
    j = graph.modalities.index("imaging")
    filled = copy.copy(graph)
    x = store[feature_key("imaging")].clone()
    x[~store.available[:, j]] = 1e6
    filled["patient"][feature_key("imaging")] = x
    i = int(torch.nonzero(store.available[:, j] & store.test_mask)[0])
    with torch.no_grad():
        out = model(graph)
        assert torch.isfinite(out).all()
        assert torch.allclose(out, model(filled))
        after = model(shifted(graph, i, "imaging"))
    rest = torch.ones(len(out), dtype=torch.bool)
    rest[i] = False
    assert not torch.allclose(out[i], after[i])
    assert torch.allclose(out[rest], after[rest])
