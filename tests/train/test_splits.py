"""Published splits: the test set is kept, validation comes from the training patients."""

from __future__ import annotations

import numpy as np
import pytest

from graphfuse.errors import DataError
from graphfuse.train import published_split


def test_published_test_set_kept_and_validation_stratified_from_training():
    split = np.array(["train"] * 30 + ["test"] * 10)
    y = np.array([0, 1] * 20)
    a = published_split(split, y, val_fraction=0.2, seed=0)
    b = published_split(split, y, val_fraction=0.2, seed=1)
    assert a["test"].tolist() == list(range(30, 40)) == b["test"].tolist()
    assert len(a["val"]) == 6 and np.bincount(y[a["val"]]).tolist() == [3, 3]
    assert sorted([*a["train"], *a["val"]]) == list(range(30))
    assert not np.array_equal(a["val"], b["val"])


def test_published_split_errors():
    y = np.array([0, 1] * 5)
    with pytest.raises(DataError, match=r"0 training and 10 test patient"):
        published_split(np.array(["test"] * 10), y, val_fraction=0.2, seed=0)
    with pytest.raises(DataError, match=r"split 'val'; expected 'train' or 'test'"):
        published_split(np.array(["train"] * 9 + ["val"]), y, val_fraction=0.2, seed=0)
    with pytest.raises(DataError, match=r"at least 2 patients of each"):
        published_split(np.array(["train"] * 3 + ["test"] * 7), y, val_fraction=0.2, seed=0)
