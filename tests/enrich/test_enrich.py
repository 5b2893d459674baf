import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from graphfuse.data import GeneSets
from graphfuse.enrich import ORA_COLUMNS, Universe, bh_fdr, ora, permutation_test, rank_test
from graphfuse.errors import DataError

BACKGROUND = [f"g{i:03d}" for i in range(200)]
SETS = GeneSets(
    {
        "A": BACKGROUND[:20],
        "B": BACKGROUND[10:40],
        "C": [*BACKGROUND[100:110], "outside1", "outside2"],
        "TINY": BACKGROUND[150:152],
    },
    name="toy",
)


def test_ora_matches_scipy_per_set():
    genes = BACKGROUND[:8] + BACKGROUND[100:102] + BACKGROUND[190:195]
    res = ora(genes, SETS, background=BACKGROUND, min_size=5).set_index("set")
    assert list(res.reset_index().columns) == ORA_COLUMNS
    assert "TINY" not in res.index  # 2 members < min_size
    assert res.loc["C", "size"] == 10  # members outside the background dropped
    for name, members in [
        ("A", BACKGROUND[:20]),
        ("B", BACKGROUND[10:40]),
        ("C", BACKGROUND[100:110]),
    ]:
        k = len(set(genes) & set(members))
        expected = stats.hypergeom.sf(k - 1, 200, len(members), len(genes))
        assert res.loc[name, "overlap"] == k
        assert res.loc[name, "p"] == pytest.approx(expected, rel=1e-10)
    assert res.loc["A", "genes"] == ";".join(BACKGROUND[:8])
    assert (res["background_size"] == 200).all() and (res["collection"] == "toy").all()


def test_background_matters_and_is_required():
    genes = BACKGROUND[:8]
    small = ora(genes, SETS, background=BACKGROUND[:60]).set_index("set")
    large = ora(genes, SETS, background=BACKGROUND).set_index("set")
    assert small.loc["A", "p"] > large.loc["A", "p"]  # a smaller background is less surprising
    with pytest.raises(ValueError, match="needs the background"):
        ora(genes, SETS)
    with pytest.raises(DataError, match=r"not in the background, e\.g\. \['zzz'\]"):
        ora(["zzz", *genes], SETS, background=BACKGROUND)


def test_bh_matches_statsmodels():
    p = np.random.default_rng(0).uniform(size=300) ** 3
    assert np.allclose(bh_fdr(p), multipletests(p, method="fdr_bh")[1])
    assert np.isnan(bh_fdr(np.array([0.1, np.nan]))[1])


def test_per_set_permutation_p_converges_to_hypergeometric():
    genes = BACKGROUND[:4] + BACKGROUND[100:103] + BACKGROUND[180:193]  # 20 genes
    res = permutation_test(genes, SETS, background=BACKGROUND, n_permutations=20_000, seed=1)
    t = res.table.set_index("set")
    for name in ("A", "B", "C"):
        analytic = t.loc[name, "p"]
        se = np.sqrt(analytic * (1 - analytic) / 20_000) + 1e-4
        assert abs(t.loc[name, "empirical_p"] - analytic) < 4 * se, name
    assert (t["n_permutations"] == 20_000).all() and (t["seed"] == 1).all()


def test_list_level_test_separates_enriched_from_random_lists():
    universe = Universe(SETS, BACKGROUND)
    enriched = permutation_test(BACKGROUND[8:18], universe, n_permutations=3000, seed=0)
    assert enriched.n_significant == 2 and enriched.p_value < 0.01 and enriched.min_p_value < 0.01
    rng = np.random.default_rng(5)
    ps = [
        permutation_test(
            list(rng.choice(BACKGROUND, 10, replace=False)), universe, n_permutations=500, seed=i
        ).min_p_value
        for i in range(20)
    ]
    assert np.median(ps) > 0.2  # random lists look like the null
    again = permutation_test(BACKGROUND[8:18], universe, n_permutations=3000, seed=0)
    assert np.array_equal(again.null_min_p, enriched.null_min_p)
    assert 1 / 3001 <= enriched.p_value  # +1 correction: never 0


def test_rank_test_matches_mann_whitney():
    rng = np.random.default_rng(3)
    scores = dict(zip(BACKGROUND, rng.normal(size=200), strict=True))
    for g in BACKGROUND[:20]:
        scores[g] += 1.5
    res = rank_test(scores, SETS).set_index("set")
    members = BACKGROUND[10:40]
    inside = [scores[g] for g in members]
    outside = [v for g, v in scores.items() if g not in set(members)]
    ref = stats.mannwhitneyu(
        inside, outside, alternative="greater", method="asymptotic", use_continuity=False
    )
    assert res.loc["B", "p"] == pytest.approx(ref.pvalue, rel=1e-8)
    assert res.loc["A", "p"] < 0.001 and res.loc["A", "auc"] > 0.7
