"""Property-based: any table a user could write either is refused with a graphfuse error or
becomes a cohort whose model inputs are all finite — never another library's exception, never
a non-finite value reaching a model.

Tables are drawn cell by cell (numbers of every magnitude, missing markers, stray text,
unicode, blank and duplicated patient ids), written as the user's files (CSV, TSV, Parquet),
and sent through the readers, the cohort builder, the leakage checks and the preprocessor
fitted on training patients only.
"""

from __future__ import annotations

import tempfile
import unicodedata
import warnings
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphfuse.data import Cohort, Preprocessor, cohort_from_modalities, read_labels, read_modality
from graphfuse.data._leakage import check_target_leakage
from graphfuse.errors import GraphfuseError

SETTINGS = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,  # the same inputs on every run: a failure reproduces
    database=None,  # nothing written into the repository (.hypothesis/)
)

# numbers a spreadsheet or an instrument may write, up to the edges of float64
NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.floats(min_value=-1e6, max_value=1e6),
    st.sampled_from([0.0, -0.0, 1e-320, 3.4e38, 3.5e38, -1e38, 1e300, 1e308]),
    st.integers(min_value=-(2**70), max_value=2**70),
)
TEXT = st.one_of(
    st.sampled_from(
        ["", " ", "NA", "nan", "NaN", "null", "unknown", "seventy", "1e309", "-inf", "1,5", "n/a "]
    ),
    st.text(min_size=0, max_size=6),
)
CELL = st.one_of(NUMBERS, NUMBERS, NUMBERS, TEXT, st.none())
IDS = st.one_of(
    st.from_regex(r"P[0-9]{1,3}", fullmatch=True),
    st.sampled_from(["", " ", "Zoë", unicodedata.normalize("NFD", "Zoë"), "007", "7", "P1 "]),
)


@st.composite
def tables(draw: Any, *, kind: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(feature table with a ``pid`` column, labels table with ``pid`` and ``dx``)."""
    n = draw(st.integers(min_value=2, max_value=24))
    ids = draw(st.lists(IDS, min_size=n, max_size=n))
    if draw(st.integers(0, 4)):  # mostly clean ids and labels: the rest gets exercised too
        ids = [f"P{i:03d}" for i in range(n)]
    n_cols = draw(st.integers(min_value=1, max_value=5))
    columns: dict[str, list[Any]] = {}
    for j in range(n_cols):
        style = draw(st.sampled_from(["clean"] * 4 + ["numbers", "numbers", "cells", "text"]))
        if style == "clean":
            cells = draw(st.lists(st.floats(-1e3, 1e3), min_size=n, max_size=n))
        elif style == "numbers":  # every magnitude, some missing, no text
            cells = draw(st.lists(st.one_of(NUMBERS, st.none()), min_size=n, max_size=n))
        elif style == "text" and kind == "clinical":
            cells = draw(st.lists(st.sampled_from(["F", "M", "X", None]), min_size=n, max_size=n))
        else:
            cells = draw(st.lists(CELL, min_size=n, max_size=n))
        columns[f"f{j}"] = cells
    features = pd.DataFrame({"pid": ids, **columns})
    dx = draw(st.lists(st.sampled_from(["AD", "CN", "AD ", None]), min_size=n, max_size=n))
    if draw(st.integers(0, 4)):
        dx = ["AD" if i % 2 else "CN" for i in range(n)]
    labels = pd.DataFrame({"pid": ids, "dx": dx})
    return features, labels


def _write(table: pd.DataFrame, folder: Path, name: str, fmt: str) -> Path:
    path = folder / f"{name}.{fmt}"
    if fmt == "parquet":
        table.astype(object).astype(str).where(table.notna(), None).to_parquet(path)
    else:
        table.to_csv(path, index=False, sep="\t" if fmt == "tsv" else ",")
    return path


def _cohort_or_refusal(features: pd.DataFrame, labels: pd.DataFrame, kind: str, fmt: str):
    """The cohort read from these files, or None when graphfuse refused them."""
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # warnings are allowed outcomes; errors are checked
        folder = Path(tmp)
        try:
            table = read_labels(
                _write(labels, folder, "labels", "csv"), id_column="pid", target="dx"
            )
            modality = read_modality(
                _write(features, folder, "features", fmt), name="m", kind=kind, id_column="pid"
            )
            cohort = cohort_from_modalities(table, {"m": modality}, target="dx")
            check_target_leakage(cohort)
        except GraphfuseError:
            return None
    return cohort


def _assert_model_inputs_finite_or_refused(cohort: Cohort) -> None:
    n = cohort.n_patients
    train = np.arange(max(1, int(0.7 * n)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            mats = Preprocessor().fit(cohort, train).transform(cohort)
        except GraphfuseError:
            return
    for name, mat in mats.items():
        x = mat.x[mat.available]
        assert np.isfinite(x).all(), f"modality {name}: non-finite model input {x}"
        assert mat.x.dtype == np.float32


@SETTINGS
@given(data=tables(kind="omics"), fmt=st.sampled_from(["csv", "tsv", "parquet"]))
def test_any_omics_table_is_refused_or_gives_finite_model_inputs(data, fmt):
    cohort = _cohort_or_refusal(*data, kind="omics", fmt=fmt)
    if cohort is not None:
        _assert_model_inputs_finite_or_refused(cohort)


@SETTINGS
@given(data=tables(kind="clinical"), fmt=st.sampled_from(["csv", "parquet"]))
def test_any_clinical_table_is_refused_or_gives_finite_model_inputs(data, fmt):
    cohort = _cohort_or_refusal(*data, kind="clinical", fmt=fmt)
    if cohort is not None:
        _assert_model_inputs_finite_or_refused(cohort)


@SETTINGS
@given(
    x=st.lists(
        st.lists(st.floats(width=32, allow_infinity=False), min_size=3, max_size=3),
        min_size=6,
        max_size=20,
    ),
    scale=st.booleans(),
    impute=st.sampled_from(["median", "none"]),
)
def test_any_float32_matrix_is_refused_or_preprocessed_to_finite_values(x, scale, impute):
    x = np.asarray(x, dtype=np.float32)
    ids = [f"P{i:02d}" for i in range(len(x))]
    obs = pd.DataFrame({"dx": ["AD", "CN"] * (len(x) // 2) + ["AD"] * (len(x) % 2)}, index=ids)
    rna = ad.AnnData(x, obs=pd.DataFrame(index=ids))
    rna.var_names = ["g0", "g1", "g2"]
    rna.var["gene"] = ["APOE", "APP", "MAPT"]
    cohort = Cohort.from_modalities({"rna": rna}, obs, kinds={"rna": "omics"}, target="dx")
    train = np.arange(len(x) - 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            mats = Preprocessor(scale=scale, impute=impute).fit(cohort, train).transform(cohort)
        except GraphfuseError:
            return
    assert np.isfinite(mats["rna"].x).all()
