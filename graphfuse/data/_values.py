"""Values cast to graphfuse's float32, refusing numbers the cast would turn infinite."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from graphfuse.errors import DataError

__all__ = ["FLOAT32_MAX", "as_float32", "complete_float32"]

#: The largest finite float32 (about 3.4e38): graphfuse computes in float32.
FLOAT32_MAX = float(np.finfo(np.float32).max)


def as_float32(
    x: np.ndarray, patients: Sequence[object], features: Sequence[object], where: str
) -> np.ndarray:
    """``x`` (patients x features) as float32; a finite value beyond float32's range —
    which the cast would make infinite — is an error naming the patient and the feature.

    Examples
    --------
    >>> as_float32(np.array([[1.0, 2.5]]), ["p1"], ["a", "b"], "table").dtype
    dtype('float32')
    >>> as_float32(np.array([[1e300]]), ["p1"], ["a"], "table")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    graphfuse.errors.DataError: table, feature 'a', patient 'p1': value 1e+300 is finite ...
    """
    x = np.asarray(x)
    if x.dtype == np.float32 or not np.issubdtype(x.dtype, np.number):
        return x.astype(np.float32) if x.dtype != np.float32 else x
    with np.errstate(invalid="ignore"):
        big = np.isfinite(x) & (np.abs(x) > FLOAT32_MAX)
    if big.any():
        r, c = np.argwhere(big)[0]
        raise DataError(
            f"{where}, feature {features[c]!r}, patient {patients[r]!r}: value {x[r, c]:g} is "
            f"finite in the file but beyond float32's range (±{FLOAT32_MAX:.2g}), in which "
            "graphfuse computes; rescale the feature (e.g. log-transform it) before use "
            f"({int(big.sum())} such value(s))"
        )
    return x.astype(np.float32)


def complete_float32(
    x: np.ndarray, patients: Sequence[object], features: Sequence[object], where: str
) -> np.ndarray:
    """:func:`as_float32` of an omics block that must be complete: a missing (NaN) or
    infinite value is an error naming the patient and the feature.

    Examples
    --------
    >>> complete_float32(np.array([[1.0, np.nan]]), ["p1"], ["a", "b"], "t")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    graphfuse.errors.DataError: t, feature 'b', patient 'p1': missing or infinite value; ...
    """
    x = as_float32(x, patients, features, where)
    bad = ~np.isfinite(x)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise DataError(
            f"{where}, feature {features[c]!r}, patient {patients[r]!r}: missing or infinite "
            f"value; omics values must be complete ({int(bad.sum())} such value(s))"
        )
    return x
