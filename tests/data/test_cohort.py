import anndata as ad
import numpy as np
import pandas as pd
import pytest

from graphfuse.data import Cohort
from graphfuse.errors import DataError


def table(ids, n_features=3, prefix="f", genes=True):
    var = pd.DataFrame(index=[f"{prefix}{i}" for i in range(n_features)])
    if genes:
        var["gene"] = [f"G{i}" for i in range(n_features)]
    x = np.arange(len(ids) * n_features, dtype=np.float32).reshape(len(ids), n_features)
    return ad.AnnData(x, obs=pd.DataFrame(index=ids), var=var)


OBS = pd.DataFrame({"label": ["AD", "CN", "AD", "CN"]}, index=["a", "b", "c", "d"])


def test_from_modalities_builds_mask_and_nan_rows():
    c = Cohort.from_modalities(
        {"rna": table(list("abcd")), "img": table(["a", "c"], 2, "r", genes=False)},
        OBS,
        kinds={"rna": "omics", "img": "imaging"},
    )
    assert c.availability.to_dict("list") == {
        "rna": [True, True, True, True],
        "img": [True, False, True, False],
    }
    x = c.matrix("img")
    assert np.isnan(x[[1, 3]]).all() and not np.isnan(x[[0, 2]]).any()
    assert c.classes == ["AD", "CN"] and c.y.tolist() == [0, 1, 0, 1]
    assert "img (imaging, 2 features, 50% of patients)" in repr(c)


def test_select_drops_modalities_and_patients_left_with_none():
    c = Cohort.from_modalities(
        {"rna": table(list("abc")), "img": table(list("bcd"), 2, "r", genes=False)},
        OBS,
        kinds={"rna": "omics", "img": "imaging"},
    )
    only = c.select(["rna"])
    assert only.modalities == ["rna"] and list(only.patients) == ["a", "b", "c"]
    with pytest.raises(DataError, match="unknown modality 'x'"):
        c.select(["x"])


@pytest.mark.parametrize(
    ("mods", "obs", "kinds", "message"),
    [
        ({"rna": table(list("abcz"))}, OBS, {"rna": "omics"}, r"not in the patient table.*'z'"),
        ({"rna": table(list("abc"))}, OBS, {"rna": "omics"}, r"have no modality.*'d'"),
        ({"rna": table(list("abcd"), genes=False)}, OBS, {"rna": "omics"}, r"var\['gene'\]"),
        ({"rna": table(list("abcd"))}, OBS, {"rna": "xray"}, "expected one of"),
        (
            {"rna": table(list("abcd"))},
            OBS.assign(label="AD"),
            {"rna": "omics"},
            "one class only",
        ),
        (
            {"rna": table(list("abcd"))},
            OBS.assign(label=["AD", None, "CN", "AD"]),
            {"rna": "omics"},
            r"missing for patients \['b'\]",
        ),
    ],
)
def test_bad_cohorts_are_named(mods, obs, kinds, message):
    with pytest.raises(DataError, match=message):
        Cohort.from_modalities(mods, obs, kinds=kinds)


def test_write_read_round_trip(tmp_path, cohort):
    path = tmp_path / "cohort.h5mu"
    cohort.write(path)
    again = Cohort.read(path)
    assert again.fingerprint() == cohort.fingerprint()
    assert again.classes == cohort.classes
    assert again.availability.equals(cohort.availability)
    assert list(again.truth["pathways"]) == list(cohort.truth["pathways"])


def test_hide_removes_a_modality_for_some_patients_only(cohort):
    gone = cohort.patients[cohort.availability["expression"].to_numpy()][:5]
    hidden = cohort.hide("expression", gone)
    avail = hidden.availability
    assert not avail.loc[gone, "expression"].any()
    assert avail.drop(index=gone).equals(cohort.availability.drop(index=gone))
    assert np.isnan(hidden.matrix("expression")[cohort.patients.isin(gone)]).all()
    assert np.array_equal(hidden.y, cohort.y)
    keep = ~cohort.patients.isin(gone)
    assert np.array_equal(hidden.matrix("expression")[keep], cohort.matrix("expression")[keep])
    assert cohort.availability.loc[gone, "expression"].all(), "the original is untouched"


def test_hide_refuses_unknown_patients_and_stranded_patients():
    rna = table(list("abcd"))
    img = table(list("ab"), prefix="r", genes=False)
    c = Cohort.from_modalities(
        {"rna": rna, "img": img}, OBS, kinds={"rna": "omics", "img": "imaging"}
    )
    with pytest.raises(DataError, match=r"unknown patients \['zz'\]"):
        c.hide("rna", ["zz"])
    with pytest.raises(DataError, match=r"\['c'\] would have no modality left"):
        c.hide("rna", ["a", "c"])
    with pytest.raises(DataError, match="unknown modality"):
        c.hide("mri", ["a"])
