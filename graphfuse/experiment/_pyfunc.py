"""The MLflow model of a run: a ``pyfunc`` over the saved pipeline, logged from code.

``mlflow.pyfunc.load_model("runs:/<run>/model").predict(table)`` scores new patients with
the run's :class:`~graphfuse.experiment.Pipeline`. Nothing is pickled: the model is logged
"from code" (``_pyfunc_code.py``, which only imports :class:`GraphfuseModel`) with the
pipeline folder as its artifact, and loading reads that folder (JSON + ``.npz``).

The signature is a table with one row per patient: a ``patient`` column (ids; else the
index), one ``<modality>/<feature>`` column per feature the pipeline reads (a patient
lacking a modality leaves that modality's columns empty), or a single ``h5mu`` column
holding the path of an ``.h5mu`` file. :func:`wide_table` builds the table from a dict of
per-modality DataFrames.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from graphfuse.errors import DataError

__all__ = [
    "GraphfuseModel",
    "from_wide_table",
    "import_pyfunc",
    "log_pyfunc",
    "signature",
    "wide_table",
]

_CODE = Path(__file__).with_name("_pyfunc_code.py")
_SEP = "/"


def import_pyfunc() -> Any:
    """``mlflow.pyfunc``, imported without the notice MLflow's own modules raise on import
    (about type hints in its chat-agent types)."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*Any type hint is inferred as AnyType", UserWarning)
        import mlflow.pyfunc
    return mlflow.pyfunc


def wide_table(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Per-modality tables (index = patient ids) as one table the MLflow model takes: a
    ``patient`` column and ``<modality>/<feature>`` columns, empty where a patient lacks
    the modality.

    Examples
    --------
    >>> rna = pd.DataFrame({"APOE": [1.0, 2.0]}, index=["p1", "p2"])
    >>> img = pd.DataFrame({"hippocampus": [0.5]}, index=["p2"])
    >>> wide_table({"rna": rna, "img": img}).to_dict("list")
    {'patient': ['p1', 'p2'], 'rna/APOE': [1.0, 2.0], 'img/hippocampus': [nan, 0.5]}
    """
    ids: list[str] = []
    for table in tables.values():
        ids += [str(p) for p in table.index if str(p) not in set(ids)]
    parts = [pd.DataFrame({"patient": ids}, index=ids)]
    for name, table in tables.items():
        frame = table.copy()
        frame.index = frame.index.astype(str)
        frame.columns = [f"{name}{_SEP}{c}" for c in frame.columns]
        parts.append(frame.reindex(ids))
    return pd.concat(parts, axis=1).reset_index(drop=True)


def from_wide_table(frame: pd.DataFrame, modalities: list[str]) -> dict[str, pd.DataFrame]:
    """The per-modality tables of a :func:`wide_table`: a patient whose columns of a
    modality are all empty lacks it."""
    ids = frame["patient"].astype(str) if "patient" in frame.columns else frame.index.astype(str)
    out = {}
    for m in modalities:
        cols = [c for c in frame.columns if isinstance(c, str) and c.startswith(m + _SEP)]
        if not cols:
            continue
        part = frame[cols].copy()
        part.columns = [c[len(m) + 1 :] for c in cols]
        part.index = pd.Index(ids.to_numpy(), name="patient")
        has = part.notna().any(axis=1).to_numpy()
        if has.any():
            out[m] = _typed(part[has])
    return out


def _typed(part: pd.DataFrame) -> pd.DataFrame:
    """Object columns holding only numbers back to floats (schema enforcement may leave
    optional numeric columns as objects)."""
    for c in part.columns:
        if part[c].dtype == object:
            parsed = pd.to_numeric(part[c], errors="coerce")
            if (parsed.notna() == part[c].notna()).all():
                part[c] = parsed.astype(np.float64)
    return part


def signature(pipeline: Any) -> Any:
    """The MLflow signature of a pipeline's model (see the module docstring)."""
    import_pyfunc()
    from mlflow.models import ModelSignature
    from mlflow.types.schema import AnyType, ColSpec, Schema

    inputs = [
        ColSpec("string", "patient", required=False),
        ColSpec("string", "h5mu", required=False),
    ]
    for m, features in pipeline.input_features().items():
        levels = _levels(pipeline, m)
        for f in features:
            kind = AnyType() if f in levels else "double"
            inputs.append(ColSpec(kind, f"{m}{_SEP}{f}", required=False))
    if pipeline.task == "survival":
        outputs = [ColSpec("double", "risk"), ColSpec("string", "risk_group", required=False)]
    else:
        outputs = [ColSpec("double", f"p_{c}") for c in pipeline.classes]
        outputs.append(ColSpec("string", "prediction"))
    outputs.append(ColSpec("string", "modalities"))
    return ModelSignature(inputs=Schema(inputs), outputs=Schema(outputs))


def _levels(pipeline: Any, modality: str) -> dict[str, Any]:
    """Category levels of ``modality``'s categorical features, over every member of an
    ensemble (:class:`~graphfuse.experiment.EnsemblePipeline`) or of one pipeline."""
    levels: dict[str, Any] = {}
    for member in getattr(pipeline, "members", [pipeline]):
        fitted = member.preprocessor.fitted_.get(modality)
        levels |= getattr(fitted, "levels_", {})
    return levels


def log_pyfunc(pipeline_folder: Path, pipeline: Any, register: str | None = None) -> str:
    """Log the MLflow model of the active run (``model``), from code, with the pipeline
    folder as its artifact; returns its model URI. ``register``: also register it under
    this name in the model registry."""
    import logging

    from graphfuse.tracking import package_versions

    pyfunc = import_pyfunc()

    import warnings

    quiet = logging.getLogger("mlflow.models.model")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # the "models from code" notice
    try:
        with warnings.catch_warnings():
            # no input example, on purpose: it would put patients' values into the model
            warnings.filterwarnings("ignore", ".*An input example was not provided", UserWarning)
            info = pyfunc.log_model(
                name="model",
                python_model=str(_CODE),
                artifacts={"pipeline": str(pipeline_folder)},
                signature=signature(pipeline),
                pip_requirements=[f"torch=={package_versions()['torch']}", "graphfuse"],
                registered_model_name=register,
            )
    finally:
        quiet.setLevel(level)
    return info.model_uri


class GraphfuseModel:
    """The ``pyfunc`` model: a :class:`~graphfuse.experiment.Pipeline` (or an
    :class:`~graphfuse.experiment.EnsemblePipeline`) behind MLflow's ``predict`` (created
    through ``_pyfunc_code.py``)."""

    def __init__(self) -> None:
        self.pipeline: Any = None

    def load_context(self, context: Any) -> None:
        from graphfuse.experiment._ensemble import load_pipeline_folder

        self.pipeline = load_pipeline_folder(context.artifacts["pipeline"])

    def predict(self, context, model_input, params=None):
        """Predictions (:meth:`Pipeline.predict`'s table, ids as a ``patient`` column) of
        a wide table, a dict of per-modality DataFrames or the path of an ``.h5mu``."""
        if self.pipeline is None:
            self.load_context(context)
        new: Any = model_input
        if isinstance(model_input, (str, Path)):
            new = str(model_input)
        elif isinstance(model_input, pd.DataFrame):
            paths = model_input["h5mu"].dropna() if "h5mu" in model_input.columns else []
            if len(paths):
                if len(set(paths)) > 1:
                    raise DataError("one .h5mu path per call (the h5mu column holds several)")
                new = str(paths.iloc[0])
            else:
                new = from_wide_table(model_input, self.pipeline.modalities)
        frame = self.pipeline.predict(new)
        return frame.reset_index()
