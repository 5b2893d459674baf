"""The ``shap`` explainer (batched permutation sampling) and exact Shapley values."""

from __future__ import annotations

import dataclasses
import itertools
import math
import warnings

import numpy as np
import pytest
import torch
from pydantic import ValidationError
from scipy.stats import spearmanr

from graphfuse.errors import ConfigError, DataError
from graphfuse.experiment import annotate_graph
from graphfuse.explain import EXPLAINERS, build_explainer, exact_shapley, explain, patient_game
from graphfuse.explain._shap import REST_GROUP, ShapParams
from graphfuse.graphs import KNNBuilder, build_patient_graph, feature_key
from graphfuse.models import FusionModel, build_model
from graphfuse.train import train_model

SIZES = {"expression": 3, "methylation": 3, "imaging": 2}  # 8 players for a full patient


def _small_graph(cohort, splits, matrices, sizes=SIZES):
    """The fixture cohort cut to a few features per modality (some patients lack some)."""
    small = {
        m: dataclasses.replace(
            matrices[m], x=matrices[m].x[:, :n], features=matrices[m].features[:n]
        )
        for m, n in sizes.items()
    }
    graph = build_patient_graph(small, cohort.y, splits, KNNBuilder(k=4))
    annotate_graph(graph, cohort)
    return graph


def _train(name, graph, n_classes=2, **params):
    torch.manual_seed(0)
    model = build_model(name, graph, n_classes, **params)
    train_model(model, graph, epochs=30, lr=1e-2, weight_decay=1e-3, patience=30, progress=False)
    return model.eval()


@pytest.fixture(scope="module")
def small(cohort, splits, matrices):
    return _small_graph(cohort, splits, matrices)


@pytest.fixture(scope="module")
def small_gcn(small):
    return _train("gcn_fusion", small), small


class Interacting(FusionModel):
    """A fixed, strongly non-additive model: interactions across modalities, saturation,
    and each patient's output also reads its neighbours' features (graph held fixed)."""

    def __init__(self, in_dims: dict[str, int]) -> None:
        super().__init__(in_dims, 2)
        g = torch.Generator().manual_seed(3)
        self.register_buffer("w", torch.randn(sum(in_dims.values()), generator=g))

    def forward(self, data):
        store = data["patient"]
        order = list(data.modalities)
        x = torch.cat(
            [
                torch.where(store.available[:, order.index(m), None], store[feature_key(m)], 0.0)
                for m in self.modalities
            ],
            dim=1,
        )
        src, dst = data["patient", f"similar_{self.modalities[0]}", "patient"].edge_index
        agg = torch.zeros_like(x).index_add_(0, dst, x[src])
        deg = torch.zeros(len(x)).index_add_(0, dst, torch.ones(len(src))).clamp(min=1)
        z = (
            x @ self.w
            + 2.0 * torch.tanh(2.0 * x[:, 0] * x[:, 3])
            + torch.relu(x[:, 1] + x[:, 6]) * x[:, 4]
            - 1.5 * x[:, 2] * x[:, 5] * x[:, 7]
            + 0.5 * (agg / deg[:, None]) @ self.w
        )
        return torch.stack([torch.zeros_like(z), z], dim=1)


def _full_patient(graph) -> int:
    return int(np.flatnonzero(graph["patient"].available.all(dim=1).numpy())[0])


def _train_mean(graph, modality):
    store = graph["patient"]
    i = list(graph.modalities).index(modality)
    rows = store.train_mask & store.available[:, i]
    return store[feature_key(modality)][rows].mean(dim=0)


def _own_and_base(graph, patient):
    mods = list(SIZES)
    own = torch.cat([graph["patient"][feature_key(m)][patient] for m in mods])
    return own.numpy(), torch.cat([_train_mean(graph, m) for m in mods]).numpy()


def _direct_output(model, graph, patient):
    """``rows (k, 8) -> (k,)``: the patient's log-odds of class 1 with its feature row
    replaced, by one full forward per row (independent of graphfuse's explain code)."""
    offsets = np.cumsum([0, *SIZES.values()])

    def output(rows):
        out = []
        for row in np.asarray(rows, dtype=np.float32):
            data = graph.clone()
            for i, m in enumerate(SIZES):
                x = data["patient"][feature_key(m)]
                x[patient] = torch.from_numpy(row[offsets[i] : offsets[i + 1]])
            with torch.no_grad():
                logits = model(data)[patient]
            out.append(float(logits[1] - logits[0]))
        return np.array(out)

    return output


def _direct_value_fn(model, graph, patient):
    """The game by brute force: absent players at the training mean."""
    own, base = _own_and_base(graph, patient)
    output = _direct_output(model, graph, patient)
    return lambda masks: output(np.where(masks, own, base))


# ----------------------------------------------------------------- exact_shapley


def test_exact_shapley_matches_the_permutation_definition():
    rng = np.random.default_rng(0)
    n = 5
    table = rng.normal(size=1 << n)  # an arbitrary game: a value per coalition

    def value(masks):
        return table[(masks * (1 << np.arange(n))).sum(axis=1)]

    phi = exact_shapley(value, n, batch_size=7)
    brute = np.zeros(n)
    for order in itertools.permutations(range(n)):
        mask = np.zeros(n, dtype=bool)
        before = value(mask[None])[0]
        for player in order:
            mask[player] = True
            after = value(mask[None])[0]
            brute[player] += after - before
            before = after
    np.testing.assert_allclose(phi, brute / math.factorial(n), atol=1e-12)
    full, empty = value(np.ones((1, n), bool))[0], value(np.zeros((1, n), bool))[0]
    assert phi.sum() == pytest.approx(full - empty)


def test_exact_shapley_vector_games_and_errors():
    w = np.array([[1.0, 2.0], [-3.0, 0.0], [0.5, 4.0]])
    np.testing.assert_allclose(exact_shapley(lambda m: m @ w, 3), w, atol=1e-12)
    with pytest.raises(ConfigError, match="n_players"):
        exact_shapley(lambda m: m.sum(1), 0)
    with pytest.raises(ConfigError, match="n_players"):
        exact_shapley(lambda m: m.sum(1), 40)
    with pytest.raises(DataError, match="one value per coalition"):
        exact_shapley(lambda m: np.zeros(3), 4)


# ------------------------------------------------------------------- the explainer


def test_registered_params_validated_and_seeded():
    assert "shap" in EXPLAINERS
    assert EXPLAINERS.get("shap").seeded
    with pytest.raises(ConfigError, match="even"):
        build_explainer("shap", n_permutations=3)
    with pytest.raises(ValidationError):
        ShapParams(groups="genes")


def test_shapes_nan_rows_and_efficiency(small_gcn):
    model, graph = small_gcn
    store = graph["patient"]
    avail = store.available.numpy()
    patients = [int(np.flatnonzero(~avail[:, i])[0]) for i in (1, 2)] + [_full_patient(graph)]
    att = explain(model, graph, "shap", patients=patients, n_permutations=4, seed=3)
    assert att.method == "shap" and att.seed == 3 and att.params["n_permutations"] == 4
    for i, m in enumerate(graph.modalities):
        frame = att.scores[m]
        assert frame.shape == (3, SIZES[m])
        np.testing.assert_array_equal(frame.isna().all(axis=1).to_numpy(), ~avail[patients, i])
        assert not frame.isna().any(axis=1)[avail[patients, i]].any()
    # efficiency: each row sums to f(x) - f(training mean on the modalities it has)
    with torch.no_grad():
        logits = model(graph)
    for row, p in enumerate(patients):
        data = graph.clone()
        for i, m in enumerate(graph.modalities):
            if avail[p, i]:
                data["patient"][feature_key(m)][p] = _train_mean(graph, m)
        with torch.no_grad():
            base = model(data)[p]
        expected = float(logits[p, 1] - logits[p, 0]) - float(base[1] - base[0])
        assert att.table().iloc[row].sum() == pytest.approx(expected, abs=1e-5)


def test_seed_determinism_and_patient_subset_invariance(small):
    model = Interacting({m: len(small.feature_names[m]) for m in small.modalities})
    p = _full_patient(small)
    other = (p + 1) % 48
    a = explain(model, small, "shap", patients=[p, other], n_permutations=4, seed=1).table()
    b = explain(model, small, "shap", patients=[p, other], n_permutations=4, seed=1).table()
    c = explain(model, small, "shap", patients=[p, other], n_permutations=4, seed=2).table()
    alone = explain(model, small, "shap", patients=[p], n_permutations=4, seed=1).table()
    np.testing.assert_array_equal(a.to_numpy(), b.to_numpy())
    assert not np.allclose(a.fillna(0).to_numpy(), c.fillna(0).to_numpy())
    np.testing.assert_array_equal(a.iloc[:1].to_numpy(), alone.to_numpy())


def test_converges_to_exact_values_on_a_non_additive_model(small):
    model = Interacting({m: len(small.feature_names[m]) for m in small.modalities})
    p = _full_patient(small)
    exact = exact_shapley(_direct_value_fn(model, small, p), 8)
    game = patient_game(model, small, p)
    assert game.n_players == 8 and game.players[0] == (
        "expression",
        small.feature_names["expression"][0],
    )
    np.testing.assert_allclose(exact_shapley(game, game.n_players), exact, atol=1e-5)
    errors = {}
    for n in (4, 400):
        est = explain(model, small, "shap", patients=[p], n_permutations=n, seed=0)
        row = est.table().iloc[0].to_numpy()
        assert row.sum() == pytest.approx(exact.sum(), abs=1e-5)  # efficiency, any n
        errors[n] = np.abs(row - exact).max()
    assert spearmanr(row, exact)[0] >= 0.95
    assert errors[400] < 0.05 * np.abs(exact).max()
    assert errors[400] < errors[4]


def test_kernel_explainer_reference_agrees_with_exact(small):
    with warnings.catch_warnings():
        # shap's plotting module, imported by `import shap`, trips a matplotlib
        # PendingDeprecationWarning at import time; nothing graphfuse calls
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        import shap
    model = Interacting({m: len(small.feature_names[m]) for m in small.modalities})
    p = _full_patient(small)
    exact = exact_shapley(_direct_value_fn(model, small, p), 8)
    own, base = _own_and_base(small, p)
    f = _direct_output(model, small, p)
    kernel = shap.KernelExplainer(f, base[None].astype(np.float64))
    phi = kernel.shap_values(own[None].astype(np.float64), nsamples=2**8, l1_reg=0, silent=True)
    phi = np.asarray(phi).reshape(-1)
    assert spearmanr(phi, exact)[0] >= 0.95
    np.testing.assert_allclose(phi, exact, atol=1e-3 * np.abs(exact).max())


def test_linear_model_closed_form_and_group_sums(small):
    model = _train("early_mlp", small, layers=1)  # linear: logits = W [x, availability] + b
    w = model.net[0].weight.detach()
    dw = (w[1] - w[0]).numpy()
    att = explain(model, small, "shap", n_permutations=2, seed=0)
    mods = list(small.modalities)
    offsets = np.cumsum([0, *[SIZES[m] for m in mods]])
    for i, m in enumerate(mods):
        x = small["patient"][feature_key(m)].numpy()
        expected = dw[offsets[i] : offsets[i + 1]] * (x - _train_mean(small, m).numpy())
        np.testing.assert_allclose(att.scores[m].to_numpy(), expected, atol=1e-5)  # NaN rows too
    by_modality = explain(model, small, "shap", groups="modalities", n_permutations=2)
    groups = att.modality_groups()
    sums = att.group_scores(groups).to_numpy()
    np.testing.assert_allclose(by_modality.groups["modalities"].to_numpy(), sums, atol=1e-5)
    np.testing.assert_allclose(by_modality.group_scores(groups).to_numpy(), sums, atol=1e-5)
    # explicit groups across modalities; unnamed features form the rest group
    names = small.feature_names
    custom = {
        "a": [("expression", names["expression"][0]), ("imaging", names["imaging"][1])],
        "b": [("methylation", names["methylation"][0]), ("methylation", names["methylation"][2])],
    }
    grouped = explain(model, small, "shap", groups=custom, n_permutations=2)
    rest = [c for c in att.table().columns if c not in custom["a"] + custom["b"]]
    all_groups = {**custom, REST_GROUP: rest}
    table = grouped.groups["groups"]
    assert list(table.columns) == ["a", "b", REST_GROUP]
    np.testing.assert_allclose(table.to_numpy(), att.group_scores(all_groups).to_numpy(), atol=1e-5)


def test_overlapping_groups_match_exact_group_shapley(small):
    model = Interacting({m: len(small.feature_names[m]) for m in small.modalities})
    p = _full_patient(small)
    names = small.feature_names
    e, m, i = names["expression"], names["methylation"], names["imaging"]
    groups = {
        "g1": [("expression", e[0]), ("expression", e[1]), ("methylation", m[0])],
        "g2": [("expression", e[1]), ("imaging", i[0])],
        "g3": [("methylation", m[1]), ("methylation", m[2]), ("imaging", i[0])],
    }
    order = [(mod, f) for mod in SIZES for f in names[mod]]
    member = np.array([[c in groups[g] for c in order] for g in groups])  # (3, 8)
    member = np.vstack([member, ~member.any(axis=0)])  # the rest: expression e[2], imaging i[1]
    feature_value = _direct_value_fn(model, small, p)
    exact = exact_shapley(lambda masks: feature_value((masks @ member) > 0), 4)
    game = patient_game(model, small, p, groups=groups)
    assert game.players == ["g1", "g2", "g3", REST_GROUP]
    np.testing.assert_allclose(exact_shapley(game, 4), exact, atol=1e-5)
    att = explain(model, small, "shap", patients=[p], groups=groups, n_permutations=600)
    table = att.groups["groups"].iloc[0].to_numpy()
    np.testing.assert_allclose(table, exact, atol=0.03 * np.abs(exact).max())
    row = att.table().iloc[0]
    assert row.sum() == pytest.approx(exact.sum(), abs=1e-5)
    # a feature in two groups gets a share of each
    share = table[0] / 3 + table[1] / 2
    assert row[("expression", e[1])] == pytest.approx(share)


def test_pathway_groups_and_group_errors(small_gcn):
    model, graph = small_gcn
    genes = graph.feature_genes
    expr, meth = list(genes["expression"].values()), list(genes["methylation"].values())
    sets = {"s1": [expr[0], meth[1]], "s2": [expr[1], "NOT_A_GENE"], "s3": ["NOT_A_GENE"]}
    p = _full_patient(graph)
    att = explain(model, graph, "shap", patients=[p], groups="pathways", gene_sets=sets)
    table = att.groups["pathways"]
    assert list(table.columns) == ["s1", "s2", REST_GROUP]  # s3 matches no feature
    assert table.iloc[0].sum() == pytest.approx(att.table().iloc[0].sum(), abs=1e-6)
    with pytest.raises(ValidationError, match="gene_sets"):
        ShapParams(groups="pathways")
    with pytest.raises(DataError, match="no gene set"):
        explain(model, graph, "shap", patients=[p], groups="pathways", gene_sets={"s": ["X"]})
    with pytest.raises(ConfigError, match="does not have"):
        explain(model, graph, "shap", patients=[0], groups={"g": [("imaging", "nope")]})


def test_background_samples_are_averaged(small_gcn):
    model, graph = small_gcn
    p = _full_patient(graph)
    att = explain(model, graph, "shap", patients=[p], background=5, n_permutations=2, seed=4)
    game = patient_game(model, graph, p, background=5, seed=4)
    full, empty = game(np.ones((1, 8), bool))[0], game(np.zeros((1, 8), bool))[0]
    assert att.table().iloc[0].sum() == pytest.approx(full - empty, abs=1e-5)
    mean = explain(model, graph, "shap", patients=[p], n_permutations=2, seed=4)
    assert not np.allclose(att.table().to_numpy(), mean.table().to_numpy())


def test_planted_signal_lands_on_its_feature_and_modality(cohort, splits, matrices):
    graph = _small_graph(
        cohort, splits, matrices, {"expression": 6, "methylation": 6, "imaging": 4}
    )
    store = graph["patient"]
    rng = np.random.default_rng(0)
    for m in graph.modalities:  # noise everywhere ...
        x = store[feature_key(m)]
        store[feature_key(m)] = torch.where(
            torch.isnan(x), x, torch.from_numpy(rng.normal(size=x.shape).astype(np.float32))
        )
    y = store.y.numpy()
    planted = store[feature_key("methylation")]  # ... but one methylation probe
    planted[:, 4] = torch.where(
        torch.isnan(planted[:, 4]), planted[:, 4], torch.from_numpy(2.0 * y - 1.0).float()
    )
    model = _train("gcn_fusion", graph, root=True)
    have = np.flatnonzero(store.available[:, 1].numpy())[:6]
    att = explain(model, graph, "shap", patients=have, n_permutations=2)
    top = att.feature_importance().index[0]
    assert top == ("methylation", graph.feature_names["methylation"][4])


def test_labels_are_not_used(small_gcn):
    model, graph = small_gcn
    patients = [0, 5, 9]
    before = explain(model, graph, "shap", patients=patients, n_permutations=2).table()
    shuffled = graph.clone()
    shuffled["patient"].y = 1 - shuffled["patient"].y
    after = explain(model, shuffled, "shap", patients=patients, n_permutations=2).table()
    np.testing.assert_array_equal(before.to_numpy(), after.to_numpy())


@pytest.mark.parametrize("layers, root", [(2, False), (3, True)])
def test_path_engine_equals_evaluating_rows(cohort, splits, matrices, monkeypatch, layers, root):
    """The propagation engine's paths (cumulative first-layer changes along each
    permutation) give the scores of evaluating every coalition's rows."""
    from graphfuse.explain._engines import Engine
    from graphfuse.explain._perturb_gcn import GCNFusionEngine

    graph = _small_graph(
        cohort, splits, matrices, {"expression": 30, "methylation": 2, "imaging": 2}
    )
    model = _train("gcn_fusion", graph, hidden=6, layers=layers, root=root)
    store = graph["patient"]
    patients = [_full_patient(graph)] + [
        int(np.flatnonzero(~store.available[:, i].numpy())[0]) for i in (1, 2)
    ]
    genes = list(graph.feature_genes["expression"].values())
    cases = [
        {"n_permutations": 4},
        {"n_permutations": 2, "background": 3},
        {"groups": "modalities"},
        {"groups": "pathways", "gene_sets": {"a": genes[:12], "b": genes[8:20]}},
    ]
    walked, original = [], GCNFusionEngine.paths

    def paths(self, *args):
        walked.append(original(self, *args))
        return walked[-1]

    for params in cases:
        walked.clear()
        with monkeypatch.context() as patch:
            patch.setattr(GCNFusionEngine, "paths", paths)
            fast = explain(model, graph, "shap", patients=patients, seed=5, **params)
        assert walked and all(v is not None for v in walked)  # the paths were walked
        with monkeypatch.context() as patch:
            patch.setattr(GCNFusionEngine, "paths", Engine.paths)
            slow = explain(model, graph, "shap", patients=patients, seed=5, **params)
        np.testing.assert_allclose(
            fast.table().to_numpy(), slow.table().to_numpy(), rtol=1e-4, atol=1e-6
        )
        assert fast.table().abs().sum().sum() > 0
