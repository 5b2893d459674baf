"""The commands ``fit``, ``tune``, ``predict``, ``explain``, ``benchmark`` and ``cv``; the
options they share are in ``_options`` (and importable from here)."""

from __future__ import annotations

import traceback
from pathlib import Path
from typing import Any

import click

import graphfuse
from graphfuse.cli._options import (
    config_option,
    device_option,
    explainer_params,
    fanout_options,
    overrides_option,
    progress_option,
    show_progress,
    tracking_uri_option,
    with_tracking_uri,
)
from graphfuse.errors import GraphfuseError

__all__ = [
    "config_option",
    "device_option",
    "main",
    "overrides_option",
    "progress_option",
    "tracking_uri_option",
]


class _Group(click.Group):
    """Turns user errors (bad config, bad data) into one paragraph, not a traceback; a
    command stopped by Ctrl-C or ``SIGTERM`` into one line and exit status 130 or 143."""

    def invoke(self, ctx: click.Context) -> Any:
        from graphfuse.tracking import Terminated

        try:
            return super().invoke(ctx)
        except GraphfuseError as exc:
            click.secho(f"error: {exc}", fg="red", err=True)
            ctx.exit(2)
        except EOFError as exc:  # click alone would print a bare "Aborted!"
            frame = traceback.extract_tb(exc.__traceback__)[-1]
            click.secho(
                f"error: a file ended before its end ({type(exc).__name__}: {exc or 'no detail'}, "
                f"raised in {Path(frame.filename).name}:{frame.lineno}); a file this command "
                "read is truncated or empty",
                fg="red",
                err=True,
            )
            ctx.exit(2)
        except KeyboardInterrupt as exc:
            name = "SIGTERM" if isinstance(exc, Terminated) else "Ctrl-C"
            runs = getattr(exc, "graphfuse_runs", [])
            done = f"; MLflow run {', '.join(runs)} ended KILLED" if runs else ""
            click.secho(f"stopped by {name}{done}", fg="red", err=True)
            ctx.exit(143 if isinstance(exc, Terminated) else 130)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(graphfuse.__version__, prog_name="graphfuse")
def main() -> None:
    """graphfuse: graph-based fusion of multimodal biomedical data.

    Train a model from an experiment config with `graphfuse fit --config configs/ad.yaml`;
    every run is tracked in MLflow (default store: sqlite:///mlflow.db in the current
    folder; browse it with `mlflow ui --backend-store-uri sqlite:///mlflow.db`). Search
    hyper-parameters with `graphfuse tune --config CONFIG --trials 20` (the space: the
    config's tune: section).
    """


@main.command()
@config_option("Experiment config (YAML), e.g. configs/ad.yaml.")
@overrides_option
@tracking_uri_option
@progress_option("Training progress bar")
@click.option(
    "--dry-run", is_flag=True, help="Validate and print the resolved config; train nothing."
)
def fit(
    config_path: str,
    overrides: tuple[str, ...],
    tracking_uri: str | None,
    progress: bool | None,
    dry_run: bool,
) -> None:
    """Train and evaluate a model as an experiment config describes.

    Builds the cohort, splits it (stratified, from the seed), fits preprocessing and
    the patient graphs on training patients, trains with early stopping on the
    validation split, reports accuracy / F1 / ROC AUC on the test split, and logs the
    run to MLflow (config, seed, versions, data fingerprint, per-epoch metrics, ROC
    plot, model).
    """
    from graphfuse.config import load_config

    cfg = load_config(config_path, with_tracking_uri(overrides, tracking_uri))
    if dry_run:
        click.echo(cfg.to_yaml(), nl=False)
        return
    from graphfuse.experiment import fit as run_fit

    run_fit(cfg, progress=show_progress(progress)).print_summary()


@main.command()
@config_option("Experiment config (YAML) with a tune: section, e.g. configs/ad_quick.yaml.")
@click.option(
    "--trials",
    "-n",
    type=click.IntRange(min=1),
    default=None,
    help="Trials to run now, added to the study's earlier ones (default: tune.trials).",
)
@overrides_option
@click.option(
    "--storage",
    default=None,
    metavar="URL",
    help="Optuna storage: sqlite:///tune.db, postgresql://user@host/db or a journal file "
    "path (default: tune.storage, else optuna.journal beside the MLflow store).",
)
@click.option(
    "--study",
    default=None,
    metavar="NAME",
    help="Study name; an existing study resumes (default: tune.study, else the config's "
    "file name).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    metavar="S",
    help="Start no new trial after S seconds (default: tune.timeout).",
)
@click.option(
    "--workers",
    "-w",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Workers on this machine sharing the study, one trial each at a time: this "
    "process and N-1 more; together they run --trials trials.",
)
@tracking_uri_option
@progress_option("Progress bar over the trials, with the best value so far,")
def tune(
    config_path: str,
    trials: int | None,
    overrides: tuple[str, ...],
    storage: str | None,
    study: str | None,
    timeout: float | None,
    workers: int,
    tracking_uri: str | None,
    progress: bool | None,
) -> None:
    """Search hyper-parameters over the config's tune.space with Optuna.

    Each trial trains the config with its values applied, reports the validation metric
    every epoch (unpromising trials are pruned) and is an MLflow run nested under the
    study's parent run. The best trial is chosen on validation patients only; test metrics
    are shown but never used to choose. Run the same command again to resume the study.
    """
    from graphfuse.config import load_config
    from graphfuse.experiment import tune as run_tune

    overrides = with_tracking_uri(overrides, tracking_uri)
    cfg = load_config(config_path, overrides)
    result = run_tune(
        cfg,
        trials=trials,
        storage=storage,
        study=study,
        timeout=timeout,
        progress=show_progress(progress),
        workers=workers,
    )
    result.print_summary(overrides=overrides)


@main.command()
@click.option(
    "--run",
    "run_id",
    required=True,
    help="MLflow run id (graphfuse fit prints it), or a saved pipeline (or fold-ensemble) folder.",
)
@click.option(
    "--data",
    "data_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="The new patients: a YAML file with a data: section (as in an experiment config), "
    "or an .h5mu file.",
)
@click.option(
    "--out",
    "-o",
    "out",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write the predictions: .csv, .parquet, or .h5mu (the tables with the predictions "
    "in .obs/.obsm/.uns).",
)
@click.option(
    "--allow-missing-features",
    is_flag=True,
    help="Impute features the new tables lack from the training patients (counted per "
    "patient) instead of refusing them.",
)
@click.option("--track/--no-track", default=True, help="Log an MLflow run (default: yes).")
@tracking_uri_option
@device_option("Where to compute (default: the run's train.device).")
def predict(
    run_id: str,
    data_path: str,
    out: str | None,
    allow_missing_features: bool,
    track: bool,
    tracking_uri: str | None,
    device: str | None,
) -> None:
    """Score new patients with a tracked run's fitted pipeline.

    Loads the run's pipeline/ artifact (preprocessing, graph builders and model fitted on
    its training patients; no pickle, no training tables), preprocesses the new patients
    with it, attaches each to training patients only, and predicts. Any subset of the
    trained modalities per patient works. Prints a summary (and, where the new patients
    have labels, accuracy / F1 / ROC AUC) and logs an MLflow run tagged
    graphfuse.source_run=RUN_ID.
    """
    from graphfuse.experiment import predict_run

    result = predict_run(
        run_id,
        data_path,
        out=out,
        allow_missing_features=allow_missing_features,
        track=track,
        tracking_uri=tracking_uri,
        device=device,
    )
    result.print_summary()


@main.command()
@click.option(
    "--run",
    "run_id",
    required=True,
    help="MLflow run id (graphfuse fit prints it); with --data also a pipeline folder.",
)
@click.option(
    "--method",
    "-m",
    "methods",
    default="saliency,shap,masking,sensitivity",
    show_default=True,
    help="Comma-separated explainers.",
)
@click.option(
    "--patients",
    type=click.Choice(["all", "train", "val", "test"]),
    default="all",
    show_default=True,
    help="Patients of the run to explain (explanations use no labels); not with --data.",
)
@click.option(
    "--data",
    "data_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Explain these new patients instead (a YAML data: section or an .h5mu file), "
    "through the run's saved pipeline.",
)
@click.option(
    "--out",
    "-o",
    "out",
    type=click.Path(file_okay=False),
    default=None,
    help="With --data: save each attribution into OUT/<method>/ (Parquet + JSON).",
)
@click.option(
    "--target",
    default=None,
    help="Class to explain, by name or index (default: the positive class).",
)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Seed of the explainers' random draws (permutations, baselines, noise).",
)
@click.option(
    "--param",
    "-p",
    "param_items",
    multiple=True,
    metavar="METHOD.KEY=VALUE",
    help="An explainer parameter, e.g. -p shap.n_permutations=64 (repeatable).",
)
@tracking_uri_option
@device_option("With --data: where to compute (default: the run's train.device).")
@click.option(
    "--trust-run",
    is_flag=True,
    help="Explain a run without a data fingerprint tag, trusting its config.yaml to "
    "rebuild the data its model was trained on.",
)
@progress_option("Progress bar over the explainers")
def explain(
    run_id: str,
    methods: str,
    patients: str,
    data_path: str | None,
    out: str | None,
    target: str | None,
    seed: int,
    param_items: tuple[str, ...],
    tracking_uri: str | None,
    device: str | None,
    trust_run: bool,
    progress: bool | None,
) -> None:
    """Explain a tracked run's model and log the attributions and plots back into the run.

    Rebuilds the run's data from its logged config (checked against its data fingerprint;
    a run without one is refused unless --trust-run),
    loads its checkpoint, runs each explainer, and logs explanations/<method>/ (scores as
    Parquet, top-feature and heatmap plots), agreement between methods and, for the
    synthetic cohort, scores against the planted truth. With --data, explains new patients
    through the run's saved pipeline instead (nothing is logged into the run).
    """
    from graphfuse.errors import ConfigError

    names = [m.strip() for m in methods.split(",") if m.strip()]
    params = explainer_params(param_items)
    chosen: int | str | None = target
    if target is not None and target.isdigit():
        chosen = int(target)
    if data_path is not None:
        if patients != "all":
            raise ConfigError("--patients chooses patients of the run; with --data leave it out")
        from graphfuse.experiment import explain_new

        attributions = explain_new(
            run_id,
            data_path,
            names,
            params=params,
            target=chosen,
            seed=seed,
            tracking_uri=tracking_uri,
            device=device,
            progress=show_progress(progress),
        )
        _print_attributions(attributions, f"new patients of {data_path}, run {run_id}")
        if out is not None:
            for name, attribution in attributions.items():
                attribution.save(f"{out}/{name}")
            click.echo(f"saved to {out}/<method>/")
        return
    if out is not None:
        raise ConfigError("--out saves explanations of new patients; it needs --data")
    from graphfuse.experiment import explain_run

    result = explain_run(
        run_id,
        names,
        tracking_uri=tracking_uri,
        patients=patients,
        target=chosen,
        seed=seed,
        params=params,
        trust_run=trust_run,
        progress=show_progress(progress),
    )
    result.print_summary()


def _print_attributions(attributions: dict[str, Any], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"graphfuse explain — {title}", title_justify="left")
    for col in ("method", "patients", "seconds", "top features"):
        table.add_column(col, justify="right" if col in ("patients", "seconds") else "left")
    for name, a in attributions.items():
        top = ", ".join(str(f) for _, f in a.feature_importance().index[:5])
        table.add_row(name, str(len(a.patients)), f"{a.seconds:.2f}", top)
    Console().print(table)


@main.command()
@config_option("Experiment config (YAML) of a cohort without a published split.")
@click.option(
    "--folds",
    "-k",
    type=click.IntRange(min=2),
    default=5,
    show_default=True,
    help="Number of stratified folds; each patient is tested in exactly one.",
)
@click.option(
    "--seed",
    "seeds",
    type=int,
    multiple=True,
    help="Repeat the cross-validation with this seed (repeatable; default: the config's).",
)
@click.option(
    "--repeats",
    "-r",
    type=click.IntRange(min=1),
    default=None,
    help="Repeat the cross-validation R times, with seeds from the config's seed to "
    "seed+R-1 (not with --seed); the summary adds the mean and sd over repeats.",
)
@overrides_option
@tracking_uri_option
@progress_option("Progress bar over the folds")
@fanout_options("the folds (of every seed)")
def cv(
    config_path: str,
    folds: int,
    seeds: tuple[int, ...],
    repeats: int | None,
    overrides: tuple[str, ...],
    tracking_uri: str | None,
    progress: bool | None,
    workers: int | None,
    scheduler: str | None,
) -> None:
    """Stratified k-fold cross-validation: every patient is tested once per seed.

    Validation (early stopping) is carved out of each fold's training patients. Prints the
    per-fold test metrics and their mean ± sd (with --repeats R or several --seed, also
    over repeats: the mean of each seed's fold mean and the sd across seeds); with
    tracking on, one parent MLflow run holds the summary and each fold is a nested run.
    --workers N / --scheduler ADDRESS run the folds on Dask, with the same results as
    serially (docs/scaling.md).
    """
    from graphfuse.config import load_config
    from graphfuse.experiment import FanOut, cross_validate

    cfg = load_config(config_path, with_tracking_uri(overrides, tracking_uri))
    result = cross_validate(
        cfg,
        folds=folds,
        seeds=list(seeds) or None,
        repeats=repeats,
        progress=show_progress(progress),
        fanout=FanOut(workers=workers, scheduler=scheduler),
    )
    result.print_summary()
