"""``explain_run``: explain a tracked run's model and log the results into the run."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from graphfuse._device import resolve_device
from graphfuse._threads import auto_threads
from graphfuse.config import ExperimentConfig, load_config
from graphfuse.errors import DataError
from graphfuse.experiment._explain_ensemble import explain_ensemble, rebuild_members
from graphfuse.experiment._prepare import SPLITS, Prepared, prepare
from graphfuse.experiment._progress import ProgressSetting, reporting
from graphfuse.models import FusionModel
from graphfuse.tracking import RunLogger, resolve_tracking_uri

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

__all__ = ["ExplainResult", "explain_run"]


@dataclass
class ExplainResult:
    """What :func:`explain_run` produced.

    Attributes
    ----------
    attributions
        ``method -> Attribution``.
    truth
        Scores against the planted truth (synthetic cohorts; :func:`graphfuse.explain.
        score_attribution`, one block per method with a ``method`` column), else ``None``.
    agreement
        Pairwise agreement of the methods' global feature rankings
        (:func:`graphfuse.explain.agreement`), when there are at least two.
    run_id
        The run explained (and logged into, unless ``log=False``).
    prepared, model
        The rebuilt data and the model loaded from the run's checkpoint.
    config
        The run's config (its ``config.yaml``).
    """

    attributions: dict[str, Any]
    truth: pd.DataFrame | None
    agreement: pd.DataFrame | None
    run_id: str
    prepared: Prepared
    model: FusionModel
    config: ExperimentConfig | None = None

    @property
    def summary(self) -> pd.DataFrame:
        """One row per method: ``method``, ``patients``, ``seconds`` and its five
        ``top_features`` (``graphfuse explain``'s table)."""
        rows = [
            {
                "method": name,
                "patients": len(a.patients),
                "seconds": a.seconds,
                "top_features": [f for _, f in a.feature_importance().index[:5]],
            }
            for name, a in self.attributions.items()
        ]
        return pd.DataFrame(rows, columns=["method", "patients", "seconds", "top_features"])

    def print_summary(self, console: Console | None = None) -> None:
        """Print the methods, their cost and top features, and for a synthetic cohort their
        scores against the planted truth (what ``graphfuse explain`` shows)."""
        from rich.console import Console
        from rich.table import Table

        console = console or Console()
        table = Table(title=f"graphfuse explain — run {self.run_id}", title_justify="left")
        for col in ("method", "patients", "seconds", "top features"):
            table.add_column(col, justify="right" if col in ("patients", "seconds") else "left")
        for row in self.summary.itertuples(index=False):
            top = ", ".join(f"{f}" for f in row.top_features)
            table.add_row(row.method, str(row.patients), f"{row.seconds:.2f}", top)
        console.print(table)
        if self.truth is not None:
            console.print(_truth_table(self.truth))
        console.print(f"logged to run {self.run_id}: artifacts explanations/<method>/")


def _truth_table(truth: pd.DataFrame) -> Table:
    """AUPRC (and lift over random) per method and level, as a rich table."""
    from rich.table import Table

    auprc = truth[truth["metric"] == "auprc"]
    pivot = auprc.pivot_table(index="method", columns="level", values="value")
    lift = auprc.pivot_table(index="method", columns="level", values="lift")
    table = Table(title="planted truth: AUPRC (lift over random)", title_justify="left")
    table.add_column("method")
    for level in pivot.columns:
        table.add_column(level, justify="right")
    for method, row in pivot.iterrows():
        table.add_row(
            method, *(f"{row[c]:.3f} ({lift.loc[method, c]:.1f}x)" for c in pivot.columns)
        )
    return table


def explain_run(
    run_id: str,
    methods: Sequence[str],
    *,
    tracking_uri: str | None = None,
    patients: str = "all",
    target: int | str | None = None,
    seed: int = 0,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    log: bool = True,
    trust_run: bool = False,
    progress: ProgressSetting = False,
) -> ExplainResult:
    """Explain a tracked run's model with several explainers and log the results into it.

    The run's data is rebuilt from its logged ``config.yaml`` (:func:`prepare` is
    deterministic given the config) and checked against the run's data fingerprint (the
    tag ``graphfuse.data_fingerprint``: patients, labels, published split, values); a run
    without that tag is refused unless ``trust_run``. The model is rebuilt from its
    ``checkpoint/``. Each attribution is logged to
    ``explanations/<method>/`` (Parquet + JSON, :meth:`Attribution.save`) with plots
    (top features, heatmap), ``explain_seconds_<method>`` metrics, an agreement table and
    plot, and — for a synthetic cohort — scores against the planted truth
    (``explanations/truth.csv`` and ``explain_<method>_<level>_auprc`` metrics).

    Parameters
    ----------
    run_id
        The MLflow run (``graphfuse fit`` prints it).
    methods
        Registered explainers, e.g. ``["saliency", "shap", "masking", "sensitivity"]``.
    tracking_uri
        Where the run is (default: as for ``fit``: ``$MLFLOW_TRACKING_URI`` or
        ``sqlite:///mlflow.db``).
    patients
        ``"all"`` (explanations use no labels, so every patient can be explained),
        ``"test"``, ``"val"`` or ``"train"``.
    target, seed
        As in :meth:`graphfuse.explain.Explainer.explain`.
    params
        ``method -> its parameters``, e.g. ``{"shap": {"n_permutations": 64}}``.
    log
        Log into the run (``False``: compute only).
    trust_run
        Explain a run that has no data fingerprint tag (made by other code, or with the tag
        removed) on the word of its ``config.yaml`` alone (``graphfuse explain
        --trust-run``).
    progress
        ``True``: a progress bar per explainer on standard error; a callable: called as
        ``progress("explain", done, total, {"method": name})`` (the protocol of
        :class:`graphfuse.experiment.RichProgress`); ``False``: nothing.

    Raises
    ------
    DataError
        The run does not exist, has no config or checkpoint, has no data fingerprint (and
        not ``trust_run``), or its data changed since.
    """
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    from graphfuse.explain import EXPLAINERS, agreement, build_explainers
    from graphfuse.explain import run as run_explainers
    from graphfuse.models import load_checkpoint

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    uri = resolve_tracking_uri(tracking_uri)
    client = MlflowClient(tracking_uri=uri)
    try:
        run = client.get_run(run_id)
    except MlflowException:
        raise DataError(f"no MLflow run {run_id!r} in the tracking store {uri}") from None
    params = dict(params or {})
    unknown = [m for m in [*methods, *params] if m not in EXPLAINERS]
    if unknown:
        raise DataError(
            f"unknown explainer(s) {unknown}; registered: {', '.join(EXPLAINERS.names())}"
        )
    explainers = build_explainers(methods, params)
    if patients not in ("all", *SPLITS):
        raise DataError(f"patients must be 'all' or one of {SPLITS}; got {patients!r}")
    with tempfile.TemporaryDirectory(prefix="graphfuse-explain-") as tmp:
        try:
            cfg_path = client.download_artifacts(run_id, "config.yaml", tmp)
            ckpt = client.download_artifacts(run_id, "checkpoint", tmp)
        except (MlflowException, OSError):
            raise DataError(
                f"run {run_id}: no config.yaml or checkpoint/ artifact; only runs made by "
                "graphfuse fit can be explained"
            ) from None
        logged = run.data.tags.get("graphfuse.data_fingerprint")
        if logged is None and not trust_run:
            raise DataError(
                f"run {run_id}: no data fingerprint (tag graphfuse.data_fingerprint), so the data "
                "rebuilt from its config.yaml cannot be checked to be the data its model was "
                "trained on; explain it anyway with --trust-run (Python: trust_run=True)"
            )
        config = load_config(cfg_path)
        model = load_checkpoint(ckpt)
        member_models = _member_checkpoints(client, run, config, tmp)
    # a refitted run's checkpoint was trained on training + validation patients: rebuild that;
    # a cross-validation fold's model, on its fold's split
    splits = _fold_splits(client, run, config)
    cohort = None
    if splits is not None:
        cohort, splits = splits
    # a refitted or cross-validated run trained on every training patient (val empty)
    merged = config.train.refit or config.train.selection == "cv"
    prepared = prepare(config, cohort=cohort, splits=splits, refit=merged)
    if logged is not None and logged != prepared.fingerprint:
        raise DataError(
            f"run {run_id}: the data changed since the run (fingerprint {logged[:12]}… logged, "
            f"{prepared.fingerprint[:12]}… now); explanations would not be of the model's data"
        )
    data = prepared.data
    who = None if patients == "all" else prepared.splits[patients]
    threads = auto_threads(prepared.cohort.n_patients, config.train.threads)
    with reporting(progress) as report:
        common = dict(patients=who, target=target, seed=seed, threads=threads, progress=report)
        common["device"] = resolve_device(config.train.device)
        if member_models:  # a fold ensemble: its averaged output, member by member
            built = rebuild_members(config, prepared, list(member_models))
            attributions = explain_ensemble(
                [(n, m, p) for (n, m), p in zip(member_models.items(), built, strict=True)],
                explainers,
                task=config.task,
                classes=prepared.cohort.classes,
                **common,
            )
        else:
            attributions = run_explainers(model, data, explainers, **common)
    truth = _truth(attributions, prepared) if prepared.cohort.truth else None
    table = agreement(attributions) if len(attributions) > 1 else None
    if log:
        logger = RunLogger(uri, client.get_experiment(run.info.experiment_id).name)
        with logger.start(run_id=run_id):
            _log_explanations(logger, attributions, truth, table)
    return ExplainResult(attributions, truth, table, run_id, prepared, model, config)


def _member_checkpoints(client: Any, run: Any, config: Any, tmp: str) -> dict[str, Any]:
    """An ensemble run's members (``train.ensemble: folds`` / ``folds+refit``): name ->
    model from ``members/<name>/checkpoint``; empty for a single-model run."""
    from mlflow.exceptions import MlflowException

    from graphfuse.models import load_checkpoint

    if "folds" not in str(config.train.ensemble):
        return {}
    names = [n for n in run.data.tags.get("graphfuse.ensemble_members", "").split(",") if n]
    models = {}
    for name in names:
        try:
            path = client.download_artifacts(run.info.run_id, f"members/{name}/checkpoint", tmp)
        except (MlflowException, OSError):
            names = []
            break
        models[name] = load_checkpoint(path)
    if not names:
        raise DataError(
            f"run {run.info.run_id}: a fold ensemble (train.ensemble: {config.train.ensemble}) "
            "without its members' checkpoints (members/<name>/checkpoint and the tag "
            "graphfuse.ensemble_members); it cannot be explained"
        )
    return models


def _fold_splits(client: Any, run: Any, config: Any) -> tuple[Any, dict[str, np.ndarray]] | None:
    """The cohort and split of a :func:`cross_validate` fold's run (tags ``graphfuse.cv_fold``
    and ``graphfuse.cv_seed``, the parent's ``graphfuse.cv_folds``), else ``None``."""
    tags = run.data.tags
    if "graphfuse.cv_fold" not in tags:
        return None
    from graphfuse.data import load_cohort
    from graphfuse.train import stratified_folds

    parent = tags.get("mlflow.parentRunId")
    parent_run = client.get_run(parent) if parent else None
    folds = parent_run.data.tags.get("graphfuse.cv_folds") if parent_run else None
    if folds is None:
        raise DataError(
            f"run {run.info.run_id} is fold {tags['graphfuse.cv_fold']} of a cross-validation, "
            "but its parent run (with the tag graphfuse.cv_folds) is gone, so its split cannot "
            "be rebuilt; explain a graphfuse fit run instead"
        )
    # the cohort of the cross-validation's own config (its seed draws a synthetic cohort)
    cohort = load_cohort(config.data, seed=int(parent_run.data.params.get("seed", config.seed)))
    parts = stratified_folds(
        cohort.y,
        folds=int(folds),
        val_fraction=config.train.val_fraction,
        seed=int(tags.get("graphfuse.cv_seed", config.seed)),
    )
    return cohort, parts[int(tags["graphfuse.cv_fold"])]


def _truth(attributions: Mapping[str, Any], prepared: Prepared) -> pd.DataFrame:
    """Scores of every attribution against the cohort's planted truth, one block per method."""
    from graphfuse.explain import score_attribution

    blocks = []
    for name, attribution in attributions.items():
        block = score_attribution(attribution, prepared.cohort)
        blocks.append(block.assign(method=name))
    return pd.concat(blocks, ignore_index=True)


def _log_explanations(
    logger: RunLogger,
    attributions: Mapping[str, Any],
    truth: pd.DataFrame | None,
    table: pd.DataFrame | None,
) -> None:
    """Log ``explanations/<method>/`` (attribution, plots), truth scores and agreement."""
    from graphfuse.explain import agreement_figure, heatmap_figure, top_features_figure

    for name, attribution in attributions.items():
        logger.log_metrics({f"explain_seconds_{name}": attribution.seconds})
        with logger.staging() as folder:
            attribution.save(folder / "explanations" / name)
        logger.log_figure(top_features_figure(attribution), f"explanations/{name}/top_features.png")
        logger.log_figure(heatmap_figure(attribution), f"explanations/{name}/heatmap.png")
    if truth is not None:
        with logger.staging() as folder:
            (folder / "explanations").mkdir()
            truth.to_csv(folder / "explanations" / "truth.csv", index=False)
        auprc = truth[truth["metric"] == "auprc"]
        logger.log_metrics(
            {
                f"explain_{r.method}_{r.level}_auprc": r.value
                for r in auprc.itertuples()
                if r.level in ("features", "genes", "pathways")
            }
        )
    if table is not None:
        with logger.staging() as folder:
            (folder / "explanations").mkdir(exist_ok=True)
            table.to_csv(folder / "explanations" / "agreement.csv", index=False)
        logger.log_figure(agreement_figure(table), "explanations/agreement.png")
