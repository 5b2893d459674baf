"""``load_pipeline``, ``predict_run``, ``explain_new``: a saved pipeline, loaded from a
folder or a run, applied to new patients (tracked).

``graphfuse predict --run RUN --data new.yaml --out predictions.csv`` and ``graphfuse
explain --run RUN --data new.yaml`` call these.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from graphfuse.data import NewPatients, load_new_patients
from graphfuse.errors import DataError
from graphfuse.experiment._ensemble import EnsemblePipeline, load_pipeline_folder
from graphfuse.experiment._pipeline import Pipeline
from graphfuse.experiment._progress import ProgressSetting, reporting
from graphfuse.tracking import RunLogger, resolve_tracking_uri
from graphfuse.train import classification_metrics

if TYPE_CHECKING:
    from rich.console import Console

__all__ = [
    "OUTPUT_FORMATS",
    "PredictResult",
    "explain_new",
    "load_pipeline",
    "predict_run",
    "read_new_data",
]

#: Output file suffixes ``predict_run`` writes.
OUTPUT_FORMATS = (".csv", ".parquet", ".h5mu")
#: What ``predict_run`` and ``explain_new`` take as a loaded pipeline.
_LOADED = (Pipeline, EnsemblePipeline)


def load_pipeline(
    run: str | Path,
    *,
    tracking_uri: str | None = None,
) -> Pipeline | EnsemblePipeline:
    """A saved pipeline: from a folder (``pipeline.json`` + ``arrays.npz``; a fold
    ensemble's ``ensemble.json`` + ``members/``, read as an :class:`EnsemblePipeline`), or
    from the ``pipeline/`` artifact of the MLflow run with this id.

    Parameters
    ----------
    run
        A folder, or an MLflow run id (``graphfuse fit`` prints it).
    tracking_uri
        Where the run is (default: as for ``fit``: ``$MLFLOW_TRACKING_URI``, else
        ``sqlite:///mlflow.db``).

    Raises
    ------
    DataError
        No such folder or run, or the run has no pipeline (made before pipelines were
        saved, or fitted transductively).

    Examples
    --------
    >>> pipe = load_pipeline("RUN_ID")  # doctest: +SKIP
    >>> pipe.predict("new_patients.h5mu")  # doctest: +SKIP
    """
    path = Path(run)
    if path.is_dir():
        return load_pipeline_folder(path)
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    uri = resolve_tracking_uri(tracking_uri)
    client = MlflowClient(tracking_uri=uri)
    try:
        client.get_run(str(run))
    except MlflowException:
        raise DataError(
            f"{run!r} is neither a pipeline folder nor an MLflow run in the tracking store {uri}"
        ) from None
    with tempfile.TemporaryDirectory(prefix="graphfuse-pipeline-") as tmp:
        try:
            folder = client.download_artifacts(str(run), "pipeline", tmp)
        except (MlflowException, OSError):
            raise DataError(
                f"run {run}: no pipeline/ artifact (runs fitted before pipelines were saved, "
                "and transductive runs, have none); refit it to score new patients"
            ) from None
        started = time.perf_counter()
        pipeline = load_pipeline_folder(folder)
        pipeline.info["load_seconds"] = time.perf_counter() - started
    pipeline.info["run_id"] = str(run)
    return pipeline


def read_new_data(path: str | Path) -> NewPatients:
    """The new patients a YAML file's ``data:`` section describes (as in an experiment
    config; a top-level ``seed`` is the synthetic generator's), or an ``.h5mu`` file."""
    from graphfuse.config import load_data_section

    path = Path(path)
    if path.suffix.lower() == ".h5mu":
        return NewPatients.coerce(path)
    data, seed = load_data_section(path)
    return load_new_patients(data, seed=seed)


@dataclass
class PredictResult:
    """What :func:`predict_run` produced.

    Attributes
    ----------
    predictions
        :meth:`Pipeline.predict`'s table.
    source
        The run id (or folder) of the pipeline.
    metrics
        Where the new patients have labels: accuracy, F1, ROC AUC (classification).
    out
        The file written, if any.
    run_id, tracking_uri
        The MLflow run of the prediction (``None`` with ``track=False``).
    seconds
        ``load`` (the pipeline), ``data`` (reading the new patients), ``predict``.
    """

    predictions: pd.DataFrame
    source: str
    metrics: dict[str, float] = field(default_factory=dict)
    out: Path | None = None
    run_id: str | None = None
    tracking_uri: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def summary(self) -> pd.DataFrame:
        """Patients per predicted class (or risk group) and modality combination."""
        pred = self.predictions
        column = "prediction" if "prediction" in pred.columns else "risk_group"
        if column not in pred.columns:
            return pd.DataFrame({"patients": [len(pred)]})
        return pred.groupby([column, "modalities"]).size().rename("patients").reset_index()

    def print_summary(self, console: Console | None = None) -> None:
        """Print the predictions' summary, the metrics and where they went."""
        from rich.console import Console
        from rich.table import Table

        console = console or Console()
        table = Table(
            title=f"graphfuse predict — {len(self.predictions)} patients, run {self.source}",
            title_justify="left",
        )
        summary = self.summary
        for col in summary.columns:
            table.add_column(str(col), justify="right" if col == "patients" else "left")
        for row in summary.itertuples(index=False):
            table.add_row(*(str(v) for v in row))
        console.print(table)
        if self.metrics:
            shown = ", ".join(f"{k} {v:.3f}" for k, v in self.metrics.items())
            console.print(f"against the labels given: {shown}")
        load, total = self.seconds.get("load", 0.0), sum(self.seconds.values())
        console.print(f"loaded the pipeline in {load:.2f} s; {total:.2f} s in all")
        if self.out is not None:
            console.print(f"written to    {self.out}")
        if self.run_id is not None:
            console.print(f"MLflow run    {self.run_id} (tag graphfuse.source_run={self.source})")


def predict_run(
    run: str | Path | Pipeline | EnsemblePipeline,
    data: Any,
    *,
    out: str | Path | None = None,
    allow_missing_features: bool = False,
    track: bool = True,
    tracking_uri: str | None = None,
    experiment: str | None = None,
    device: str | None = None,
) -> PredictResult:
    """Score new patients with a saved pipeline, write the predictions, track the run.

    Parameters
    ----------
    run
        An MLflow run id or a pipeline folder (:func:`load_pipeline`), or a pipeline
        (a :class:`Pipeline` or an :class:`EnsemblePipeline`).
    data
        A YAML file with a ``data:`` section (:func:`read_new_data`), an ``.h5mu`` path,
        or anything :meth:`Pipeline.predict` takes.
    out
        Write the predictions here: ``.csv``, ``.parquet``, or ``.h5mu`` (the new patients'
        tables with the predictions in their slots, :meth:`Pipeline.predict` ``write``).
    allow_missing_features
        Impute features the tables lack from the training state.
    track
        Log an MLflow run (tag ``graphfuse.source_run``; the predictions as an artifact;
        with labels, the metrics) in the pipeline's experiment (or ``experiment``).
    tracking_uri
        Where the source run is and the prediction run goes (default as for ``fit``).
    device
        Where to score (``None``: the run's ``train.device``), see :meth:`Pipeline.predict`.

    Raises
    ------
    DataError
        An unknown output suffix, or new data the pipeline refuses.
    """
    seconds: dict[str, float] = {}
    t = time.perf_counter()
    out_path = Path(out) if out is not None else None
    if out_path is not None and out_path.suffix.lower() not in OUTPUT_FORMATS:
        raise DataError(
            f"--out {out_path}: unknown format {out_path.suffix!r}; expected one of "
            f"{', '.join(OUTPUT_FORMATS)}"
        )
    pipeline = run if isinstance(run, _LOADED) else load_pipeline(run, tracking_uri=tracking_uri)
    source = str(pipeline.run_id or run)
    seconds["load"] = time.perf_counter() - t
    t = time.perf_counter()
    if isinstance(data, (str, Path)) and Path(data).suffix.lower() in (".yaml", ".yml", ".h5mu"):
        new = read_new_data(data)
    else:
        new = NewPatients.coerce(data)
    seconds["data"] = time.perf_counter() - t
    t = time.perf_counter()
    if out_path is not None and out_path.suffix.lower() == ".h5mu":
        mdata = _mudata(new)
        frame = pipeline.predict(
            mdata, allow_missing_features=allow_missing_features, write=True, device=device
        )
    else:
        mdata = None
        frame = pipeline.predict(new, allow_missing_features=allow_missing_features, device=device)
    seconds["predict"] = time.perf_counter() - t
    metrics = _metrics(frame, pipeline)
    if out_path is not None:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        suffix = out_path.suffix.lower()
        if suffix == ".csv":
            frame.to_csv(out_path)
        elif suffix == ".parquet":
            frame.to_parquet(out_path)
        else:
            assert mdata is not None
            for adata in mdata.mod.values():
                raw = adata.uns.pop("raw_values", None)  # a DataFrame table's own values
                if raw is not None:
                    adata.obsm["values"] = raw.astype(str)
            mdata.write(str(out_path))
    result = PredictResult(frame, source, metrics, out_path, seconds=seconds)
    if track:
        _track(result, pipeline, data, allow_missing_features, tracking_uri, experiment)
    return result


def _mudata(new: NewPatients) -> Any:
    """The new patients' tables as a ``MuData`` (for an ``.h5mu`` output)."""
    import mudata as md

    mdata = md.MuData({m: a.copy() for m, a in new.tables.items()})
    obs = new.obs.reindex(mdata.obs_names) if len(new.obs.columns) else None
    if obs is not None:
        for col in obs.columns:
            mdata.obs[col] = obs[col].to_numpy()
    return mdata


def _metrics(frame: pd.DataFrame, pipeline: Pipeline | EnsemblePipeline) -> dict[str, float]:
    """Classification metrics against the labels the new patients came with."""
    if "label" not in frame.columns or pipeline.task != "classification":
        return {}
    known = frame["label"].notna().to_numpy()
    lookup = {c: i for i, c in enumerate(pipeline.classes)}
    codes = frame["label"][known].map(lookup)
    if codes.isna().any():
        unknown = sorted(set(frame["label"][known][codes.isna()]))
        raise DataError(
            f"labels {unknown} of the new patients are not classes of the run {pipeline.classes}"
        )
    y = codes.to_numpy(dtype=np.int64)
    if len(np.unique(y)) < 2:
        return {}
    proba = frame.loc[known, [f"p_{c}" for c in pipeline.classes]].to_numpy()
    metrics = classification_metrics(y, proba, classes=pipeline.classes)
    return {k: float(v) for k, v in metrics.items()}


def _predict_run_name(pipeline: Pipeline | EnsemblePipeline, uri: str) -> str:
    """``<the training run's name>-predict`` (the run's config name where the training run
    is not in this store)."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    from graphfuse.experiment._track import run_name

    name = None
    if pipeline.run_id:
        try:
            name = MlflowClient(tracking_uri=uri).get_run(pipeline.run_id).info.run_name
        except MlflowException:
            name = None
    return f"{name or run_name(pipeline.config)}-predict"


def _track(
    result: PredictResult,
    pipeline: Pipeline | EnsemblePipeline,
    data: Any,
    allow_missing: bool,
    tracking_uri: str | None,
    experiment: str | None,
) -> None:
    uri = resolve_tracking_uri(tracking_uri)
    logger = RunLogger(
        uri, experiment or pipeline.config.tracking.experiment, _predict_run_name(pipeline, uri)
    )
    tags = {
        "graphfuse.kind": "predict",
        "graphfuse.source_run": result.source,
        "graphfuse.model": pipeline.config.model.name,
        "graphfuse.task": pipeline.task,
    }
    with logger.start(tags=tags):
        logger.log_params(
            {
                "data": str(data) if isinstance(data, (str, Path)) else type(data).__name__,
                "patients": len(result.predictions),
                "allow_missing_features": allow_missing,
                "members": len(pipeline) if isinstance(pipeline, EnsemblePipeline) else 1,
            }
        )
        logger.log_metrics({f"seconds_{k}": v for k, v in result.seconds.items()})
        if result.metrics:
            logger.log_metrics({f"new_{k}": v for k, v in result.metrics.items()})
        with logger.staging() as folder:
            result.predictions.to_csv(folder / "predictions.csv")
    result.run_id, result.tracking_uri = logger.run_id, uri


def explain_new(
    run: str | Path | Pipeline | EnsemblePipeline,
    data: Any,
    methods: Sequence[str],
    *,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    target: int | str | None = None,
    seed: int = 0,
    allow_missing_features: bool = False,
    tracking_uri: str | None = None,
    device: str | None = None,
    progress: ProgressSetting = False,
) -> dict[str, Any]:
    """Explain a saved pipeline's predictions for new patients with several explainers.

    ``progress`` as in :func:`graphfuse.experiment.explain_run`: stage ``"explain"`` per
    method, ``"patients"`` per batch of patients inside one.

    Returns
    -------
    dict
        ``method -> Attribution`` over the new patients.
    """
    pipeline = run if isinstance(run, _LOADED) else load_pipeline(run, tracking_uri=tracking_uri)
    is_file = isinstance(data, (str, Path)) and Path(data).suffix.lower() in (
        ".yaml",
        ".yml",
        ".h5mu",
    )
    new = read_new_data(data) if is_file else NewPatients.coerce(data)
    params = dict(params or {})
    out = {}
    with reporting(progress) as report:

        def batches(stage: str, done: int, total: int, info: Mapping[str, Any]) -> None:
            if report is not None and stage == "patients":
                report(stage, done, total, info)

        for i, m in enumerate(methods):
            if report is not None:
                report("explain", i, len(methods), {"method": m})
            out[m] = pipeline.explain(
                new,
                m,
                target=target,
                seed=seed,
                allow_missing_features=allow_missing_features,
                device=device,
                progress=batches,
                **dict(params.get(m, {})),
            )
        if report is not None:
            report("explain", len(methods), len(methods), {})
    return out
