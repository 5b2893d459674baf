"""The data root setting and the path rule of configs."""

from __future__ import annotations

from pathlib import Path

import pytest

import graphfuse
from graphfuse.data import data_path, data_root
from graphfuse.errors import ConfigError


def test_env_var_then_fallback_beside_the_project(monkeypatch, tmp_path):
    monkeypatch.setenv("GRAPHFUSE_DATA", str(tmp_path))
    assert data_root() == tmp_path
    monkeypatch.delenv("GRAPHFUSE_DATA")
    repo = Path(graphfuse.__file__).resolve().parents[1]
    assert data_root() == (repo.parent / "shared" / "data").resolve()


def test_relative_paths_resolve_under_the_root(monkeypatch, tmp_path):
    monkeypatch.setenv("GRAPHFUSE_DATA", str(tmp_path))
    assert data_path("mogonet/ROSMAP") == tmp_path / "mogonet" / "ROSMAP"
    assert data_path("/elsewhere/x.csv") == Path("/elsewhere/x.csv")
    with pytest.raises(ConfigError, match=r"data\.tables\.labels: .* not expanded"):
        data_path("${GRAPHFUSE_DATA}/labels.csv", key="data.tables.labels")
