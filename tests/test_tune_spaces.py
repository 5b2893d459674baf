"""The search spaces shipped in configs/: every key a real config key, every range valid, one
ready config per model family (configs/tune/rosmap_<family>.yaml), each trainable at its
space's corners."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from graphfuse.config import ExperimentConfig, load_config
from graphfuse.models import MODELS
from graphfuse.tune import check_space, trial_config

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "configs").rglob("*.yaml"))
SEARCHES = [p for p in CONFIGS if load_config(p).tune is not None]
FAMILIES = sorted((ROOT / "configs" / "tune").glob("rosmap_*.yaml"))

#: A tiny synthetic cohort standing in for ROSMAP, so the corners train in a second.
TINY = {
    "data": {
        "source": "synthetic",
        "synthetic": {"n_patients": 40, "n_genes": 80, "n_pathways": 10, "n_regions": 10},
    },
    "train.epochs": 2,
    "tracking.enabled": False,
}


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _value_at(cfg: ExperimentConfig, key: str) -> Any:
    """The value a dotted space key lands on in the resolved config (``model.params.x`` and
    ``model.x`` alike)."""
    node: Any = cfg.to_dict()
    for part in key.replace(".params.", ".", 1).split("."):
        node = node[part]
    return node


def test_configs_with_a_search_are_found():
    names = {_rel(p) for p in SEARCHES}
    assert {"configs/ad_quick.yaml", "configs/rosmap.yaml"} <= names
    assert {_rel(p) for p in FAMILIES} <= names


@pytest.mark.parametrize("path", SEARCHES, ids=_rel)
def test_every_space_key_is_a_config_key_the_value_reaches(path):
    cfg = load_config(path)
    check_space(cfg)  # each key alone at each bound validates (config and component Params)
    for key, space in cfg.tune.space.items():
        assert key.split(".")[0] in {"data", "graph", "model", "train"}, key
        for value in space.bounds():
            # the value lands where the key says, not in a section nothing reads
            assert _value_at(trial_config(cfg, {key: value}), key) == value, (key, value)


def test_one_ready_search_per_model_family():
    by_family = {}
    for path in FAMILIES:
        cfg = load_config(path)
        assert path.stem == f"rosmap_{cfg.model.name}", _rel(path)
        assert cfg.data.source == "mogonet" and cfg.tune.metric == "val_roc_auc"
        by_family[cfg.model.name] = cfg
    assert sorted(by_family) == MODELS.names()  # a new family needs its own search space
    for name, cfg in by_family.items():
        # a model reading a knowledge graph gets one, and only it does
        knowledge = MODELS.get(name).graph_kind == "knowledge"
        assert (cfg.graph.knowledge is not None) == knowledge, name
    hetero = by_family["hetero"].graph.knowledge
    assert hetero.gene_sets == {"pathway": "reactome"}  # as benchmarks/rosmap.py's hetero
    assert "graph.knowledge.top_genes" in by_family["hetero"].tune.space


@pytest.mark.slow
@pytest.mark.parametrize("path", FAMILIES, ids=lambda p: p.stem)
def test_each_family_trains_at_the_corners_of_its_space(path):
    from graphfuse.experiment import fit

    overrides = dict(TINY)
    if load_config(path).graph.knowledge is not None:
        overrides["graph.knowledge.gene_sets"] = {"pathway": "synthetic"}
    cfg = load_config(path, overrides)
    for end in (0, -1):  # every key at its low end (first choice), then at its high end
        values = {key: space.bounds()[end] for key, space in cfg.tune.space.items()}
        result = fit(trial_config(cfg, values))
        assert 0.0 <= result.metrics["val"]["roc_auc"] <= 1.0
