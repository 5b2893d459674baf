"""Seeded, stratified patient splits."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import train_test_split

from graphfuse.errors import DataError

__all__ = ["stratified_split"]


def stratified_split(
    y: np.ndarray, *, val_fraction: float, test_fraction: float, seed: int
) -> dict[str, np.ndarray]:
    """Split patients into train / validation / test, stratified by class.

    Parameters
    ----------
    y
        Class code per patient.
    val_fraction, test_fraction
        Fractions of all patients for validation and test.
    seed
        Seed of the shuffle: the same seed gives the same split.

    Returns
    -------
    dict
        ``{"train", "val", "test"}`` -> sorted integer positions, disjoint and covering all.

    Examples
    --------
    >>> s = stratified_split(np.array([0, 1] * 10), val_fraction=0.2, test_fraction=0.2, seed=0)
    >>> [len(s[k]) for k in ("train", "val", "test")]
    [12, 4, 4]
    """
    y = np.asarray(y)
    classes, counts = np.unique(y, return_counts=True)
    if counts.min() < 3:
        rare = classes[counts.argmin()].item()
        raise DataError(
            f"class {rare!r} has {counts.min()} patient(s); a stratified train/validation/test "
            "split needs at least 3 per class"
        )
    idx = np.arange(len(y))
    rest, test = train_test_split(idx, test_size=test_fraction, stratify=y, random_state=seed)
    val_share = val_fraction / (1.0 - test_fraction)
    train, val = train_test_split(rest, test_size=val_share, stratify=y[rest], random_state=seed)
    return {"train": np.sort(train), "val": np.sort(val), "test": np.sort(test)}
