"""The device setting: resolving ``train.device``, moving graphs, computing where asked.

No GPU is needed. CUDA's presence is faked where only the checks are tested; runs with
``device="cpu"`` must equal the default ones bit for bit; and PyTorch's ``meta`` device
stands in for a second device: with it as the default device (``with
torch.device("meta")``), any tensor the trainer, a model or an explainer makes without an
explicit device lands on ``meta`` and the next operation with the graph's CPU tensors
fails — so the whole pipeline running there proves every tensor it makes follows the
graph's device. A static check of the source keeps that rule visible in review.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
import torch
from pydantic import ValidationError

import graphfuse
from graphfuse._device import device_of, on_device, resolve_device, to_device
from graphfuse.config import ExperimentConfig, load_config
from graphfuse.data import GeneSets
from graphfuse.errors import ConfigError, DataError
from graphfuse.experiment import annotate_graph, fit
from graphfuse.explain import (
    EXPLAINERS,
    build_explainer,
    explain,
    faithfulness,
    patient_game,
)
from graphfuse.explain import run as run_explainers
from graphfuse.graphs import PATIENT, build_knowledge_graph, graph_info
from graphfuse.models import MODELS, build_model
from graphfuse.train import train_model

ROOT = Path(__file__).resolve().parents[1]
QUICK = ROOT / "configs" / "ad_quick.yaml"
OFF = ["tracking.enabled=false", "train.epochs=8"]

#: Small explainer settings, each taking a different code path.
SETTINGS = [
    ("saliency", {}),
    ("saliency", {"kind": "integrated_gradients", "steps": 4}),
    ("sensitivity", {}),
    ("sensitivity", {"groups": "modalities", "baseline": "samples", "samples": 2}),
    ("shap", {"n_permutations": 2}),
    ("shap", {"n_permutations": 2, "background": 3, "groups": "modalities"}),
    ("masking", {"epochs": 5, "restarts": 2}),
]
PATIENT_MODELS = [n for n in MODELS.names() if MODELS.get(n).graph_kind == "patient"]
#: Smaller settings of the slower families, for the meta-device runs.
SMALL = {"random_forest": {"n_trees": 20}, "mogonet": {"hidden": [16, 8], "pretrain_epochs": 2}}


def _no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def _one_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)


def _trained(name, graph, cohort, epochs=5, **kwargs):
    annotate_graph(graph, cohort)
    torch.manual_seed(0)
    model = build_model(name, graph, len(cohort.classes))
    train_model(model, graph, epochs=epochs, lr=1e-2, weight_decay=1e-3, patience=30,
                progress=False, **kwargs)  # fmt: skip
    return model


# ----------------------------------------------------------------------- resolve_device


def test_cpu_and_auto_without_a_gpu(monkeypatch):
    _no_cuda(monkeypatch)
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device(" CPU ") == torch.device("cpu")


@pytest.mark.parametrize("setting", ["cuda", "cuda:0"])
def test_cuda_without_a_gpu_names_the_key_value_and_what_there_is(monkeypatch, setting):
    _no_cuda(monkeypatch)
    with pytest.raises(ConfigError) as info:
        resolve_device(setting)
    text = str(info.value)
    assert text.startswith(f"train.device: {setting!r} asks for a CUDA GPU")
    assert "torch.cuda.is_available() is False" in text
    assert "available here: cpu." in text


def test_auto_and_cuda_pick_the_current_gpu_and_index_is_checked(monkeypatch):
    _one_gpu(monkeypatch)
    assert resolve_device("auto") == torch.device("cuda", 0)
    assert resolve_device("cuda") == torch.device("cuda", 0)
    assert resolve_device("cuda:0") == torch.device("cuda", 0)
    with pytest.raises(ConfigError) as info:
        resolve_device("cuda:1")
    assert str(info.value) == (
        "train.device: 'cuda:1' names CUDA device 1, but this machine has 1 "
        "(available here: cpu, cuda:0)"
    )


@pytest.mark.parametrize("setting", ["gpu", "cuda:x", "", "cuda:-1", "mps"])
def test_anything_else_is_not_a_device(setting):
    with pytest.raises(ConfigError, match=r"is not a device; use auto, cpu, cuda or cuda:N"):
        resolve_device(setting)


def test_config_key_is_validated_by_pattern_and_defaults_to_auto():
    assert ExperimentConfig().train.device == "auto"
    assert ExperimentConfig.model_validate({"train": {"device": "cuda:3"}}).train.device == "cuda:3"
    with pytest.raises(ValidationError, match=r"train\.device"):
        ExperimentConfig.model_validate({"train": {"device": "gpu"}})


def test_ad_yaml_documents_the_key():
    text = (ROOT / "configs" / "ad.yaml").read_text()
    assert "  device: auto " in text
    assert load_config(ROOT / "configs" / "ad.yaml").train.device == "auto"


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_fit_asking_for_a_missing_gpu_fails_before_any_work(monkeypatch):
    import graphfuse.experiment._fit as fit_module

    def never(*args, **kwargs):  # pragma: no cover - must not be reached
        raise AssertionError("prepare ran")

    monkeypatch.setattr(fit_module, "prepare", never)
    with pytest.raises(ConfigError, match=r"train\.device: 'cuda' asks for a CUDA GPU"):
        fit(load_config(QUICK, [*OFF, "train.device=cuda"]))


# --------------------------------------------------------------- moving graphs, models


def test_to_device_is_a_no_op_where_the_graph_is_and_a_copy_elsewhere(graph, cohort):
    annotate_graph(graph, cohort)
    assert to_device(graph, "cpu") is graph
    assert to_device(graph, torch.device("cpu")) is graph
    moved = to_device(graph, torch.device("meta"))
    assert moved is not graph
    tensors = [v for s in moved.stores for v in s.values() if isinstance(v, torch.Tensor)]
    assert tensors and all(t.device.type == "meta" for t in tensors)
    assert device_of(graph) == torch.device("cpu")  # the original is untouched
    assert graph[PATIENT].x_expression.device.type == "cpu"
    assert moved.modalities == graph.modalities
    assert moved.feature_names == graph.feature_names
    assert list(graph_info(moved).patients) == list(graph_info(graph).patients)
    assert to_device(moved, torch.device("meta")) is moved


def test_model_and_graph_on_different_devices_is_an_error_naming_both(graph, cohort):
    model = _trained("late_mlp", graph, cohort, epochs=2).to("meta")
    with pytest.raises(DataError) as info:
        on_device(model, graph, who="explain")
    assert str(info.value).startswith("explain: the model is on meta but the graph is on cpu")
    with pytest.raises(DataError, match="explainer 'saliency': the model is on meta"):
        explain(model, graph, "saliency")


def test_on_device_copies_the_model_only_when_it_must(graph, cohort):
    model = _trained("late_mlp", graph, cohort, epochs=2)
    same, data = on_device(model, graph, "cpu")
    assert same is model and data is graph
    moved, data = on_device(model, graph, torch.device("meta"))
    assert moved is not model and device_of(moved).type == "meta"
    assert device_of(data).type == "meta"
    assert device_of(model) == torch.device("cpu")


# ----------------------------------------------------------------- the same on the CPU


def test_trainer_on_explicit_cpu_equals_the_default(graph, cohort):
    a = _trained("gcn_fusion", graph, cohort, modality_dropout=0.3)
    b = _trained("gcn_fusion", graph, cohort, modality_dropout=0.3, device="cpu")
    assert a.state_dict().keys() == b.state_dict().keys()
    assert all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())


@pytest.mark.skipif(torch.cuda.is_available(), reason="auto is the GPU here")
def test_fit_on_cpu_equals_the_default_and_hands_back_cpu_objects():
    default = fit(load_config(QUICK, OFF))
    cpu = fit(load_config(QUICK, [*OFF, "train.device=cpu"]))
    assert cpu.config.train.device == "cpu" and default.config.train.device == "auto"
    np.testing.assert_array_equal(cpu.proba, default.proba)
    assert cpu.metrics == default.metrics
    for result in (cpu, default):
        assert device_of(result.model) == torch.device("cpu")
        assert device_of(result.data) == torch.device("cpu")


@pytest.mark.parametrize(("method", "params"), SETTINGS, ids=[str(s) for s in SETTINGS])
def test_explaining_on_explicit_cpu_equals_the_default(graph, cohort, method, params):
    model = _trained("gcn_fusion", graph, cohort)
    patients = np.arange(0, graph[PATIENT].num_nodes, 4)
    a = explain(model, graph, method, patients=patients, seed=3, **params)
    b = explain(model, graph, method, patients=patients, seed=3, device="cpu", **params)
    for m in a.modalities:
        np.testing.assert_array_equal(a.scores[m].to_numpy(), b.scores[m].to_numpy())
    assert a.prediction.equals(b.prediction)


def test_run_moves_once_and_leaves_the_model_where_it_was(graph, cohort):
    model = _trained("late_mlp", graph, cohort, epochs=2)
    got = run_explainers(model, graph, ["saliency", "sensitivity"], patients=[0, 1], device="cpu")
    want = run_explainers(model, graph, ["saliency", "sensitivity"], patients=[0, 1])
    for name in got:
        for m in got[name].modalities:
            np.testing.assert_array_equal(got[name].scores[m], want[name].scores[m])
    assert device_of(model) == torch.device("cpu")


# ------------------------------------------------- nothing made off the graph's device


@pytest.mark.parametrize("name", [*PATIENT_MODELS, "hetero"])
def test_no_tensor_is_made_off_the_graphs_device(name, graph, cohort):
    """Under a ``meta`` default device, a tensor made without ``device=`` is a meta
    tensor, and mixing it with the graph's CPU tensors raises: training (with modality
    dropout), every supported explainer, faithfulness and a SHAP game must all run."""
    if name == "hetero":
        graph = build_knowledge_graph(
            graph,
            feature_genes=cohort.feature_genes(),
            gene_sets={"pathway": GeneSets.from_cohort(cohort)},
            top_genes=10,
            min_set_size=3,
        )
    annotate_graph(graph, cohort)
    torch.manual_seed(0)
    model = build_model(name, graph, len(cohort.classes), **SMALL.get(name, {}))
    patients = np.flatnonzero(graph[PATIENT].test_mask.numpy())[:4]
    settings = SETTINGS
    if name == "hetero":  # a perturbation of a knowledge graph is one forward pass: few
        settings = [s for s in SETTINGS if s[0] in ("saliency", "masking")]
        settings += [("sensitivity", {"groups": "modalities", "feature_scores": False})]
    with torch.device("meta"):
        train_model(model, graph, epochs=3, lr=1e-2, weight_decay=1e-3, patience=None,
                    progress=False, modality_dropout=0.3)  # fmt: skip
        for method, params in settings:
            if EXPLAINERS.get(method).supports(model):
                attribution = explain(model, graph, method, patients=patients, seed=1, **params)
                scores = attribution.groups if "groups" in params else attribution.scores
                assert all(np.isfinite(t.to_numpy()).any() for t in scores.values())
        if name != "hetero":
            attribution = build_explainer("sensitivity").explain(model, graph, patients=patients)
            faithfulness(attribution, model, graph, steps=3, k=2, target="explained")
            game = patient_game(model, graph, int(patients[0]), groups="modalities")
            game(np.eye(game.n_players, dtype=bool))
    assert device_of(model) == torch.device("cpu")


# --------------------------------------------------------------------- static rule

#: Tensor constructors that must say where the tensor goes.
_CONSTRUCTORS = {
    "arange", "as_tensor", "empty", "eye", "from_numpy", "full", "linspace", "ones", "rand",
    "randint", "randn", "randperm", "sparse_coo_tensor", "sparse_csr_tensor", "tensor", "zeros",
}  # fmt: skip
_CHECKED = ("explain", "train", "models")


def _offences(path: Path, root: Path = ROOT) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    parent = {c: n for n in ast.walk(tree) for c in ast.iter_child_nodes(n)}

    def in_parameter(node: ast.AST) -> bool:  # module state, moved with the module
        while node in parent and not isinstance(node, ast.stmt):
            node = parent[node]
            func = getattr(node, "func", None)
            if isinstance(func, ast.Attribute) and func.attr in ("Parameter", "register_buffer"):
                return True
        return False

    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        func, where = node.func, f"{path.relative_to(root)}:{node.lineno}"
        named = {k.arg for k in node.keywords}
        if (
            isinstance(func.value, ast.Name)
            and func.value.id == "torch"
            and func.attr in _CONSTRUCTORS
            and (func.attr == "from_numpy" or "device" not in named)
            and not in_parameter(node)
        ):
            found.append(f"{where}: {ast.unparse(node)[:70]} (no device=)")
        if func.attr == "numpy" and not node.args:
            inner = func.value
            if not (isinstance(inner, ast.Call) and getattr(inner.func, "attr", "") == "cpu"):
                found.append(f"{where}: {ast.unparse(node)[:70]} (.numpy() without .cpu())")
    return found


def test_source_makes_tensors_with_a_device_and_reads_them_through_cpu():
    package = Path(graphfuse.__file__).parent
    files = [p for stage in _CHECKED for p in sorted((package / stage).rglob("*.py"))]
    assert len(files) > 30
    bad = [o for p in files for o in _offences(p)]
    assert not bad, "tensors made without device= or read without .cpu():\n" + "\n".join(bad)


def test_the_static_rule_catches_what_it_is_for(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import torch\n"
        "a = torch.zeros(3)\n"
        "b = torch.zeros(3, device=x.device)\n"
        "c = torch.from_numpy(y)\n"
        "d = x.numpy()\n"
        "e = x.cpu().numpy()\n"
        "p = nn.Parameter(nn.init.xavier_normal_(torch.empty(2, 3)))\n"
    )
    lines = sorted(int(o.split(":")[1]) for o in _offences(sample, tmp_path))
    assert lines == [2, 4, 5]
