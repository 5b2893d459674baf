"""Survival outcomes from the user's tables and from SurvSet (an optional, GPL-licensed source)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from graphfuse.config import load_config
from graphfuse.data import load_cohort
from graphfuse.data._survset import read_survset
from graphfuse.errors import DataError, DependencyError
from graphfuse.experiment import fit

ROOT = Path(__file__).resolve().parents[2]
HAS_SURVSET = importlib.util.find_spec("SurvSet") is not None
needs_survset = pytest.mark.skipif(
    not HAS_SURVSET, reason="optional GPL data source SurvSet not installed (pip install SurvSet)"
)


def _tables(tmp_path: Path, n: int = 40) -> Path:
    """A labels table with a survival outcome and one omics table, under the data root."""
    rng = np.random.default_rng(0)
    ids = [f"S{i:03d}" for i in range(n)]
    expr = rng.normal(size=(n, 6))
    time = np.round(rng.exponential(30.0 / np.exp(expr[:, 0]), n), 1) + 0.1
    event = (rng.random(n) < 0.7).astype(int)
    pd.DataFrame({"pid": ids, "os_months": time, "os_event": event}).to_csv(
        tmp_path / "labels.csv", index=False
    )
    rna = pd.DataFrame(expr, columns=[f"G{i}" for i in range(6)]).assign(pid=ids)
    rna.to_csv(tmp_path / "rna.csv", index=False)
    config = {
        "task": "survival",
        "data": {
            "source": "tables",
            "survival": {"time": "os_months", "event": "os_event"},
            "tables": {
                "labels": "labels.csv",
                "id_column": "pid",
                "modalities": [
                    {
                        "name": "rna",
                        "kind": "omics",
                        "path": str(tmp_path / "rna.csv"),
                        "genes": "none",
                    }
                ],
            },
        },
        "graph": {"name": "knn", "k": 4},
        "model": {"name": "early_mlp", "hidden": 8},
        "train": {"epochs": 3},
        "tracking": {"enabled": False},
    }
    path = tmp_path / "surv.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_tables_survival_columns_ride_in_obs_and_event_is_the_target(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHFUSE_DATA", str(tmp_path))
    path = _tables(tmp_path)
    cfg = load_config(path)
    cohort = load_cohort(cfg.data, seed=0)
    assert cohort.target == "os_event" and cohort.classes == [0, 1]
    labels = pd.read_csv(tmp_path / "labels.csv", index_col="pid")
    assert np.allclose(cohort.obs["os_months"].to_numpy(), labels.loc[cohort.patients, "os_months"])
    r = fit(cfg)
    assert r.task == "survival" and np.isfinite(r.metrics["test"]["c_index"])
    # a missing column is named, with the table's columns
    bad = load_config(path, ["data.survival.time=months"])
    with pytest.raises(DataError, match=r"data\.survival\.time column 'months' not found"):
        load_cohort(bad.data, seed=0)


def test_invalid_times_and_events_are_named(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHFUSE_DATA", str(tmp_path))
    path = _tables(tmp_path)
    labels = pd.read_csv(tmp_path / "labels.csv")
    labels.loc[3, "os_months"] = -1.0
    labels.to_csv(tmp_path / "labels.csv", index=False)
    with pytest.raises(DataError, match=r"'os_months', patient 'S003': -1\.0; expected a pos"):
        fit(load_config(path))
    labels.loc[3, "os_months"] = 5.0
    labels.loc[5, "os_event"] = 2
    labels.to_csv(tmp_path / "labels.csv", index=False)
    with pytest.raises(DataError, match=r"column 'os_event', patient 'S005': 2; expected 0 \(cens"):
        fit(load_config(path))


def _survset_like(n: int = 12) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    grade = rng.choice(["1", "2", "3", "missing"], n).astype(object)
    return pd.DataFrame(
        {
            "pid": np.arange(n),
            "event": rng.integers(0, 2, n),
            "time": rng.uniform(1, 50, n).round(1),
            "fac_grade": pd.Categorical(grade),
            "fac_size": pd.Categorical(rng.choice(["1", "2"], n)),
            "num_size": rng.uniform(1, 5, n),
            "num_HS_TP53": rng.normal(size=n),
            "num_HS_BRCA1": rng.normal(size=n),
        }
    )


def test_read_survset_splits_omics_by_prefix_and_reads_missing():
    table = _survset_like()
    c = read_survset(
        table, omics={"expression": "num_HS_"}, drop=["fac_size"], types={"grade": "ordinal"}
    )
    assert c.modalities == ["expression", "clinical"]
    assert c.modality("expression").var["gene"].tolist() == ["TP53", "BRCA1"]
    clinical = c.modality("clinical").var
    assert clinical["type"].to_dict() == {"grade": "ordinal", "size": "numeric"}
    grade = pd.Series(c.matrix("clinical")[:, 0], index=c.patients)
    assert grade.isna().sum() == (table["fac_grade"] == "missing").sum()
    assert c.target == "event" and list(c.obs.columns) == ["time", "event"]
    with pytest.raises(DataError, match=r"'fac_size' and 'num_size' are both clinical variable"):
        read_survset(table, omics={"expression": "num_HS_"})
    with pytest.raises(DataError, match=r"no column starts with 'num_MM_'"):
        read_survset(table, omics={"expression": "num_MM_"}, drop=["fac_size"])


def test_survset_source_without_the_package_says_how_to_get_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "SurvSet", None)  # import SurvSet fails
    monkeypatch.setitem(sys.modules, "SurvSet.data", None)
    cfg = load_config(ROOT / "configs" / "gse1992_survival.yaml")
    with pytest.raises(DependencyError, match=r"pip install SurvSet \(GPL-licensed"):
        load_cohort(cfg.data, seed=0)
    # the command line prints it as one line, exit status 2, no traceback
    from click.testing import CliRunner

    from graphfuse.cli import main

    res = CliRunner().invoke(
        main,
        [
            "fit",
            "--config",
            str(ROOT / "configs" / "brca_er.yaml"),
            "--set",
            "tracking.enabled=false",
        ],
    )
    assert res.exit_code == 2 and "pip install SurvSet" in res.output
    assert "Traceback" not in res.output


@needs_survset
def test_gse1992_cohort_and_a_short_fit():
    cfg = load_config(
        ROOT / "configs" / "gse1992_survival.yaml", ["train.epochs=3", "tracking.enabled=false"]
    )
    r = fit(cfg)
    cohort = r.cohort
    assert cohort.n_patients == 124 and int(cohort.obs["event"].sum()) == 35
    assert cohort.modality("expression").n_vars == 15528
    assert cohort.modality("clinical").var_names.tolist() == [
        "er_positive",
        "node_status",
        "grade",
        "age",
        "size",
    ]
    assert r.data.feature_names["expression"].__len__() == 1000  # variance selection
    assert {len(v) for v in r.splits.values()} == {74, 25} and np.isfinite(r.risk).all()
    assert 0 <= r.metrics["test"]["c_index"] <= 1


def test_survival_config_round_trips(tmp_path):
    cfg = load_config(ROOT / "configs" / "gse1992_survival.yaml")
    assert cfg.task == "survival" and cfg.data.survset.omics == {"expression": "num_HS_"}
    again = tmp_path / "again.yaml"
    again.write_text(cfg.to_yaml())
    assert load_config(again).to_dict() == cfg.to_dict()
    assert list(cfg.to_dict())[:3] == ["seed", "task", "data"]


def _er_table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "pid": [f"P{i}" for i in range(6)],
            "time": [5.0, 7.0, 2.0, 3.0, 4.0, 9.0],
            "event": [1, 0, 1, 0, 1, 0],
            "fac_er_positive": ["1", "0", "missing", "1", "0", "1"],
            "num_age": [50.0, 60.0, 55.0, 40.0, 70.0, 65.0],
            "num_HS_ESR1": [3.0, 0.5, 2.0, 3.1, 0.4, 2.9],
            "num_HS_GATA3": [1.0, 0.1, 0.8, 1.1, 0.2, 0.9],
        }
    )


def test_survset_label_is_the_target_and_leaves_the_features():
    from graphfuse.data._survset import read_survset

    with pytest.warns(UserWarning, match=r"1 of 6 patient\(s\) have no label.*P2"):
        cohort = read_survset(
            _er_table(),
            omics={"expression": "num_HS_"},
            drop=["ESR1"],  # a gene symbol of an omics column
            label="fac_er_positive",
            classes=["0", "1"],
        )
    assert cohort.n_patients == 5
    assert cohort.target == "er_positive"
    assert cohort.classes == ["0", "1"] and cohort.y.tolist() == [1, 0, 1, 0, 1]
    assert cohort.modality("expression").var["gene"].tolist() == ["GATA3"]
    assert "er_positive" not in cohort.modality("clinical").var_names


def test_survset_label_refuses_unknown_values_and_drop_names():
    from graphfuse.data._survset import read_survset

    table = _er_table().assign(fac_er_positive=["1", "0", "2", "1", "0", "1"])
    with pytest.raises(DataError, match=r"value\(s\) \['2'\] are not among"):
        read_survset(
            table, omics={"expression": "num_HS_"}, label="fac_er_positive", classes=["0", "1"]
        )
    with pytest.raises(DataError, match=r"ESR2.*neither a column nor the gene symbol"):
        read_survset(_er_table(), omics={"expression": "num_HS_"}, drop=["ESR2"])
    with pytest.raises(DataError, match="no such column"):
        read_survset(_er_table(), omics={"expression": "num_HS_"}, label="fac_er")
