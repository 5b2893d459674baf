"""Clinical tables of mixed types -> float codes with var["type"] and var["categories"]."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from graphfuse.data import CLINICAL_TYPES, encode_clinical
from graphfuse.errors import DataError

T = pd.DataFrame(
    {
        "age": [70.0, 81.5, np.nan, 66.0],
        "sex": ["F", "M", "M", None],
        "smoker": [0, 1, 1, 0],
        "alive": [True, False, True, True],
        "stage": ["II", "I", "III", "I"],
        "dx": pd.Categorical(["AD", "CN", "MCI", "CN"], categories=["CN", "MCI", "AD"]),
        "code": ["1", "2", "3", "2"],  # numbers written as text are numbers
    },
    index=["p1", "p2", "p3", "p4"],
)


def test_types_inferred_and_codes_follow_the_contract():
    a = encode_clinical(T)
    assert set(a.var["type"]) <= set(CLINICAL_TYPES)
    assert a.var["type"].to_dict() == {
        "age": "numeric",
        "sex": "binary",
        "smoker": "binary",
        "alive": "binary",
        "stage": "categorical",
        "dx": "categorical",
        "code": "numeric",
    }
    assert a.var["categories"].to_dict() == {
        "age": "",
        "sex": "F|M",
        "smoker": "0|1",
        "alive": "0|1",
        "stage": "I|II|III",
        "dx": "CN|MCI|AD",  # a pandas categorical keeps its order
        "code": "",
    }
    assert a.X.dtype == np.float32
    col = dict(zip(a.var_names, a.X.T, strict=True))
    assert np.isnan(col["age"][2]) and np.isnan(col["sex"][3])
    assert col["dx"].tolist() == [2, 0, 1, 0]
    assert col["alive"].tolist() == [1, 0, 1, 1]


def test_declared_types_and_level_order():
    a = encode_clinical(
        T[["stage", "code"]],
        types={"stage": "ordinal", "code": "categorical"},
        categories={"stage": ["I", "II", "III"]},
    )
    assert a.var["type"].tolist() == ["ordinal", "categorical"]
    assert a.X[:, 0].tolist() == [1, 0, 2, 0]
    assert a.var.loc["code", "categories"] == "1|2|3" and a.X[:, 1].tolist() == [0, 1, 2, 1]


def test_clinical_errors_name_column_and_patient():
    with pytest.raises(DataError, match=r"column 'stage', patient 'p3': value 'III' is not one of"):
        encode_clinical(T[["stage"]], categories={"stage": ["I", "II"]})
    with pytest.raises(DataError, match=r"column 'sex', patient 'p1': value 'F' is not a number"):
        encode_clinical(T[["sex"]], types={"sex": "numeric"})
    with pytest.raises(DataError, match=r"column 'stage': declared or inferred binary"):
        encode_clinical(T[["stage"]], types={"stage": "binary"})
    with pytest.raises(DataError, match=r"names column\(s\) \['weight'\] that the table lacks"):
        encode_clinical(T, types={"weight": "numeric"})
    ids = pd.DataFrame({"note": [f"free text {i}" for i in range(60)]})
    with pytest.raises(DataError, match=r"column 'note': 60 distinct text values"):
        encode_clinical(ids)
    with pytest.raises(DataError, match=r"category 'a\|b' contains '\|'"):
        encode_clinical(pd.DataFrame({"x": ["a|b", "c"]}))
