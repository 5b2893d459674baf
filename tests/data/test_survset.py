"""A real cohort as two plain tables: GSE1992 breast cancer from the optional SurvSet package.

SurvSet is GPL-licensed, so it is never a graphfuse dependency; this test skips without it.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd
import pytest
import yaml

from graphfuse.config import load_config
from graphfuse.data import load_cohort

survset = pytest.importorskip("SurvSet.data", reason="optional test source: pip install SurvSet")


def test_gse1992_expression_and_clinical_tables(tmp_path, monkeypatch):
    with warnings.catch_warnings():  # SurvSet unpickles with numpy.core names: its deprecation
        warnings.simplefilter("ignore", DeprecationWarning)
        df = survset.SurvLoader().load_dataset("gse1992")["df"]
    expr_cols = [c for c in df.columns if c.startswith("num_HS_")][:300]
    expr = df[["pid", *expr_cols]].rename(columns=lambda c: c.removeprefix("num_"))
    expr.to_csv(tmp_path / "expression.csv.gz", index=False)
    clin_cols = ["fac_er_positive", "fac_node_status", "fac_grade", "num_age", "num_size"]
    clin = df[["pid", *clin_cols]].rename(columns=lambda c: c.split("_", 1)[-1])
    clin.to_csv(tmp_path / "clinical.tsv", sep="\t", index=False)
    df[["pid", "event"]].to_csv(tmp_path / "labels.csv", index=False)
    config = {
        "data": {
            "source": "tables",
            "tables": {
                "labels": "labels.csv",
                "id_column": "pid",
                "target": "event",
                "na_values": ["missing"],
                "modalities": [
                    {
                        "name": "expression",
                        "kind": "omics",
                        "path": "expression.csv.gz",
                        "genes": {"strip_prefix": "HS_"},
                    },
                    {
                        "name": "clinical",
                        "kind": "clinical",
                        "path": "clinical.tsv",
                        "types": {"grade": "ordinal"},
                    },
                ],
            },
        }
    }
    (tmp_path / "gse1992.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.setenv("GRAPHFUSE_DATA", str(tmp_path))
    cohort = load_cohort(load_config(tmp_path / "gse1992.yaml").data, seed=0)
    assert cohort.n_patients == len(df) == 124
    assert cohort.classes == [0, 1]
    var = cohort.modality("expression").var
    assert var["gene"].iloc[0] == expr_cols[0].removeprefix("num_HS_")
    assert var.shape[0] == 300 and var["gene"].notna().all()
    clinical = cohort.modality("clinical").var
    assert clinical["type"].to_dict() == {
        "er_positive": "binary",
        "node_status": "binary",
        "grade": "ordinal",
        "age": "numeric",
        "size": "numeric",
    }
    x = pd.DataFrame(cohort.matrix("clinical"), columns=clinical.index)
    assert x["er_positive"].isin([0, 1]).sum() + x["er_positive"].isna().sum() == 124
    assert x["grade"].isna().any()  # "missing" read as missing


def test_brca_er_config_predicts_er_status_without_esr1():
    config = load_config(Path(__file__).parents[2] / "configs" / "brca_er.yaml")
    with pytest.warns(UserWarning, match=r"2 of 124 patient\(s\) have no label"):
        cohort = load_cohort(config.data, seed=0)
    assert cohort.n_patients == 122
    assert pd.Series(cohort.y).value_counts().to_dict() == {1: 72, 0: 50}
    genes = cohort.modality("expression").var["gene"]
    assert len(genes) == 15_527 and "ESR1" not in set(genes)
    assert "er_positive" not in cohort.modality("clinical").var_names
