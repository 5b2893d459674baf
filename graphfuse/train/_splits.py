"""Seeded, stratified patient splits."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.model_selection import train_test_split

from graphfuse.errors import DataError

__all__ = ["published_split", "stratified_split"]


def stratified_split(
    y: np.ndarray,
    *,
    val_fraction: float,
    test_fraction: float,
    seed: int,
    classes: Sequence[object] | None = None,
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
    classes
        The class labels of the codes, for messages (a cohort's ``classes``).

    Returns
    -------
    dict
        ``{"train", "val", "test"}`` -> sorted integer positions, disjoint and covering all.

    Raises
    ------
    DataError
        A class with fewer than 3 patients, or a cohort too small for the fractions
        (validation or test set smaller than the number of classes); the message gives
        the patients per class.

    Examples
    --------
    >>> s = stratified_split(np.array([0, 1] * 10), val_fraction=0.2, test_fraction=0.2, seed=0)
    >>> [len(s[k]) for k in ("train", "val", "test")]
    [12, 4, 4]
    """
    y = np.asarray(y)
    codes, counts = np.unique(y, return_counts=True)
    names = [classes[c] if classes is not None else c for c in codes.tolist()]
    names = [n.item() if isinstance(n, np.generic) else n for n in names]
    per = "class" if classes is not None else "class code"
    cohort = (
        f"the cohort has {len(y)} patient(s) in {len(codes)} class(es) (patients per {per}: "
        f"{dict(zip(names, counts.tolist(), strict=True))})"
    )
    if counts.min() < 3:
        rare = names[int(counts.argmin())]
        raise DataError(
            f"class {rare!r} has {counts.min()} patient(s): {cohort}; a stratified "
            "train/validation/test split needs at least 3 per class"
        )
    idx = np.arange(len(y))
    val_share = val_fraction / (1.0 - test_fraction)
    try:
        rest, test = train_test_split(idx, test_size=test_fraction, stratify=y, random_state=seed)
        train, val = train_test_split(
            rest, test_size=val_share, stratify=y[rest], random_state=seed
        )
    except ValueError as exc:  # a test or validation set smaller than the number of classes
        raise DataError(
            f"{cohort}: too few for a stratified split with val_fraction {val_fraction} and "
            f"test_fraction {test_fraction}, where the test and validation sets each need at "
            f"least one patient of every class ({exc}); use more patients or larger fractions"
        ) from exc
    return {"train": np.sort(train), "val": np.sort(val), "test": np.sort(test)}


def published_split(
    split: Sequence[str] | np.ndarray, y: np.ndarray, *, val_fraction: float, seed: int
) -> dict[str, np.ndarray]:
    """Keep a published train/test split; carve validation out of its training patients.

    Parameters
    ----------
    split
        ``"train"`` or ``"test"`` per patient (a cohort's ``obs["split"]``).
    y
        Class code per patient.
    val_fraction
        Fraction of the published **training** patients held out for validation
        (stratified by class); test patients are never touched.
    seed
        Seed of the validation draw.

    Returns
    -------
    dict
        ``{"train", "val", "test"}`` -> sorted integer positions; ``test`` is exactly
        the published test patients.

    Examples
    --------
    >>> split = np.array(["train"] * 16 + ["test"] * 4)
    >>> s = published_split(split, np.array([0, 1] * 10), val_fraction=0.25, seed=0)
    >>> [len(s[k]) for k in ("train", "val", "test")], s["test"].tolist()
    ([12, 4, 4], [16, 17, 18, 19])
    """
    split = np.asarray(split, dtype=object)
    y = np.asarray(y)
    bad = ~np.isin(split, ["train", "test"])
    if bad.any():
        raise DataError(
            f"published split: patient at position {int(np.flatnonzero(bad)[0])} is in split "
            f"{split[bad][0]!r}; expected 'train' or 'test'"
        )
    idx = np.arange(len(y))
    train, test = idx[split == "train"], idx[split == "test"]
    if len(test) == 0 or len(train) == 0:
        raise DataError(
            f"published split: {len(train)} training and {len(test)} test patient(s); "
            "both are needed"
        )
    classes, counts = np.unique(y[train], return_counts=True)
    if len(classes) < 2 or counts.min() < 2:
        raise DataError(
            "published split: the training patients need at least 2 patients of each of at "
            f"least two classes to carve a stratified validation set; they have "
            f"{dict(zip(classes.tolist(), counts.tolist(), strict=True))}"
        )
    fit, val = train_test_split(train, test_size=val_fraction, stratify=y[train], random_state=seed)
    return {"train": np.sort(fit), "val": np.sort(val), "test": np.sort(test)}


def stratified_folds(
    y: np.ndarray, *, folds: int, val_fraction: float, seed: int
) -> list[dict[str, np.ndarray]]:
    """Stratified k-fold cross-validation splits, each with its own validation set.

    Every patient is a test patient in exactly one fold. In each fold, validation patients
    (for early stopping and model selection) are carved, stratified, out of the other
    folds' patients — never out of the test fold.

    Parameters
    ----------
    y
        Class code per patient.
    folds
        Number of folds (at least 2; at most the size of the smallest class).
    val_fraction
        Fraction of each fold's non-test patients held out for validation.
    seed
        Seed of the fold assignment and the validation draws.

    Returns
    -------
    list of dict
        One ``{"train", "val", "test"}`` -> sorted positions per fold.

    Examples
    --------
    >>> f = stratified_folds(np.array([0, 1] * 10), folds=5, val_fraction=0.25, seed=0)
    >>> len(f), [len(f[0][k]) for k in ("train", "val", "test")]
    (5, [12, 4, 4])
    >>> sorted(np.concatenate([s["test"] for s in f]).tolist()) == list(range(20))
    True
    """
    from sklearn.model_selection import StratifiedKFold

    y = np.asarray(y)
    classes, counts = np.unique(y, return_counts=True)
    if folds < 2:
        raise DataError(f"cross-validation needs at least 2 folds; got {folds}")
    if counts.min() < folds:
        rare = classes[counts.argmin()].item()
        raise DataError(
            f"class {rare!r} has {counts.min()} patient(s); {folds}-fold stratified "
            f"cross-validation needs at least {folds} per class"
        )
    out = []
    kfold = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for i, (rest, test) in enumerate(kfold.split(np.zeros(len(y)), y)):
        train, val = train_test_split(
            rest, test_size=val_fraction, stratify=y[rest], random_state=seed + i
        )
        out.append({"train": np.sort(train), "val": np.sort(val), "test": np.sort(test)})
    return out
