"""Fan-out on Dask: a 2-worker LocalCluster gives exactly the serial path's results."""

import numpy as np
import pandas as pd
import pytest

from graphfuse.config import load_config
from graphfuse.data import GeneSets
from graphfuse.enrich import permutation_test
from graphfuse.errors import ConfigError
from graphfuse.experiment import FanOut, cross_validate

from .test_cli import QUICK


def test_serial_fanout_keeps_task_order_and_refuses_two_places():
    seen = []
    assert FanOut().map(abs, [-3, 1, -2], on_result=lambda i, r: seen.append(i)) == [3, 1, 2]
    assert seen == [0, 1, 2]
    with pytest.raises(ConfigError, match="not both"):
        FanOut(workers=2, scheduler="tcp://127.0.0.1:8786")
    with pytest.raises(ConfigError, match="tcp://HOST:8786"):
        FanOut(scheduler="127.0.0.1")


def test_cv_on_a_two_worker_local_cluster_equals_serial():
    pytest.importorskip("distributed", reason="needs the extra graphfuse[dask]")
    cfg = load_config(QUICK, ["tracking.enabled=false", "train.epochs=3"])
    serial = cross_validate(cfg, folds=3, seeds=[0, 1])
    dask = cross_validate(cfg, folds=3, seeds=[0, 1], fanout=FanOut(workers=2))
    cols = [c for c in serial.folds.columns if c != "seconds"]
    pd.testing.assert_frame_equal(serial.folds[cols], dask.folds[cols], check_exact=True)


def test_permutation_test_on_a_two_worker_local_cluster_equals_serial():
    pytest.importorskip("distributed", reason="needs the extra graphfuse[dask]")
    genes = [f"g{i}" for i in range(200)]
    sets = GeneSets({f"P{j}": genes[j * 10 : j * 10 + 12] for j in range(15)})
    kwargs = dict(background=genes, n_permutations=900, seed=7, batch=200)
    serial = permutation_test(genes[:20], sets, **kwargs)
    dask = permutation_test(genes[:20], sets, fanout=FanOut(workers=2), **kwargs)
    assert np.array_equal(serial.null_n_significant, dask.null_n_significant)
    assert np.array_equal(serial.null_min_p, dask.null_min_p)
    pd.testing.assert_frame_equal(serial.table, dask.table, check_exact=True)
    assert serial.p_value == dask.p_value
    other = permutation_test(genes[:20], sets, **(kwargs | {"seed": 8}))
    assert not np.array_equal(serial.null_min_p, other.null_min_p)


def test_cv_folds_on_a_cluster_log_their_own_nested_runs(tmp_path):
    pytest.importorskip("distributed", reason="needs the extra graphfuse[dask]")
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    cfg = load_config(QUICK, [f"tracking.uri={uri}", "train.epochs=2"])
    result = cross_validate(cfg, folds=2, fanout=FanOut(workers=2))
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(cfg.tracking.experiment)
    runs = client.search_runs([exp.experiment_id])
    nested = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == result.run_id]
    assert len(runs) == 3 and len(nested) == 2
    assert {r.info.status for r in runs} == {"FINISHED"}
    assert sorted(r.data.tags["graphfuse.cv_fold"] for r in nested) == ["0", "1"]


def test_benchmark_seeds_on_a_two_worker_local_cluster_equals_serial(tmp_path):
    pytest.importorskip("distributed", reason="needs the extra graphfuse[dask]")
    from graphfuse.experiment import benchmark_seeds

    cfg = load_config(
        QUICK,
        ["tracking.enabled=false", "train.epochs=3", "benchmark={top_k: [10, 20]}"],
    )
    kwargs = dict(seeds=[0, 1], methods=["saliency"], collections=["hallmark"], n_permutations=100)
    serial = benchmark_seeds(cfg, out=tmp_path / "serial", **kwargs)
    dask = benchmark_seeds(cfg, out=tmp_path / "dask", fanout=FanOut(workers=2), **kwargs)
    cols = [c for c in serial.per_seed.columns if c != "seconds"]
    pd.testing.assert_frame_equal(serial.per_seed[cols], dask.per_seed[cols], check_exact=True)
    for seed in (0, 1):
        for name, ranking in serial.rankings[seed].items():
            pd.testing.assert_series_equal(ranking, dask.rankings[seed][name], check_exact=True)
    assert serial.verdict == dask.verdict
