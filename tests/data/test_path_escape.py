"""A relative data path in a config stays inside the data root: '..' out of it is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from graphfuse.config import KnowledgeConfig, load_config
from graphfuse.data import data_path, load_cohort, load_new_patients
from graphfuse.errors import ConfigError
from graphfuse.experiment._knowledge import build_from_config

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def root(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "data"
    (folder / "tables").mkdir(parents=True)
    monkeypatch.setenv("GRAPHFUSE_DATA", str(folder))
    return folder


@pytest.mark.parametrize(
    "path",
    ["../labels.csv", "tables/../../labels.csv", "./../data/labels.csv", "..", "a/b/../../.."],
)
def test_a_relative_path_climbing_out_of_the_root_is_refused(root, path):
    with pytest.raises(ConfigError) as err:
        data_path(path, key="data.tables.labels")
    message = str(err.value)
    assert message.startswith(f"data.tables.labels: {path!r} climbs out of the data root {root}")
    assert "write the path as an absolute path" in message


def test_paths_inside_the_root_and_absolute_paths_are_kept(root, tmp_path):
    assert data_path("tables/labels.csv") == root / "tables" / "labels.csv"
    assert data_path("tables/../labels.csv") == root / "tables/../labels.csv"  # still inside
    assert data_path("./labels.csv") == root / "labels.csv"
    assert data_path("..labels.csv") == root / "..labels.csv"  # a name, not a step
    outside = tmp_path / "elsewhere" / "labels.csv"
    assert data_path(str(outside)) == outside  # absolute: the config says where, as it is
    assert data_path("~/labels.csv") == Path.home() / "labels.csv"


def test_a_symbolic_link_inside_the_root_is_followed(root, tmp_path):
    big = tmp_path / "big_storage"
    big.mkdir()
    (big / "rna.csv").write_text("pid,g\nA,1\n")
    (root / "linked").symlink_to(big, target_is_directory=True)
    found = data_path("linked/rna.csv")
    assert found == root / "linked" / "rna.csv" and found.read_text().startswith("pid")


def _tables_config(folder: Path, labels: str, rna: str) -> Path:
    path = folder / "exp.yaml"
    tables = {
        "labels": labels,
        "id_column": "pid",
        "target": "dx",
        "modalities": [{"name": "rna", "kind": "omics", "path": rna, "genes": "none"}],
    }
    path.write_text(yaml.safe_dump({"data": {"source": "tables", "tables": tables}}))
    return path


def test_a_config_escaping_the_root_is_refused_naming_the_key(root, tmp_path):
    cfg = load_config(_tables_config(tmp_path, "../labels.csv", "rna.csv"))
    for read in (load_cohort, load_new_patients):
        with pytest.raises(ConfigError, match=r"data\.tables\.labels: '\.\./labels\.csv' climbs"):
            read(cfg.data, seed=0)
    cfg = load_config(_tables_config(tmp_path, "labels.csv", "tables/../../rna.csv"))
    (root / "labels.csv").write_text("pid,dx\nA,AD\nB,CN\n")
    with pytest.raises(
        ConfigError, match=r"modalities.*\.path: 'tables/\.\./\.\./rna\.csv' climbs"
    ):
        load_cohort(cfg.data, seed=0)


def test_a_knowledge_graph_path_escaping_the_root_is_refused(root):
    gmt = KnowledgeConfig(gene_sets={"pathway": "../sets.gmt"}, interactions=None)
    with pytest.raises(ConfigError, match=r"graph\.knowledge\.gene_sets\.pathway: '\.\./sets"):
        build_from_config(None, None, gmt)  # type: ignore[arg-type]  # refused before use
    (root / "sets.gmt").write_text("P1\t\tAPP\tAPOE\n")  # inside: read, then the next path
    ppi = KnowledgeConfig(gene_sets={"pathway": "sets.gmt"}, interactions={"path": "../ppi.csv"})
    with pytest.raises(ConfigError, match=r"graph\.knowledge\.interactions\.path: '\.\./ppi"):
        build_from_config(None, None, ppi)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "configs").glob("*.yaml")))
def test_the_shipped_configs_still_load_and_resolve(name):
    cfg = load_config(ROOT / "configs" / name)
    for section in ("mogonet", "tables"):
        part = getattr(cfg.data, section)
        if part is not None:
            paths = [part.folder] if section == "mogonet" else [p for p, _ in part.label_files()]
            for path in paths:
                assert data_path(path).is_relative_to(Path(data_path(".")))
