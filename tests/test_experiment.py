"""`fit(config)` from Python, as notebooks call it."""

from pathlib import Path

import numpy as np
import pytest

from graphfuse.config import load_config
from graphfuse.errors import ConfigError
from graphfuse.experiment import fit

QUICK = Path(__file__).resolve().parents[1] / "configs" / "ad_quick.yaml"
OFF = ["tracking.enabled=false", "train.epochs=8"]


def test_same_seed_same_result_other_seed_other():
    a = fit(load_config(QUICK, OFF))
    b = fit(load_config(QUICK, OFF))
    c = fit(load_config(QUICK, [*OFF, "seed=1"]))
    assert a.run_id is None and a.tracking_uri is None
    assert a.fingerprint == b.fingerprint != c.fingerprint
    assert np.array_equal(a.proba, b.proba)
    assert a.metrics == b.metrics
    assert not np.array_equal(a.splits["test"], c.splits["test"])


def test_result_contents_and_metrics_frame():
    r = fit(load_config(QUICK, OFF))
    frame = r.metrics_frame()
    assert list(frame.index) == ["train", "val", "test"]
    assert {"accuracy", "f1", "f1_macro", "f1_weighted", "roc_auc"} <= set(frame.columns)
    assert r.proba.shape == (r.cohort.n_patients, 2)
    assert np.allclose(r.proba.sum(axis=1), 1, atol=1e-5)
    assert set(r.timings) >= {"data", "preprocess", "graph", "train"}
    assert r.history.stopped_epoch <= 8


def test_modality_subset_and_transductive_mode():
    r = fit(
        load_config(
            QUICK, [*OFF, "data.modalities=[expression, imaging]", "graph.transductive=true"]
        )
    )
    assert r.data.modalities == ["expression", "imaging"]
    assert r.data.transductive is True
    assert set(r.model.in_dims) == {"expression", "imaging"}


def test_unknown_modality_is_a_config_error():
    with pytest.raises(ConfigError, match=r"data\.modalities: \['rna'\] not in the cohort"):
        fit(load_config(QUICK, [*OFF, "data.modalities=[rna]"]))
