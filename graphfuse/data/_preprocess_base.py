"""What every per-modality preprocessing pipeline shares: the fit/transform contract,
training-only statistics (fill values, scaler) and the record of what was done."""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from typing import Any, Literal

import numpy as np
import pandas as pd

__all__ = ["ModalityPipeline", "fit_scaler", "nan_median", "warn_dropped"]

Impute = Literal["median", "none"]

#: How many dropped feature names a warning lists before "...".
_NAMES_IN_WARNING = 10


class ModalityPipeline(ABC):
    """Preprocessing of one modality: fitted on training rows, applied to any rows.

    A pipeline sees only the rows of patients that **have** the modality; the
    :class:`~graphfuse.data.Preprocessor` puts NaN rows back for the others.
    Subclasses set the fitted attributes below in :meth:`fit` and never refit in
    :meth:`transform`.

    Parameters
    ----------
    name
        The modality's name (for messages).
    impute
        ``"median"`` or ``"none"`` (missing values were rejected upstream).
    scale
        Standardise (zero mean, unit variance over training rows).

    Attributes
    ----------
    features_in_
        Feature names the pipeline was fitted on (``var_names``).
    features_out_
        Names of the output columns, in order.
    dropped_
        Reason -> feature names dropped for it (``never_observed``, ``constant``,
        ``not_selected``); only reasons that dropped something.
    steps_
        The steps applied, in order, each a dict with ``"step"`` and its parameters.
    n_fit_
        Training patients (having the modality) the statistics come from.
    """

    kind: str = ""
    """The modality kind it serves (``omics``, ``imaging``, ``clinical``)."""

    def __init__(self, name: str, *, impute: Impute = "median", scale: bool = True) -> None:
        self.name = name
        self.impute = impute
        self.scale = scale
        self.features_in_: list[str] = []
        self.features_out_: list[str] = []
        self.dropped_: dict[str, list[str]] = {}
        self.steps_: list[dict[str, Any]] = []
        self.n_fit_ = 0

    @abstractmethod
    def fit(self, x: np.ndarray, var: pd.DataFrame, y: np.ndarray) -> ModalityPipeline:
        """Learn every statistic from training rows.

        Parameters
        ----------
        x
            Training patients (that have the modality) x features, ``float32``; NaN =
            missing value.
        var
            The modality's feature table (index = feature names).
        y
            Integer class of each row of ``x`` (training labels only).
        """

    @abstractmethod
    def transform(self, x: np.ndarray) -> np.ndarray:
        """Apply the fitted steps to rows of patients that have the modality."""

    @abstractmethod
    def needed(self) -> list[str]:
        """Input features :meth:`transform` reads (what a new patient's table must have)."""

    @abstractmethod
    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Everything :meth:`fit` learnt: JSON-ready values and numeric arrays."""

    @classmethod
    @abstractmethod
    def from_state(cls, values: dict[str, Any], arrays: dict[str, np.ndarray]) -> ModalityPipeline:
        """The fitted pipeline :meth:`state` describes."""

    def _fitted_values(self) -> dict[str, Any]:
        """The fitted attributes every pipeline has, JSON-ready (part of :meth:`state`)."""
        return {
            "features_in": list(self.features_in_),
            "features_out": list(self.features_out_),
            "dropped": {k: list(v) for k, v in self.dropped_.items()},
            "steps": [dict(step) for step in self.steps_],
            "n_fit": int(self.n_fit_),
        }

    def _restore_fitted(self, values: dict[str, Any]) -> None:
        """Set the attributes :meth:`_fitted_values` gave."""
        self.features_in_ = list(values["features_in"])
        self.features_out_ = list(values["features_out"])
        self.dropped_ = {k: list(v) for k, v in values["dropped"].items()}
        self.steps_ = [dict(step) for step in values["steps"]]
        self.n_fit_ = int(values["n_fit"])

    def summary(self) -> dict[str, Any]:
        """What was done: kind, steps, feature counts in and out, dropped features.

        Plain JSON-ready data (as logged to MLflow in ``preprocess.json``).
        """
        return {
            "kind": self.kind,
            "n_fit_patients": int(self.n_fit_),
            "steps": [dict(s) for s in self.steps_],
            "n_features_in": len(self.features_in_),
            "n_features_out": len(self.features_out_),
            "dropped": {reason: list(names) for reason, names in self.dropped_.items()},
        }

    def _drop(self, reason: str, names: list[str]) -> None:
        if names:
            self.dropped_.setdefault(reason, []).extend(names)

    def __repr__(self) -> str:
        fitted = f", {len(self.features_in_)} -> {len(self.features_out_)} features"
        return f"{type(self).__name__}({self.name!r}{fitted if self.features_in_ else ''})"


def nan_median(x: np.ndarray) -> np.ndarray:
    """Column medians ignoring NaN; NaN for columns with no observed value (no warning)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: dropped by callers
        return np.nanmedian(x, axis=0).astype(np.float32)


def fit_scaler(x: np.ndarray, on: bool) -> tuple[np.ndarray, np.ndarray]:
    """Training mean and standard deviation (population, ddof 0) per column.

    ``on=False`` gives the identity (mean 0, scale 1). A zero deviation becomes 1,
    so a constant column is centred, not divided by zero.
    """
    if not on:
        n = x.shape[1]
        return np.zeros(n, dtype=np.float32), np.ones(n, dtype=np.float32)
    mean = x.mean(axis=0, dtype=np.float64)
    std = x.std(axis=0, dtype=np.float64)
    std[std == 0] = 1.0
    return mean.astype(np.float32), std.astype(np.float32)


def warn_dropped(name: str, never: list[str], constant: list[str]) -> None:
    """One warning naming the features dropped for being unobserved or constant."""
    names = never + constant
    if not names:
        return
    shown = names[:_NAMES_IN_WARNING]
    more = f" and {len(names) - len(shown)} more" if len(names) > len(shown) else ""
    warnings.warn(
        f"modality {name!r}: dropping {len(names)} feature(s) constant or never observed "
        f"among training patients: {shown}{more} (all listed in Preprocessor.dropped_)",
        UserWarning,
        stacklevel=4,
    )
