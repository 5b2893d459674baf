import numpy as np
import pytest
from scipy import stats

from graphfuse.data import make_synthetic_cohort


def test_shapes_kinds_and_gene_maps(cohort):
    assert cohort.modalities == ["expression", "methylation", "imaging", "clinical"]
    assert cohort.kinds == {
        "expression": "omics",
        "methylation": "omics",
        "imaging": "imaging",
        "clinical": "clinical",
    }
    assert cohort.n_patients == 48
    assert cohort.modality("expression").shape == (48, 120)
    genes = set(cohort.modality("expression").var["gene"])
    assert set(cohort.modality("methylation").var["gene"]) <= genes
    assert cohort.classes == ["CN", "AD"]
    assert list(cohort.modality("clinical").var_names) == [
        "age",
        "sex",
        "education_years",
        "apoe4_count",
        "cognitive_score",
    ]


def test_availability_mask_matches_tables():
    c = make_synthetic_cohort(
        1000, n_genes=60, n_pathways=10, n_regions=10, missing={"imaging": 0.4, "methylation": 0.1}
    )
    avail = c.availability
    assert avail["expression"].all() and avail["clinical"].all()
    assert avail["imaging"].mean() == pytest.approx(0.6, abs=0.05)
    assert avail["methylation"].mean() == pytest.approx(0.9, abs=0.03)
    for m in c.modalities:
        assert set(c.modality(m).obs_names) == set(c.patients[avail[m]])
        x = c.matrix(m)
        assert np.isnan(x[~avail[m].to_numpy()]).all()
    clinical = c.matrix("clinical")
    assert 0.02 < np.isnan(clinical[:, [0, 2, 3, 4]]).mean() < 0.08  # clinical_missing=0.05
    assert not np.isnan(clinical[:, 1]).any()  # sex always recorded


def test_same_seed_same_cohort_other_seed_other():
    a = make_synthetic_cohort(60, n_genes=60, n_pathways=10, n_regions=10, seed=3)
    b = make_synthetic_cohort(60, n_genes=60, n_pathways=10, n_regions=10, seed=3)
    c = make_synthetic_cohort(60, n_genes=60, n_pathways=10, n_regions=10, seed=4)
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()
    assert a.truth["pathways"] == b.truth["pathways"]


def test_truth_recorded_and_planted_signal_present():
    c = make_synthetic_cohort(
        800, n_genes=300, n_pathways=30, n_regions=20, n_disease_pathways=3, seed=1
    )
    truth = c.truth
    assert len(truth["pathways"]) == 3
    assert all(p in c.mdata.uns["gene_sets"] for p in truth["pathways"])
    for p in truth["pathways"]:
        assert set(truth["genes"]) & set(c.mdata.uns["gene_sets"][p])
    y = c.y
    expr = c.matrix("expression")
    genes = list(c.modality("expression").var_names)
    planted = np.isin(genes, truth["genes"])
    t = np.abs(stats.ttest_ind(expr[y == 1], expr[y == 0]).statistic)
    # planted genes separate AD from CN; the others are null
    assert np.median(t[planted]) > 3.0
    assert np.median(t[~planted]) < 1.0
    assert np.mean(t[planted]) > 4 * np.mean(t[~planted])
    img = c.matrix("imaging")
    have = ~np.isnan(img[:, 0])
    regions = list(c.modality("imaging").var_names)
    for r in ("left_hippocampus", "right_entorhinal"):
        assert r in truth["imaging_regions"]
        j = regions.index(r)
        assert img[have & (y == 1), j].mean() < img[have & (y == 0), j].mean()
    clin = c.matrix("clinical")
    score = clin[:, 4]
    ok = ~np.isnan(score)
    assert score[ok & (y == 1)].mean() < score[ok & (y == 0)].mean() - 0.5


def test_zero_effect_has_no_signal():
    c = make_synthetic_cohort(800, n_genes=300, n_pathways=30, n_regions=20, effect_size=0.0)
    y, expr = c.y, c.matrix("expression")
    planted = np.isin(list(c.modality("expression").var_names), c.truth["genes"])
    t = np.abs(stats.ttest_ind(expr[y == 1], expr[y == 0]).statistic)
    assert np.median(t[planted]) < 1.5


def test_within_pathway_correlation():
    c = make_synthetic_cohort(400, n_genes=300, n_pathways=30, effect_size=0.0, seed=2)
    expr = c.matrix("expression")
    genes = list(c.modality("expression").var_names)
    members = next(iter(c.mdata.uns["gene_sets"].values()))
    idx = [genes.index(g) for g in members]
    corr = np.corrcoef(expr[:, idx].T)[np.triu_indices(len(idx), 1)]
    assert np.mean(corr) > 0.1  # primary members share the pathway's activity (extras dilute it)


def test_bad_arguments_are_explained():
    with pytest.raises(ValueError, match="n_pathways=50 needs n_genes >= 150"):
        make_synthetic_cohort(50, n_genes=100, n_pathways=50)
    with pytest.raises(ValueError, match="unknown modalities"):
        make_synthetic_cohort(50, missing={"clinical": 0.5})
