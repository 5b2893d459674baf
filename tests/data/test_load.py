"""The config's data sources (synthetic, mogonet, tables) and fit() on the user's tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from mlflow.tracking import MlflowClient

from graphfuse.config import load_config
from graphfuse.data import load_cohort
from graphfuse.errors import ConfigError, DataError
from graphfuse.experiment import fit

from .conftest import GENES, write_mogonet

ROOT = Path(__file__).resolve().parents[2]
FAST = ["tracking.enabled=false", "train.epochs=3", "graph.k=3", "model.hidden=8"]


def tables_config(files, tmp_path: Path, **data) -> Path:
    """A config whose relative paths live under the data root (tmp_path)."""
    tables = {
        "labels": "labels.csv",
        "id_column": "pid",
        "target": "dx",
        "classes": ["CN", "AD"],
        "modalities": [
            {
                "name": "rna",
                "kind": "omics",
                "path": "rna.csv",
                "genes": {"table": "genemap.csv"},
            },
            {"name": "clinical", "kind": "clinical", "path": "clinical.csv"},
            {"name": "imaging", "kind": "imaging", "path": "imaging.parquet"},
        ],
    }
    tables.update(data)
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump({"data": {"source": "tables", "tables": tables}}))
    return path


@pytest.fixture
def root(files, monkeypatch):
    monkeypatch.setenv("GRAPHFUSE_DATA", str(files.root))
    return files.root


def test_tables_source_reads_relative_to_the_data_root(files, root):
    cfg = load_config(tables_config(files, root))
    cohort = load_cohort(cfg.data, seed=0)
    assert cohort.modalities == ["rna", "clinical", "imaging"]
    assert cohort.modality("rna").var["gene"].tolist() == GENES
    assert "split" not in cohort.obs  # no split_column: a stratified split is drawn
    picked = load_config(tables_config(files, root), ["data.modalities=[imaging]"])
    with pytest.warns(UserWarning, match=r"8 of its 40 patient\(s\) have no data"):
        only = load_cohort(picked.data, seed=0)  # only the picked modality is read
    assert only.modalities == ["imaging"] and only.n_patients == 32


# MLflow's own warning when it logs the pickled model in-process (the CLI test runs it in a
# subprocess): not about the data.
@pytest.mark.filterwarnings("ignore:.*Any type hint is inferred as AnyType:UserWarning")
def test_fit_keeps_a_published_split_and_tags_the_run(files, root, monkeypatch):
    monkeypatch.chdir(root)
    uri = f"sqlite:///{root}/mlflow.db"
    cfg = load_config(
        tables_config(files, root, split_column="split"),
        [*FAST, "tracking.enabled=true", f"tracking.uri={uri}", "train.val_fraction=0.3"],
    )
    r = fit(cfg)
    assert r.split == "published"
    assert r.splits["test"].tolist() == list(range(30, 40))  # exactly the published test rows
    assert len(r.splits["val"]) == 9 and len(r.splits["train"]) == 21
    assert set(r.splits["val"]) < set(range(30))
    tags = MlflowClient(uri).get_run(r.run_id).data.tags
    assert tags["graphfuse.split"] == "published"
    plain = fit(load_config(tables_config(files, root), FAST))
    assert plain.split == "stratified"


def test_mogonet_source_and_missing_folder(root):
    write_mogonet(root / "mogo")
    data = {
        "source": "mogonet",
        "mogonet": {
            "folder": "mogo",
            "classes": ["NC", "AD"],
            "views": [
                {"view": 1, "name": "rna", "genes": {"ids": "features"}},
                {"view": 2, "name": "meth", "genes": "none"},
            ],
        },
    }
    path = root / "m.yaml"
    path.write_text(yaml.safe_dump({"data": data}))
    cfg = load_config(path)
    assert cfg.data.mogonet.views[1].genes.ids == "none"
    r = fit(load_config(path, FAST))
    assert r.split == "published" and len(r.splits["test"]) == 10
    again = load_config(path, ["data.mogonet.folder=elsewhere"])
    with pytest.raises(DataError, match=r"MOGONET folder .*elsewhere not found"):
        load_cohort(again.data, seed=0)


def test_data_config_errors(files, root):
    def bad(text: str, match: str) -> None:
        path = root / "bad.yaml"
        path.write_text(text)
        with pytest.raises(ConfigError, match=match):
            load_config(path)

    bad("data: {source: tables}\n", r"source is 'tables' but the data\.tables section is missing")
    bad(
        "data: {synthetic: {n_patients: 50}, mogonet: {folder: x}}\n",
        r"data\.mogonet is given but source is 'synthetic'",
    )
    one = "data: {source: tables, tables: {labels: l.csv, modalities: [%s]}}\n"
    bad(one % "{name: r, kind: omics, path: r.csv}", r"omics modality 'r': say how its features")
    bad(one % "{name: r, kind: imaging, path: r.csv, genes: none}", r"genes: is for omics")
    bad(one % "{name: r, kind: omics, path: r.csv, genes: {ids: var}}", r"genes\.column is needed")
    bad(one % "{name: r, kind: rna, path: r.csv}", r"kind: Input should be 'omics'")
    two = "{name: r, kind: imaging, path: a.csv}, {name: r, kind: imaging, path: b.csv}"
    bad(one % two, r"modality names must be unique; repeated: \['r'\]")
    cfg = load_config(tables_config(files, root, labels="${GRAPHFUSE_DATA}/labels.csv"))
    with pytest.raises(ConfigError, match=r"data\.tables\.labels: .*not expanded"):
        load_cohort(cfg.data, seed=0)
    cfg = load_config(tables_config(files, root, id_column="patient"))
    with pytest.raises(DataError, match=r"labels table .*labels\.csv: ID column 'patient' not"):
        load_cohort(cfg.data, seed=0)


def test_shipped_synthetic_configs_are_unchanged():
    for name in ("ad.yaml", "ad_quick.yaml"):
        cfg = load_config(ROOT / "configs" / name)
        assert cfg.data.source == "synthetic" and cfg.data.synthetic is not None
        assert cfg.data.mogonet is None and cfg.data.tables is None
    dumped = load_config(ROOT / "configs" / "ad_quick.yaml").to_dict()["data"]
    assert dumped["synthetic"]["n_patients"] == 80


def test_source_configs_round_trip(files, root, tmp_path):
    for path in (ROOT / "configs" / "rosmap.yaml", tables_config(files, root)):
        cfg = load_config(path)
        again = tmp_path / "again.yaml"
        again.write_text(cfg.to_yaml())
        assert load_config(again).to_dict() == cfg.to_dict()


def test_rosmap_config_runs_end_to_end(rosmap):
    cfg = load_config(
        ROOT / "configs" / "rosmap.yaml", ["tracking.enabled=false", "train.epochs=2"]
    )
    r = fit(cfg)
    assert r.split == "published"
    assert len(r.splits["test"]) == 106 and len(r.splits["train"]) + len(r.splits["val"]) == 245
    test_ids = r.cohort.patients[r.splits["test"]]
    assert all(p.startswith("te_") for p in test_ids)
    assert np.isfinite(r.proba).all()
    assert pd.Series(r.cohort.modality("mrna").var["gene"]).notna().all()
