import anndata as ad
import numpy as np
import pandas as pd
import pytest

from graphfuse.data import Cohort, Preprocessor
from graphfuse.errors import DataError


def test_statistics_come_from_training_patients_only(cohort, splits):
    train = splits["train"]
    pre = Preprocessor().fit(cohort, train)
    mats = pre.transform(cohort)
    x = mats["expression"].x
    assert np.allclose(x[train].mean(axis=0), 0, atol=1e-4)
    assert np.allclose(x[train].std(axis=0), 1, atol=1e-3)
    # the held-out patients are transformed, not refitted: their mean is not forced to 0
    assert not np.allclose(x[splits["test"]].mean(axis=0), 0, atol=1e-3)
    # changing a test patient's values changes nothing fitted
    changed = Preprocessor().fit(cohort, train)
    assert all(
        np.array_equal(pre.fitted_[m].mean, changed.fitted_[m].mean) for m in cohort.modalities
    )


def test_missing_rows_stay_nan_and_clinical_gaps_get_indicators(cohort, splits):
    mats = Preprocessor().fit(cohort, splits["train"]).transform(cohort)
    avail = cohort.availability
    for m, mat in mats.items():
        assert np.isnan(mat.x[~avail[m].to_numpy()]).all()
        assert not np.isnan(mat.x[avail[m].to_numpy()]).any()
    clin = mats["clinical"]
    indicators = [f for f in clin.features if f.endswith("__missing")]
    assert indicators  # 5 % of clinical values are missing in the synthetic cohort
    raw = cohort.matrix("clinical")
    col = clin.features.index(indicators[0])
    src = list(cohort.modality("clinical").var_names).index(indicators[0].removesuffix("__missing"))
    assert np.array_equal(clin.x[:, col] == 1, np.isnan(raw[:, src]))


def _cohort_with(values: np.ndarray) -> Cohort:
    ids = [f"p{i}" for i in range(len(values))]
    var = pd.DataFrame({"gene": ["G0", "G1"]}, index=["f0", "f1"])
    obs = pd.DataFrame({"label": ["AD", "CN"] * (len(ids) // 2)}, index=ids)
    mod = ad.AnnData(values.astype(np.float32), obs=pd.DataFrame(index=ids), var=var)
    return Cohort.from_modalities({"rna": mod}, obs, kinds={"rna": "omics"})


def test_missing_values_without_imputation_name_the_patient():
    values = np.arange(12, dtype=float).reshape(6, 2)
    values[3, 1] = np.nan
    with pytest.raises(DataError, match=r"'rna', feature 'f1', patient 'p3'.*missing.*impute"):
        Preprocessor(impute="none").fit(_cohort_with(values), np.arange(6))


def test_infinite_values_are_an_error():
    values = np.arange(12, dtype=float).reshape(6, 2)
    values[2, 0] = np.inf
    with pytest.raises(DataError, match=r"feature 'f0', patient 'p2'.*infinite"):
        Preprocessor().fit(_cohort_with(values), np.arange(6))


def test_constant_features_dropped_with_warning():
    values = np.column_stack([np.ones(6), np.arange(6.0)])
    with pytest.warns(UserWarning, match=r"dropping 1 feature.*'f0'"):
        pre = Preprocessor().fit(_cohort_with(values), np.arange(6))
    assert pre.transform(_cohort_with(values))["rna"].features == ["f1"]
    assert pre.dropped_ == {"rna": ["f0"]}
