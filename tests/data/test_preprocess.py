import json

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scanpy as sc

from graphfuse.config import PreprocessConfig, load_config
from graphfuse.data import Cohort, Preprocessor
from graphfuse.errors import ConfigError, DataError

# ----------------------------------------------------------------------------- helpers

N = 40
TRAIN = np.arange(0, 24)
HELD_OUT = np.arange(24, N)


def build(
    mods: dict[str, tuple[np.ndarray, pd.DataFrame, str]],
    labels: np.ndarray,
    has: dict[str, np.ndarray] | None = None,
) -> Cohort:
    """A cohort from full patients x features matrices; ``has`` masks who has a modality."""
    ids = np.array([f"p{i:02d}" for i in range(len(labels))])
    tables, kinds = {}, {}
    for name, (x, var, kind) in mods.items():
        keep = (has or {}).get(name, np.ones(len(ids), dtype=bool))
        obs = pd.DataFrame(index=ids[keep])
        tables[name] = ad.AnnData(x[keep].astype(np.float32), obs=obs, var=var.copy())
        kinds[name] = kind
    obs = pd.DataFrame(
        {"label": pd.Categorical.from_codes(labels, categories=["CN", "AD"])}, index=ids
    )
    return Cohort.from_modalities(tables, obs, kinds=kinds)


def genes(n: int, prefix: str = "g") -> pd.DataFrame:
    names = [f"{prefix}{i:03d}" for i in range(n)]
    return pd.DataFrame({"gene": names}, index=names)


def counts(rng: np.random.Generator, n_genes: int = 200) -> np.ndarray:
    mean = rng.lognormal(2.0, 1.0, n_genes)
    return rng.poisson(mean * rng.uniform(0.5, 2.0, (N, 1)), (N, n_genes)).astype(np.float32)


CLIN_VAR = pd.DataFrame(
    {
        "type": ["numeric", "binary", "ordinal", "categorical"],
        "categories": ["", "M|F", "I|II|III", "CN|MCI|AD|OTHER"],
    },
    index=["age", "sex", "stage", "diagnosis"],
)


def clinical(rng: np.random.Generator) -> np.ndarray:
    x = np.column_stack(
        [
            rng.normal(70, 8, N),
            rng.integers(0, 2, N),
            rng.integers(0, 3, N),
            rng.integers(0, 3, N),  # OTHER (code 3) never occurs in these rows
        ]
    ).astype(np.float32)
    x[[1, 5], 0] = np.nan
    x[3, 1] = np.nan
    x[[2, 7, 30], 3] = np.nan
    return x


def mixed_cohort(seed: int = 0) -> Cohort:
    rng = np.random.default_rng(seed)
    labels = np.tile([0, 1], N // 2)
    has_img = np.ones(N, dtype=bool)
    has_img[[4, 9, 33]] = False
    return build(
        {
            "rna": (counts(rng), genes(200), "omics"),
            "meth": (rng.uniform(0.05, 0.95, (N, 60)), genes(60, "cg"), "omics"),
            "img": (rng.normal(1000, 100, (N, 12)), genes(12, "r"), "imaging"),
            "clin": (clinical(rng), CLIN_VAR, "clinical"),
        },
        labels,
        has={"img": has_img},
    )


FULL = {
    "omics": {
        "rna": {"normalize_total": True, "log1p": True, "select": {"method": "hvg", "n": 30}},
        "meth": {"select": {"method": "anova", "n": 10}},
    }
}


def state(pre: Preprocessor) -> dict:
    """Every fitted (trailing-underscore) attribute of every modality's pipeline."""
    return {
        name: {k: v for k, v in vars(pipe).items() if k.endswith("_") and not k.startswith("_")}
        for name, pipe in pre.fitted_.items()
    }


def assert_same(a, b, where="") -> None:
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            assert_same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, pd.Series):
        pd.testing.assert_series_equal(a, b, obj=where)
    elif isinstance(a, np.ndarray):
        assert np.array_equal(a, b, equal_nan=True), where
    else:
        assert a == b, where


def with_held_out_changed(cohort: Cohort, rng: np.random.Generator) -> Cohort:
    """The same cohort with held-out patients' values and labels replaced."""
    mods = {}
    for name in cohort.modalities:
        x = cohort.matrix(name)
        a = cohort.modality(name)
        if cohort.kinds[name] == "clinical":
            x[HELD_OUT, 0] = rng.normal(30, 1, len(HELD_OUT))  # much younger
            x[HELD_OUT, 3] = 3.0  # a category training patients never had
        else:
            x[HELD_OUT] = x[HELD_OUT] * rng.uniform(5, 50, (len(HELD_OUT), x.shape[1]))
        mods[name] = (x, a.var, cohort.kinds[name])
    labels = cohort.y.copy()
    labels[HELD_OUT] = 1 - labels[HELD_OUT]
    has = {m: cohort.availability[m].to_numpy() for m in cohort.modalities}
    return build(mods, labels, has)


# ----------------------------------------------------------------------------- no leakage


def test_statistics_come_from_training_patients_only(cohort, splits):
    train = splits["train"]
    pre = Preprocessor().fit(cohort, train)
    x = pre.transform(cohort)["expression"].x
    assert np.allclose(x[train].mean(axis=0), 0, atol=1e-4)
    assert np.allclose(x[train].std(axis=0), 1, atol=1e-3)
    # the held-out patients are transformed, not refitted: their mean is not forced to 0
    assert not np.allclose(x[splits["test"]].mean(axis=0), 0, atol=1e-3)


def test_held_out_values_and_labels_change_nothing_fitted():
    cohort = mixed_cohort()
    changed = with_held_out_changed(cohort, np.random.default_rng(1))
    assert not np.array_equal(cohort.y, changed.y)
    a = Preprocessor(**FULL).fit(cohort, TRAIN)
    b = Preprocessor(**FULL).fit(changed, TRAIN)
    sa, sb = state(a), state(b)
    # what the brief names explicitly, then everything else fitted
    assert sa["rna"]["scores_"].size and sa["meth"]["scores_"].size
    assert sa["clin"]["categories_"] == {"diagnosis": ["CN", "MCI", "AD"]}
    assert_same(sa, sb)
    assert a.summary() == b.summary()
    # training patients' outputs are identical (the held-out category triggers a warning)
    ta = a.transform(cohort)
    with pytest.warns(UserWarning, match=r"16 patient\(s\) with a category not seen.*'OTHER'"):
        tb = b.transform(changed)
    for m in ta:
        assert np.array_equal(ta[m].x[TRAIN], tb[m].x[TRAIN], equal_nan=True)
        assert ta[m].features == tb[m].features


def test_anova_selection_reads_training_labels_only():
    rng = np.random.default_rng(3)
    labels = np.tile([0, 1], N // 2)
    x = rng.normal(0, 1, (N, 6))
    x[TRAIN, 0] += 1.5 * labels[TRAIN]  # informative among training patients
    x[HELD_OUT, 5] += 40.0 * labels[HELD_OUT]  # informative among held-out patients only
    cohort = build({"m": (x, genes(6), "omics")}, labels)
    from sklearn.feature_selection import f_classif

    assert np.argmax(f_classif(x, labels)[0]) == 5  # all labels would choose feature 5
    pre = Preprocessor(omics={"m": {"select": {"method": "anova", "n": 1}}}).fit(cohort, TRAIN)
    assert pre.fitted_["m"].features_out_ == ["g000"]
    f_train = f_classif(x[TRAIN], labels[TRAIN])[0]
    assert np.allclose(pre.fitted_["m"].scores_.to_numpy(), f_train, rtol=1e-4)
    flipped = labels.copy()
    flipped[HELD_OUT] = 1 - flipped[HELD_OUT]
    again = Preprocessor(omics={"m": {"select": {"method": "anova", "n": 1}}})
    again.fit(build({"m": (x, genes(6), "omics")}, flipped), TRAIN)
    pd.testing.assert_series_equal(pre.fitted_["m"].scores_, again.fitted_["m"].scores_)


# ----------------------------------------------------------------------------- omics steps


def test_omics_steps_are_off_by_default():
    cohort = mixed_cohort()
    pipe = Preprocessor().fit(cohort, TRAIN).fitted_["rna"]
    assert [s["step"] for s in pipe.steps_] == ["impute", "drop_constant", "scale"]
    raw = cohort.matrix("rna")[:, pipe.columns_]
    mean, std = raw[TRAIN].mean(axis=0), raw[TRAIN].std(axis=0)
    out = pipe.transform(cohort.matrix("rna"))
    assert np.allclose(out, (raw - mean) / std, atol=1e-4)


def test_normalize_total_makes_rows_sum_to_the_target():
    cohort = mixed_cohort()
    opts = {"normalize_total": 1000.0, "scale": False}
    pre = Preprocessor(omics={"rna": opts}).fit(cohort, TRAIN)
    x = pre.transform(cohort)["rna"].x
    assert x.shape[1] == 200
    assert np.allclose(x.sum(axis=1), 1000.0, rtol=1e-4)  # per patient: held-out rows too
    assert pre.fitted_["rna"].target_sum_ == 1000.0
    # true: the target is the median total of training patients, one fitted number
    pre = Preprocessor(omics={"rna": {"normalize_total": True, "scale": False}}).fit(cohort, TRAIN)
    median = float(np.median(cohort.matrix("rna")[TRAIN].sum(axis=1)))
    assert pre.fitted_["rna"].target_sum_ == pytest.approx(median)
    assert np.allclose(pre.transform(cohort)["rna"].x.sum(axis=1), median, rtol=1e-4)


def test_log1p_and_clip():
    cohort = mixed_cohort()
    pre = Preprocessor(omics={"rna": {"log1p": True, "scale": False}}).fit(cohort, TRAIN)
    raw = cohort.matrix("rna")[:, pre.fitted_["rna"].columns_]
    assert np.allclose(pre.transform(cohort)["rna"].x, np.log1p(raw), atol=1e-5)
    pre = Preprocessor(omics={"rna": {"clip": 1.0}}).fit(cohort, TRAIN)
    x = pre.transform(cohort)["rna"].x
    assert x.max() == 1.0 and x.min() == -1.0


@pytest.mark.parametrize("flavor", ["seurat", "cell_ranger"])
def test_hvg_keeps_n_features_chosen_by_scanpy_on_training_rows(flavor):
    cohort = mixed_cohort()
    opts = {"log1p": True, "select": {"method": "hvg", "n": 30, "flavor": flavor}}
    pre = Preprocessor(omics={"rna": opts}).fit(cohort, TRAIN)
    mat = pre.transform(cohort)["rna"]
    assert mat.x.shape == (N, 30)
    logged = ad.AnnData(np.log1p(cohort.matrix("rna")[TRAIN]), var=genes(200))
    table = sc.pp.highly_variable_genes(logged, flavor=flavor, n_top_genes=30, inplace=False)
    top = table["dispersions_norm"].sort_values(ascending=False, kind="stable").index[:30]
    assert mat.features == sorted(top)
    assert len(pre.summary()["rna"]["dropped"]["not_selected"]) == 170


def test_variance_selection_keeps_largest_training_variance():
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, (N, 8)) * np.arange(1, 9)
    x[HELD_OUT, 0] *= 100  # huge variance among held-out patients only
    cohort = build({"m": (x, genes(8), "omics")}, np.tile([0, 1], N // 2))
    pre = Preprocessor(omics={"m": {"select": {"method": "variance", "n": 3}}}).fit(cohort, TRAIN)
    assert pre.fitted_["m"].features_out_ == ["g005", "g006", "g007"]
    # n above the number of features keeps all
    pre = Preprocessor(omics={"m": {"select": {"method": "variance", "n": 50}}}).fit(cohort, TRAIN)
    assert len(pre.fitted_["m"].features_out_) == 8


def test_log1p_of_negative_values_is_an_error():
    x = np.random.default_rng(0).normal(0, 1, (N, 4))
    cohort = build({"m": (x, genes(4), "omics")}, np.tile([0, 1], N // 2))
    with pytest.raises(DataError, match=r"'m': log1p needs non-negative values.*'g00"):
        Preprocessor(omics={"m": {"log1p": True}}).fit(cohort, TRAIN)


def test_imaging_scaling_is_optional():
    cohort = mixed_cohort()
    raw = cohort.matrix("img")
    x = Preprocessor(imaging={"scale": False}).fit(cohort, TRAIN).transform(cohort)["img"].x
    assert np.array_equal(x, raw, equal_nan=True)
    x = Preprocessor().fit(cohort, TRAIN).transform(cohort)["img"].x
    has = cohort.availability["img"].to_numpy()
    rows = TRAIN[has[TRAIN]]
    assert np.allclose(x[rows].mean(axis=0), 0, atol=1e-4)


# ----------------------------------------------------------------------------- clinical


def test_clinical_encoding_by_type():
    cohort = mixed_cohort()
    pre = Preprocessor().fit(cohort, TRAIN)
    mat = pre.transform(cohort)["clin"]
    assert mat.features == [
        "age",
        "sex",
        "stage",
        "diagnosis=CN",
        "diagnosis=MCI",
        "diagnosis=AD",
        "age__missing",
        "sex__missing",
        "diagnosis__missing",
    ]
    raw = cohort.matrix("clin")
    col = {f: mat.x[:, i] for i, f in enumerate(mat.features)}
    seen = ~np.isnan(raw[:, 3])
    onehot = np.column_stack([col[f"diagnosis={c}"] for c in ("CN", "MCI", "AD")])
    assert np.array_equal(onehot[seen].argmax(axis=1), raw[seen, 3])  # one-hot values
    assert (onehot.sum(axis=1) == 1).all()
    assert set(np.unique(col["sex"])) == {0.0, 1.0}  # binary kept 0/1, not scaled
    stage = raw[:, 2]
    assert np.array_equal(np.argsort(col["stage"], kind="stable"), np.argsort(stage, kind="stable"))
    assert np.isclose(col["stage"][TRAIN].mean(), 0, atol=1e-5)  # ordinal: scaled, in order
    assert np.isclose(col["age"][TRAIN].std(), 1, atol=1e-4)
    # indicators mark the missing values; the fill is the training median / mode
    assert np.array_equal(col["age__missing"] == 1, np.isnan(raw[:, 0]))
    assert np.array_equal(col["diagnosis__missing"] == 1, np.isnan(raw[:, 3]))
    fit = pre.fitted_["clin"]
    assert fit.fill_["age"] == np.nanmedian(raw[TRAIN, 0])
    codes, n = np.unique(raw[TRAIN, 3][~np.isnan(raw[TRAIN, 3])], return_counts=True)
    assert fit.fill_["diagnosis"] == codes[np.argmax(n)]
    assert col[f"diagnosis={['CN', 'MCI', 'AD'][int(codes[np.argmax(n)])]}"][30] == 1
    assert not np.isnan(mat.x).any()


def test_clinical_without_type_column_is_all_numeric():
    x = np.random.default_rng(0).normal(0, 1, (N, 3))
    var = pd.DataFrame(index=["a", "b", "c"])
    cohort = build({"c": (x, var, "clinical")}, np.tile([0, 1], N // 2))
    pre = Preprocessor().fit(cohort, TRAIN)
    assert pre.fitted_["c"].types_.tolist() == ["numeric"] * 3
    assert np.allclose(pre.transform(cohort)["c"].x[TRAIN].std(axis=0), 1, atol=1e-4)


def test_unseen_category_warns_with_count_or_errors():
    cohort = mixed_cohort()
    x = cohort.matrix("clin")
    x[[30, 31, 35], 3] = 3.0  # OTHER: never among training patients
    changed = build({"clin": (x, CLIN_VAR, "clinical")}, cohort.y)
    pre = Preprocessor().fit(changed, TRAIN)
    with pytest.warns(UserWarning, match=r"'diagnosis': 3 patient\(s\) with a category not seen"):
        mat = pre.transform(changed)["clin"]
    block = [i for i, f in enumerate(mat.features) if f.startswith("diagnosis=")]
    assert (mat.x[[30, 31, 35]][:, block] == 0).all()
    strict = Preprocessor(clinical={"unseen": "error"}).fit(changed, TRAIN)
    with pytest.raises(DataError, match=r"'diagnosis': 3 patient.*\['OTHER'\]"):
        strict.transform(changed)


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("type", "text", r"var\['type'\] is 'text', expected one of"),
        ("categories", "", r"'diagnosis': categorical, but var\['categories'\]"),
    ],
)
def test_clinical_contract_violations_name_the_feature(column, value, message):
    var = CLIN_VAR.copy()
    var.loc["diagnosis", column] = value
    x = clinical(np.random.default_rng(0))
    cohort = build({"clin": (x, var, "clinical")}, np.tile([0, 1], N // 2))
    with pytest.raises(DataError, match=message):
        Preprocessor().fit(cohort, TRAIN)


def test_clinical_codes_outside_their_categories_are_an_error():
    x = clinical(np.random.default_rng(0))
    x[0, 1] = 2.0
    cohort = build({"clin": (x, CLIN_VAR, "clinical")}, np.tile([0, 1], N // 2))
    with pytest.raises(DataError, match=r"'sex': binary values must be 0 or 1; found 2"):
        Preprocessor().fit(cohort, TRAIN)


def test_single_category_and_constant_columns_dropped_with_warning():
    x = clinical(np.random.default_rng(0))
    x[:, 3] = 1.0
    x[:, 1] = 0.0
    cohort = build({"clin": (x, CLIN_VAR, "clinical")}, np.tile([0, 1], N // 2))
    with pytest.warns(UserWarning, match=r"dropping 2 feature.*\['sex', 'diagnosis'\]"):
        pre = Preprocessor().fit(cohort, TRAIN)
    assert pre.dropped_ == {"clin": ["sex", "diagnosis"]}
    assert pre.transform(cohort)["clin"].features == ["age", "stage", "age__missing"]


# ----------------------------------------------------------------------------- shared rules


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


def test_missing_rows_stay_nan_with_every_step_on():
    cohort = mixed_cohort()
    mats = Preprocessor(**FULL).fit(cohort, TRAIN).transform(cohort)
    has = cohort.availability["img"].to_numpy()
    assert np.isnan(mats["img"].x[~has]).all() and not np.isnan(mats["img"].x[has]).any()
    assert not np.isnan(mats["rna"].x).any()


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


def test_constant_and_unobserved_features_dropped_with_warning():
    values = np.column_stack([np.ones(6), np.arange(6.0)])
    with pytest.warns(UserWarning, match=r"dropping 1 feature.*\['f0'\]"):
        pre = Preprocessor().fit(_cohort_with(values), np.arange(6))
    assert pre.transform(_cohort_with(values))["rna"].features == ["f1"]
    assert pre.dropped_ == {"rna": ["f0"]}
    values = np.column_stack([np.arange(6.0), np.arange(6.0) ** 2])
    values[:4, 0] = np.nan  # observed among held-out patients only
    with pytest.warns(UserWarning, match=r"dropping 1 feature.*\['f0'\]"):
        pre = Preprocessor().fit(_cohort_with(values), np.arange(4))
    assert pre.summary()["rna"]["dropped"] == {"never_observed": ["f0"]}


def test_summary_is_json_ready_and_records_the_steps():
    cohort = mixed_cohort()
    pre = Preprocessor(**FULL).fit(cohort, TRAIN)
    summary = json.loads(json.dumps(pre.summary()))
    rna = summary["rna"]
    assert [s["step"] for s in rna["steps"]] == [
        "impute",
        "normalize_total",
        "log1p",
        "drop_constant",
        "select",
        "scale",
    ]
    assert rna["steps"][1]["target_from"] == "training median"
    assert (rna["n_features_in"], rna["n_features_out"], rna["n_fit_patients"]) == (200, 30, 24)
    assert summary["meth"]["steps"][2] == {
        "step": "select",
        "method": "anova",
        "n": 10,
        "kept": 10,
    }
    assert summary["img"]["kind"] == "imaging" and summary["clin"]["kind"] == "clinical"
    assert summary["clin"]["steps"][1]["one_hot"] == {"diagnosis": ["CN", "MCI", "AD"]}


def test_transform_checks():
    cohort = mixed_cohort()
    with pytest.raises(RuntimeError, match="before fit"):
        Preprocessor().transform(cohort)
    rna = cohort.modality("rna")
    pre = Preprocessor().fit(cohort.select(["rna"]), TRAIN)
    fewer = build({"rna": (cohort.matrix("rna")[:, :10], rna.var.iloc[:10], "omics")}, cohort.y)
    with pytest.raises(DataError, match=r"'rna': its features differ.*\(10 vs 200"):
        pre.transform(fewer)


# ----------------------------------------------------------------------------- config


def test_config_section_builds_the_same_preprocessor(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text(
        "data:\n  preprocess:\n    omics:\n      rna: {normalize_total: true, log1p: true,"
        " select: {method: hvg, n: 30}}\n      meth: {select: {method: anova, n: 10}}\n"
    )
    cfg = load_config(path).data.preprocess
    cohort = mixed_cohort()
    a = Preprocessor.from_config(cfg).fit(cohort, TRAIN)
    b = Preprocessor(**FULL).fit(cohort, TRAIN)
    assert a.summary() == b.summary()
    assert PreprocessConfig().model_dump()["omics"] == {}  # every step opt-in


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        (
            "omics: {rna: {log1: true}}",
            r"data\.preprocess\.omics\.rna\.log1: unknown key; valid keys here: clip, log1p,",
        ),
        (
            "omics: {rna: {select: {method: pca, n: 5}}}",
            r"data\.preprocess\.omics\.rna\.select\.method: Input should be 'hvg', 'variance'",
        ),
        (
            "omics: {rna: {select: {method: anova, n: 5, flavor: seurat}}}",
            r"omics\.rna\.select\.flavor: .*applies to method 'hvg' only",
        ),
        ("omics: {rna: {select: {method: hvg, n: 0}}}", r"omics\.rna\.select\.n: .*1"),
        ("omics: {rna: {normalize_total: -5}}", r"omics\.rna\.normalize_total: .*> 0"),
        ("clinical: {unseen: drop}", r"data\.preprocess\.clinical\.unseen: .*'warn' or 'error'"),
        ("imaging: {scal: false}", r"data\.preprocess\.imaging\.scal: unknown key.*scale"),
    ],
)
def test_config_errors_name_the_key(tmp_path, yaml_text, message):
    path = tmp_path / "exp.yaml"
    path.write_text(f"data:\n  preprocess: {{{yaml_text}}}\n")
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_options_from_python_are_validated_and_checked_against_the_cohort():
    with pytest.raises(ConfigError, match=r"preprocess\.omics\.rna\.selec: unknown key"):
        Preprocessor(omics={"rna": {"selec": {"method": "hvg", "n": 3}}})
    cohort = mixed_cohort()
    with pytest.raises(ConfigError, match=r"omics\.img: modality 'img' is imaging, not omics"):
        Preprocessor(omics={"img": {"log1p": True}}).fit(cohort, TRAIN)
    with pytest.warns(UserWarning, match=r"modalities not in the cohort \['rnaa'\]"):
        Preprocessor(omics={"rnaa": {"log1p": True}}).fit(cohort, TRAIN)
