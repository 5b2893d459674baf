"""Clinical encoding by column type, every statistic from training patients only.

The contract with the readers (:func:`graphfuse.data._clinical.encode_clinical`): a
clinical modality's ``X`` is float; ``var["type"]`` is ``numeric``, ``binary``,
``ordinal`` or ``categorical`` (no ``type`` column: all numeric); binary and
categorical columns hold integer codes ``0..K-1`` (NaN = missing) and
``var["categories"]`` the labels joined by ``|`` in code order.

Encoding:

- ``numeric``: one column, standardised on training patients;
- ``ordinal``: one column, its codes or values kept in order and standardised (a
  monotone map, so the order is kept);
- ``binary``: one 0/1 column, not scaled;
- ``categorical``: one-hot over the categories **seen among training patients**, in
  code order, named ``<feature>=<label>``; a category unseen in training gives an
  all-zero block (with a warning giving the count) or, with ``unseen="error"``, an error.

Missing values (``impute="median"``) become the training median (numeric, ordinal) or
mode (binary, categorical), and a ``<feature>__missing`` 0/1 column is added for every
kept feature with missing values among training patients. Features never observed or
constant among training patients (a categorical with one seen category) are dropped
with a warning naming them.
"""

from __future__ import annotations

import warnings
from typing import Any, Literal

import numpy as np
import pandas as pd

from graphfuse.data._clinical import CLINICAL_TYPES
from graphfuse.data._preprocess_base import (
    Impute,
    ModalityPipeline,
    fit_scaler,
    nan_median,
    warn_dropped,
)
from graphfuse.errors import DataError

__all__ = ["ClinicalPipeline"]

_SCALED = ("numeric", "ordinal")


class ClinicalPipeline(ModalityPipeline):
    """Encode one clinical modality: scale, keep, order or one-hot each column by its type.

    Parameters
    ----------
    name
        The modality's name.
    impute
        ``"median"``: training median / mode plus ``<feature>__missing`` columns; ``"none"``.
    scale
        Standardise numeric and ordinal columns on training patients.
    unseen
        A category not seen among training patients at transform time: ``"warn"``
        (all-zero one-hot block) or ``"error"``.

    Attributes
    ----------
    types_
        ``pandas.Series``: feature -> type (``numeric`` where ``var`` has no ``type``).
    kept_
        Input positions of the features encoded, in order.
    fill_
        ``pandas.Series``: training median (numeric, ordinal) or mode code (binary,
        categorical) of each kept feature.
    categories_
        Categorical feature -> labels of the categories seen among training patients, in
        code order (the one-hot columns).
    codes_
        Categorical feature -> the codes of those categories.
    mean_, scale_
        ``pandas.Series`` over numeric and ordinal kept features (0 and 1 without scaling).
    indicator_
        Kept features that get a ``__missing`` column.
    levels_
        Feature -> its labels in code order as the cohort coded them (``var["categories"]``;
        binary, categorical and text ordinal features): how new patients' values are coded.
    features_out_, dropped_, steps_
        See :class:`~graphfuse.data._preprocess_base.ModalityPipeline`.

    Examples
    --------
    >>> var = pd.DataFrame({"type": ["numeric", "categorical"], "categories": ["", "CN|MCI|AD"]},
    ...                    index=["age", "diagnosis"])
    >>> x = np.array([[60, 0], [90, 1], [75, np.nan], [75, 0], [90, 2]], dtype=np.float32)
    >>> pipe = ClinicalPipeline("clinical").fit(x[:4], var, np.array([0, 1, 0, 1]))
    >>> pipe.features_out_
    ['age', 'diagnosis=CN', 'diagnosis=MCI', 'diagnosis__missing']
    >>> pipe.transform(x[2:3]).round(2).tolist()
    [[0.0, 1.0, 0.0, 1.0]]
    """

    kind = "clinical"

    def __init__(
        self,
        name: str,
        *,
        impute: Impute = "median",
        scale: bool = True,
        unseen: Literal["warn", "error"] = "warn",
    ) -> None:
        super().__init__(name, impute=impute, scale=scale)
        if unseen not in ("warn", "error"):
            raise ValueError(f"unseen: expected 'warn' or 'error', got {unseen!r}")
        self.unseen = unseen
        self.types_ = pd.Series(dtype=object)
        self.kept_ = np.zeros(0, dtype=np.int64)
        self.fill_ = pd.Series(dtype=np.float32)
        self.categories_: dict[str, list[str]] = {}
        self.codes_: dict[str, np.ndarray] = {}
        self.mean_ = pd.Series(dtype=np.float32)
        self.scale_ = pd.Series(dtype=np.float32)
        self.indicator_: list[str] = []
        self._labels: dict[str, list[str]] = {}
        self.levels_: dict[str, list[str]] = {}
        self._pos: dict[str, int] = {}

    # ------------------------------------------------------------------ fit
    def fit(self, x: np.ndarray, var: pd.DataFrame, y: np.ndarray) -> ClinicalPipeline:
        names = var.index.astype(str).tolist()
        self.features_in_ = names
        self._pos = {n: j for j, n in enumerate(names)}
        self.n_fit_ = len(x)
        self.dropped_, self.steps_ = {}, []
        self.types_ = self._types(var)
        self._labels = self._category_labels(var)
        given = var["categories"] if "categories" in var.columns else pd.Series(dtype=object)
        self.levels_ = {
            str(n): str(raw).split("|") for n, raw in given.items() if isinstance(raw, str) and raw
        }
        self._check_codes(x)
        observed = ~np.isnan(x)
        medians = nan_median(x)
        never, constant, kept, fill = [], [], [], {}
        self.categories_, self.codes_ = {}, {}
        for j, name in enumerate(names):
            values = x[observed[:, j], j]
            if not len(values):
                never.append(name)
                continue
            seen = np.unique(values)
            if len(seen) < 2:
                constant.append(name)
                continue
            kind = self.types_[name]
            if kind in _SCALED:
                fill[name] = medians[j]
            else:  # mode; ties go to the smallest code
                codes, counts = np.unique(values.astype(np.int64), return_counts=True)
                fill[name] = float(codes[np.argmax(counts)])
            if kind == "categorical":
                self.codes_[name] = seen.astype(np.int64)
                self.categories_[name] = [self._labels[name][int(c)] for c in seen]
            kept.append(j)
        self._drop("never_observed", never)
        self._drop("constant", constant)
        warn_dropped(self.name, never, constant)
        if not kept:
            raise DataError(f"modality {self.name!r}: no feature varies among training patients")
        self.kept_ = np.asarray(kept, dtype=np.int64)
        kept_names = [names[j] for j in kept]
        self.fill_ = pd.Series(fill, dtype=np.float32).loc[kept_names]
        with_missing = ~observed[:, self.kept_].all(axis=0)
        self.indicator_ = (
            [n for n, m in zip(kept_names, with_missing, strict=True) if m]
            if self.impute == "median"
            else []
        )

        scaled = [n for n in kept_names if self.types_[n] in _SCALED]
        xi = self._imputed(x)
        cols = [self._pos[n] for n in scaled]
        mean, scale = fit_scaler(xi[:, cols], self.scale)
        self.mean_ = pd.Series(mean, index=scaled, dtype=np.float32)
        self.scale_ = pd.Series(scale, index=scaled, dtype=np.float32)

        self.features_out_ = []
        for n in kept_names:
            if self.types_[n] == "categorical":
                self.features_out_ += [f"{n}={label}" for label in self.categories_[n]]
            else:
                self.features_out_.append(n)
        self.features_out_ += [f"{n}__missing" for n in self.indicator_]
        self._record_steps(kept_names)
        return self

    def _record_steps(self, kept: list[str]) -> None:
        counts = self.types_.loc[kept].value_counts()
        self.steps_ = [
            {
                "step": "impute",
                "strategy": f"{self.impute} (mode for binary/categorical)"
                if self.impute == "median"
                else "none",
                "features": len(self.indicator_),
            },
            {
                "step": "encode",
                "types": {str(k): int(v) for k, v in counts.items()},
                "one_hot": {k: list(v) for k, v in self.categories_.items()},
                "unseen": self.unseen,
            },
        ]
        if self.scale and len(self.mean_):
            self.steps_.append({"step": "scale", "features": list(self.mean_.index)})
        if self.indicator_:
            self.steps_.append({"step": "missing_indicators", "features": len(self.indicator_)})

    # ------------------------------------------------------------------ transform
    def transform(self, x: np.ndarray) -> np.ndarray:
        if x.shape[1] != len(self.features_in_):
            raise DataError(
                f"modality {self.name!r}: {x.shape[1]} features, but preprocessing was fitted "
                f"on {len(self.features_in_)}"
            )
        self._check_codes(x)
        missing = np.isnan(x)
        xi = self._imputed(x)
        blocks: list[np.ndarray] = []
        for j in self.kept_:
            name = self.features_in_[j]
            kind = self.types_[name]
            col = xi[:, j]
            if kind in _SCALED:
                blocks.append(((col - self.mean_[name]) / self.scale_[name])[:, None])
            elif kind == "binary":
                blocks.append(col[:, None])
            else:
                onehot = col[:, None] == self.codes_[name][None, :]
                self._unseen(name, col, onehot.any(axis=1))
                blocks.append(onehot)
        for name in self.indicator_:
            blocks.append(missing[:, self._pos[name]][:, None])
        if not blocks:  # pragma: no cover - fit refuses a modality with no kept feature
            return np.zeros((len(x), 0), dtype=np.float32)
        return np.concatenate([b.astype(np.float32) for b in blocks], axis=1)

    def _unseen(self, name: str, codes: np.ndarray, known: np.ndarray) -> None:
        if known.all():
            return
        new = sorted({self._labels[name][int(c)] for c in codes[~known]})
        msg = (
            f"modality {self.name!r}, feature {name!r}: {int((~known).sum())} patient(s) with "
            f"a category not seen among training patients {new}"
        )
        if self.unseen == "error":
            raise DataError(msg + " (set data.preprocess.clinical.unseen: warn to encode it as 0s)")
        warnings.warn(msg + "; their one-hot block is all zero", UserWarning, stacklevel=4)

    # ------------------------------------------------------------------ saved state
    def needed(self) -> list[str]:
        """Input features :meth:`transform` reads (the kept ones)."""
        return [self.features_in_[j] for j in self.kept_]

    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Everything :meth:`fit` learnt, as JSON-ready values and numeric arrays
        (:meth:`from_state` rebuilds the fitted pipeline from them)."""
        values = {
            "pipeline": "clinical",
            "name": self.name,
            "impute": self.impute,
            "scale": self.scale,
            "unseen": self.unseen,
            **self._fitted_values(),
            "types": {str(k): str(v) for k, v in self.types_.items()},
            "labels": {k: list(v) for k, v in self._labels.items()},
            "levels": {k: list(v) for k, v in self.levels_.items()},
            "fill": _floats(self.fill_),
            "categories": {k: list(v) for k, v in self.categories_.items()},
            "codes": {k: [int(c) for c in v] for k, v in self.codes_.items()},
            "mean": _floats(self.mean_),
            "scale_by": _floats(self.scale_),
            "indicator": list(self.indicator_),
        }
        return values, {"kept": self.kept_}

    @classmethod
    def from_state(cls, values: dict[str, Any], arrays: dict[str, np.ndarray]) -> ClinicalPipeline:
        """The fitted pipeline :meth:`state` describes."""
        pipe = cls(
            values["name"], impute=values["impute"], scale=values["scale"], unseen=values["unseen"]
        )
        pipe._restore_fitted(values)
        pipe._pos = {n: j for j, n in enumerate(pipe.features_in_)}
        pipe.types_ = pd.Series(values["types"], dtype=object)
        pipe._labels = {k: list(v) for k, v in values["labels"].items()}
        pipe.levels_ = {k: list(v) for k, v in values["levels"].items()}
        pipe.fill_ = pd.Series(values["fill"], dtype=np.float32)
        pipe.categories_ = {k: list(v) for k, v in values["categories"].items()}
        pipe.codes_ = {k: np.asarray(v, dtype=np.int64) for k, v in values["codes"].items()}
        pipe.mean_ = pd.Series(values["mean"], dtype=np.float32)
        pipe.scale_ = pd.Series(values["scale_by"], dtype=np.float32)
        pipe.indicator_ = list(values["indicator"])
        pipe.kept_ = arrays["kept"].astype(np.int64)
        return pipe

    # ------------------------------------------------------------------ helpers
    def _imputed(self, x: np.ndarray) -> np.ndarray:
        fill = np.full(x.shape[1], np.nan, dtype=np.float32)
        fill[self.kept_] = self.fill_.to_numpy(dtype=np.float32)
        return np.where(np.isnan(x), fill, x).astype(np.float32, copy=False)

    def _types(self, var: pd.DataFrame) -> pd.Series:
        index = var.index.astype(str)
        if "type" not in var.columns:
            return pd.Series("numeric", index=index, dtype=object)
        types = pd.Series(var["type"].astype(str).to_numpy(), index=index, dtype=object)
        bad = types[~types.isin(CLINICAL_TYPES)]
        if len(bad):
            raise DataError(
                f"modality {self.name!r}, feature {bad.index[0]!r}: var['type'] is "
                f"{bad.iloc[0]!r}, expected one of {CLINICAL_TYPES}"
            )
        return types

    def _category_labels(self, var: pd.DataFrame) -> dict[str, list[str]]:
        labels: dict[str, list[str]] = {}
        given = var["categories"].tolist() if "categories" in var.columns else [None] * len(var)
        for name, raw in zip(self.types_.index, given, strict=True):
            if self.types_[name] != "categorical":
                continue
            if not isinstance(raw, str) or not raw:
                raise DataError(
                    f"modality {self.name!r}, feature {name!r}: categorical, but "
                    "var['categories'] does not give its labels (joined by '|' in code order)"
                )
            labels[name] = raw.split("|")
        return labels

    def _check_codes(self, x: np.ndarray) -> None:
        """Binary values are 0/1 and categorical values integer codes ``0..K-1``."""
        for name, kind in self.types_.items():
            if kind not in ("binary", "categorical"):
                continue
            col = x[:, self._pos[name]]
            col = col[~np.isnan(col)]
            k = 2 if kind == "binary" else len(self._labels[name])
            bad = (col != np.round(col)) | (col < 0) | (col >= k)
            if bad.any():
                allowed = "0 or 1" if kind == "binary" else f"integer codes 0..{k - 1}"
                raise DataError(
                    f"modality {self.name!r}, feature {name!r}: {kind} values must be "
                    f"{allowed}; found {col[bad][0]:g} ({int(bad.sum())} such value(s))"
                )


def _floats(series: pd.Series) -> dict[str, float]:
    """A float Series as ``{name: value}`` (a float32 value survives JSON exactly)."""
    return {str(k): float(v) for k, v in series.items()}
