"""New patients' tables checked against a fitted pipeline and preprocessed by it.

Every way new data can disagree with what the pipeline was fitted on is either refused
with an error naming the modality, feature or patient, or — where the pipeline can
proceed without changing what the user gave — warned about once:

- a modality the model never saw, a patient with none of the trained modalities,
  duplicated patient ids: errors;
- a feature the preprocessing reads that a table lacks: an error, or with
  ``allow_missing_features`` imputed from the training state (a warning counts them per
  patient);
- extra features: ignored, one warning per modality;
- text in a numeric feature, an infinite value, a missing value where the run imputes
  none, a clinical category the training cohort never had: errors;
- values far from the training patients' (raw counts where log values were fitted, say):
  a warning.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from graphfuse.data import ModalityMatrix, NewPatients, Preprocessor, check_transformed
from graphfuse.errors import DataError

__all__ = ["UNLIKE_TRAINING", "NewMatrices", "preprocess_new"]

#: Median ``|x - training median| / training deviation`` above which new values are taken
#: for a different preprocessing than the training tables' (about 0.7 for values like them;
#: counts against log values give hundreds).
UNLIKE_TRAINING = 10.0


@dataclass
class NewMatrices:
    """New patients preprocessed by a fitted pipeline.

    Attributes
    ----------
    matrices
        Modality -> :class:`~graphfuse.data.ModalityMatrix` over the new patients, every
        trained modality (NaN rows for patients lacking it).
    imputed
        Patients x modalities: how many features each patient's table lacked that were
        imputed from the training state (``allow_missing_features``).
    """

    matrices: dict[str, ModalityMatrix]
    imputed: pd.DataFrame


def preprocess_new(
    pre: Preprocessor,
    kinds: Mapping[str, str],
    new: NewPatients,
    *,
    allow_missing_features: bool = False,
) -> NewMatrices:
    """Check ``new`` against the fitted preprocessing ``pre`` and transform it.

    Parameters
    ----------
    pre
        The pipeline's fitted preprocessor (one fitted pipeline per trained modality).
    kinds
        Trained modality -> kind.
    new
        The new patients.
    allow_missing_features
        Impute features a table lacks from the training state instead of refusing.

    Raises
    ------
    DataError
        See the module docstring.
    """
    trained = list(pre.fitted_)
    unknown = [m for m in new.tables if m not in trained]
    if unknown:
        raise DataError(
            f"{new.source}: modality {unknown[0]!r} was not among the modalities the model was "
            f"trained on {trained}; a model cannot use a modality it never saw (leave it out)"
        )
    if new.n_patients == 0:
        raise DataError(f"{new.source}: no patient to score")
    avail = new.availability(trained)
    none = avail.index[~avail.any(axis=1).to_numpy()]
    if len(none):
        raise DataError(
            f"{new.source}: {len(none)} patient(s) have none of the trained modalities "
            f"{trained}, e.g. {list(none[:5])}; a patient needs at least one to be scored"
        )
    matrices: dict[str, ModalityMatrix] = {}
    imputed = pd.DataFrame(0, index=new.patients, columns=trained, dtype=np.int64)
    for name in trained:
        pipe = pre.fitted_[name]
        has = avail[name].to_numpy()
        full = np.full((new.n_patients, len(pipe.features_out_)), np.nan, np.float32)
        if has.any():
            table = new.tables[name]
            rows = new.patients.get_indexer(table.obs_names.astype(str))
            where = f"{new.source}, modality {name!r}"
            x, lacking = _aligned(pipe, kinds[name], table, where, allow_missing_features)
            imputed.iloc[rows, trained.index(name)] = lacking
            _check_values(pipe, x, table.obs_names, where, set(table.var_names.astype(str)))
            if kinds[name] != "clinical":
                _check_scale(pipe, x, where)
            full[rows] = check_transformed(pipe, pipe.transform(x), table.obs_names)
        matrices[name] = ModalityMatrix(name, kinds[name], full, list(pipe.features_out_), has)
    return NewMatrices(matrices, imputed)


def _aligned(
    pipe: object, kind: str, table: object, where: str, allow_missing: bool
) -> tuple[np.ndarray, np.ndarray]:
    """The table's values in the fitted pipeline's input order (NaN where a feature is
    absent and unused), clinical values coded as the training cohort coded them; and per
    row the number of needed features imputed because the table lacks them."""
    features = list(pipe.features_in_)  # type: ignore[attr-defined]
    needed = pipe.needed()  # type: ignore[attr-defined]
    given = [str(f) for f in table.var_names]  # type: ignore[attr-defined]
    have = set(given)
    absent = [f for f in needed if f not in have]
    if absent and not allow_missing:
        raise DataError(
            f"{where}: {len(absent)} feature(s) the model needs are missing from the table, "
            f"e.g. {absent[:5]}; pass allow_missing_features (graphfuse predict "
            "--allow-missing-features) to impute them from the training patients instead"
        )
    known = set(features)
    extra = [f for f in given if f not in known]
    if extra:
        warnings.warn(
            f"{where}: ignoring {len(extra)} feature(s) the model was not trained on, e.g. "
            f"{extra[:5]}",
            UserWarning,
            stacklevel=4,
        )
    n = table.n_obs  # type: ignore[attr-defined]
    if absent:
        warnings.warn(
            f"{where}: imputing {len(absent)} missing feature(s) per patient from the training "
            f"patients' values (e.g. {absent[:5]})",
            UserWarning,
            stacklevel=4,
        )
    x = np.full((n, len(features)), np.nan, dtype=np.float32)
    col = {f: j for j, f in enumerate(given)}
    if kind == "clinical":
        _clinical_values(pipe, table, x, features, col, where)
    else:
        raw = table.X.toarray() if hasattr(table.X, "toarray") else table.X  # type: ignore[attr-defined]
        raw = _numeric(raw, table, given, where)
        for j, f in enumerate(features):
            if f in col:
                x[:, j] = raw[:, col[f]]
    return x, np.full(n, len(absent), dtype=np.int64)


def _numeric(raw: object, table: object, given: list[str], where: str) -> np.ndarray:
    """A table's values as float32; text is an error naming the feature and patient."""
    frame = getattr(table, "uns", {}).get("raw_values")
    if frame is None:
        return np.asarray(raw, dtype=np.float32)
    out = np.empty(frame.shape, dtype=np.float32)
    for j, f in enumerate(given):
        values = pd.to_numeric(frame.iloc[:, j], errors="coerce")
        bad = values.isna() & frame.iloc[:, j].notna()
        if bad.any():
            pid = frame.index[bad.to_numpy()][0]
            raise DataError(
                f"{where}, feature {f!r}, patient {pid!r}: value {frame.iloc[:, j][pid]!r} is "
                "not a number"
            )
        out[:, j] = values.to_numpy(dtype=np.float32)
    return out


def _clinical_values(
    pipe: object,
    table: object,
    x: np.ndarray,
    features: list[str],
    col: Mapping[str, int],
    where: str,
) -> None:
    """Fill ``x`` with a clinical table's values coded as the training cohort coded them
    (labels matched by name, not by code)."""
    types = pipe.types_  # type: ignore[attr-defined]
    levels = pipe.levels_  # type: ignore[attr-defined]
    frame = getattr(table, "uns", {}).get("raw_values")
    var = table.var  # type: ignore[attr-defined]
    ids = table.obs_names  # type: ignore[attr-defined]
    own = var["categories"] if "categories" in var.columns else None
    raw_x = None
    if frame is None:
        raw_x = table.X.toarray() if hasattr(table.X, "toarray") else np.asarray(table.X)  # type: ignore[attr-defined]
    for j, f in enumerate(features):
        if f not in col:
            continue
        if frame is not None:
            values = frame.iloc[:, col[f]]
        else:
            codes = pd.Series(np.asarray(raw_x[:, col[f]], dtype=np.float64), index=ids)
            labels = own.iloc[col[f]] if own is not None else ""
            if isinstance(labels, str) and labels:
                names = labels.split("|")
                values = codes.map(lambda c, names=names: names[int(c)] if pd.notna(c) else None)
            else:
                values = codes
        x[:, j] = _code(values, f, types[f], levels.get(f), where)


def _code(
    values: pd.Series, feature: str, kind: str, levels: list[str] | None, where: str
) -> np.ndarray:
    """One clinical column as the training cohort coded it: a level's position in
    ``levels``, or the number itself (numeric, ordinal without levels)."""
    present = values.notna().to_numpy()
    if levels is None:
        numbers = pd.to_numeric(values, errors="coerce")
        bad = numbers.isna().to_numpy() & present
        if bad.any():
            pid = values.index[bad][0]
            raise DataError(
                f"{where}, feature {feature!r}, patient {pid!r}: value {values[pid]!r} is not a "
                f"number, but the model's {kind} feature {feature!r} was numeric"
            )
        return numbers.to_numpy(dtype=np.float32)
    lookup = {label: i for i, label in enumerate(levels)}
    out = np.full(len(values), np.nan, dtype=np.float32)
    for i, v in enumerate(values.to_numpy(dtype=object)):
        if not present[i]:
            continue
        label = _label(v)
        if label not in lookup:
            raise DataError(
                f"{where}, feature {feature!r}, patient {values.index[i]!r}: value {label!r} is "
                f"not one of the categories the model was trained with {levels}"
            )
        out[i] = lookup[label]
    return out


def _label(v: object) -> str:
    """How a value is written as a level (``1.0`` -> ``"1"``, as the readers write it)."""
    if isinstance(v, (bool, np.bool_)):
        v = float(v)
    if isinstance(v, (int, float, np.integer, np.floating)):
        f = float(v)
        return str(int(f)) if f.is_integer() else repr(f)
    return str(v)


def _check_values(pipe: object, x: np.ndarray, ids: pd.Index, where: str, given: set[str]) -> None:
    """No infinite value; no missing value where the run imputes none (among the needed
    features the table has)."""
    features = pipe.features_in_  # type: ignore[attr-defined]
    needed = set(pipe.needed())  # type: ignore[attr-defined]
    cols = np.array([f in needed and f in given for f in features])
    bad = np.isinf(x) & cols
    impute = pipe.impute  # type: ignore[attr-defined]
    if impute == "none":
        bad |= np.isnan(x) & cols
    if bad.any():
        r, c = np.argwhere(bad)[0]
        what = "infinite" if np.isinf(x[r, c]) else "missing (NaN), and the run imputes none"
        raise DataError(
            f"{where}, feature {features[c]!r}, patient {ids[r]!r}: value is {what}; "
            f"{int(bad.sum())} such value(s) in this modality"
        )


def _check_scale(pipe: object, x: np.ndarray, where: str) -> None:
    """Warn when values lie far from the training patients' (another preprocessing)."""
    distance = pipe.unlike_training(x)  # type: ignore[attr-defined]
    if np.isfinite(distance) and distance > UNLIKE_TRAINING:
        warnings.warn(
            f"{where}: values lie far from the training patients' (median distance "
            f"{distance:.3g} training deviations from the training median, about 0.7 for "
            "patients like them): were they preprocessed like the training tables (e.g. raw "
            "counts where log values were fitted)?",
            UserWarning,
            stacklevel=4,
        )
