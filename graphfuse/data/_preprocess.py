"""Per-modality preprocessing fitted on training patients only."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from graphfuse.data._cohort import Cohort
from graphfuse.errors import DataError

__all__ = ["ModalityMatrix", "Preprocessor"]


@dataclass
class ModalityMatrix:
    """One modality's preprocessed features for every patient of a cohort.

    Attributes
    ----------
    name, kind
        Modality name and kind.
    x
        ``float32`` patients x features; rows of patients lacking the modality are NaN.
    features
        Feature names (including ``<feature>__missing`` indicators added by imputation).
    available
        Boolean per patient: has this modality.
    """

    name: str
    kind: str
    x: np.ndarray
    features: list[str]
    available: np.ndarray


@dataclass
class _Fitted:
    keep: np.ndarray
    fill: np.ndarray
    indicator: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    features: list[str] = field(default_factory=list)


class Preprocessor:
    """Impute and standardise each modality with statistics of training patients only.

    Parameters
    ----------
    scale
        Standardise each feature to zero mean and unit variance over training patients.
    impute
        ``"median"``: a missing value becomes the feature's training median and, for
        features with missing values among training patients, a ``<feature>__missing``
        0/1 column is added. ``"none"``: a missing value is an error naming the
        modality, feature and patient.

    Attributes
    ----------
    fitted_
        Per modality: kept features, fill values, indicator columns, means and scales.
    dropped_
        Per modality: features dropped for being constant (or never observed) in training.

    Examples
    --------
    >>> from graphfuse.data import make_synthetic_cohort
    >>> cohort = make_synthetic_cohort(60, seed=0)
    >>> mats = Preprocessor().fit(cohort, np.arange(40)).transform(cohort)
    >>> mats["clinical"].x.shape[0]
    60
    """

    def __init__(self, *, scale: bool = True, impute: Literal["median", "none"] = "median") -> None:
        self.scale = scale
        self.impute = impute
        self.fitted_: dict[str, _Fitted] = {}
        self.dropped_: dict[str, list[str]] = {}

    def fit(self, cohort: Cohort, train: np.ndarray) -> Preprocessor:
        """Learn each modality's statistics from the training patients (integer positions)."""
        train = np.asarray(train)
        avail = cohort.availability
        for name in cohort.modalities:
            x = cohort.matrix(name)
            features = cohort.modality(name).var_names.astype(str).tolist()
            self._check_values(cohort, name, x, features)
            rows = train[avail[name].to_numpy()[train]]
            if len(rows) < 2:
                raise DataError(
                    f"modality {name!r}: only {len(rows)} training patient(s) have it; "
                    "at least 2 are needed to fit preprocessing"
                )
            xt = x[rows]
            observed = ~np.isnan(xt)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns handled below
                fill = np.nanmedian(xt, axis=0)
                std = np.nanstd(xt, axis=0)
            keep = observed.any(axis=0) & (std > 0)
            if not keep.all():
                dropped = [f for f, k in zip(features, keep, strict=True) if not k]
                self.dropped_[name] = dropped
                warnings.warn(
                    f"modality {name!r}: dropping {len(dropped)} feature(s) constant or never "
                    f"observed among training patients, e.g. {dropped[:5]}",
                    UserWarning,
                    stacklevel=2,
                )
            if not keep.any():
                raise DataError(f"modality {name!r}: no feature varies among training patients")
            indicator = (
                keep & ~observed.all(axis=0) if self.impute == "median" else np.zeros_like(keep)
            )
            xt = np.where(observed, xt, fill)[:, keep]
            mean = xt.mean(axis=0) if self.scale else np.zeros(keep.sum(), dtype=np.float32)
            scale = xt.std(axis=0) if self.scale else np.ones(keep.sum(), dtype=np.float32)
            names = [f for f, k in zip(features, keep, strict=True) if k]
            names += [f"{f}__missing" for f, k in zip(features, indicator, strict=True) if k]
            self.fitted_[name] = _Fitted(keep, fill, indicator, mean, scale, names)
        return self

    def transform(self, cohort: Cohort) -> dict[str, ModalityMatrix]:
        """Apply the fitted statistics to every patient of ``cohort``."""
        if not self.fitted_:
            raise RuntimeError("Preprocessor.transform() called before fit()")
        out = {}
        avail = cohort.availability
        for name, fit in self.fitted_.items():
            x = cohort.matrix(name)
            features = cohort.modality(name).var_names.astype(str).tolist()
            self._check_values(cohort, name, x, features)
            has = avail[name].to_numpy()
            missing = np.isnan(x) & has[:, None]
            xv = np.where(missing, fit.fill, x)[:, fit.keep]
            xv = (xv - fit.mean) / np.where(fit.scale > 0, fit.scale, 1.0)
            parts = [xv, missing[:, fit.indicator].astype(np.float32)]
            full = np.concatenate(parts, axis=1).astype(np.float32)
            full[~has] = np.nan
            out[name] = ModalityMatrix(name, cohort.kinds[name], full, list(fit.features), has)
        return out

    def _check_values(self, cohort: Cohort, name: str, x: np.ndarray, features: list[str]) -> None:
        has = cohort.availability[name].to_numpy()
        xa = x[has]
        bad = np.isinf(xa)
        if self.impute == "none":
            bad |= np.isnan(xa)
        if bad.any():
            r, c = np.argwhere(bad)[0]
            patient = cohort.patients[np.flatnonzero(has)[r]]
            what = "infinite" if np.isinf(xa[r, c]) else "missing (NaN)"
            hint = "" if np.isinf(xa[r, c]) else " (set data.preprocess.impute: median to impute)"
            raise DataError(
                f"modality {name!r}, feature {features[c]!r}, patient {patient!r}: value is "
                f"{what}; {int(bad.sum())} such value(s) in this modality{hint}"
            )
