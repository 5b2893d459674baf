"""Command line: ``graphfuse fit --config configs/ad.yaml``.

Thin by design: it parses arguments, loads the config and calls
:mod:`graphfuse.experiment`, which notebooks call the same way.
"""

from __future__ import annotations

import sys
from typing import Any

import click

import graphfuse
from graphfuse.errors import GraphfuseError

__all__ = ["main"]


class _Group(click.Group):
    """Turns user errors (bad config, bad data) into one paragraph, not a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except GraphfuseError as exc:
            click.secho(f"error: {exc}", fg="red", err=True)
            ctx.exit(2)


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
@click.option(
    "--config",
    "-c",
    "config_path",
    type=click.Path(dir_okay=False),
    required=True,
    help="Experiment config (YAML), e.g. configs/ad.yaml.",
)
@click.option(
    "--set",
    "-s",
    "overrides",
    multiple=True,
    metavar="KEY.SUB=VALUE",
    help="Override a config value, e.g. --set train.epochs=50 --set graph.k=5 (repeatable).",
)
@click.option(
    "--progress/--no-progress", default=None, help="Training progress bar (default: on a terminal)."
)
@click.option(
    "--dry-run", is_flag=True, help="Validate and print the resolved config; train nothing."
)
def fit(config_path: str, overrides: tuple[str, ...], progress: bool | None, dry_run: bool) -> None:
    """Train and evaluate a model as an experiment config describes.

    Builds the cohort, splits it (stratified, from the seed), fits preprocessing and
    the patient graphs on training patients, trains with early stopping on the
    validation split, reports accuracy / F1 / ROC AUC on the test split, and logs the
    run to MLflow (config, seed, versions, data fingerprint, per-epoch metrics, ROC
    plot, model).
    """
    from graphfuse.config import load_config

    cfg = load_config(config_path, overrides)
    if dry_run:
        click.echo(cfg.to_yaml(), nl=False)
        return
    from graphfuse.experiment import fit as run_fit

    if progress is None:
        progress = sys.stderr.isatty()
    result = run_fit(cfg, progress=progress)
    _print_summary(result)


@main.command()
@click.option(
    "--config",
    "-c",
    "config_path",
    type=click.Path(dir_okay=False),
    required=True,
    help="Experiment config (YAML) with a tune: section, e.g. configs/ad_quick.yaml.",
)
@click.option(
    "--trials",
    "-n",
    type=click.IntRange(min=1),
    default=None,
    help="Trials to run now, added to the study's earlier ones (default: tune.trials).",
)
@click.option(
    "--set",
    "-s",
    "overrides",
    multiple=True,
    metavar="KEY.SUB=VALUE",
    help="Override a config value, e.g. --set train.epochs=50 (repeatable).",
)
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
def tune(
    config_path: str,
    trials: int | None,
    overrides: tuple[str, ...],
    storage: str | None,
    study: str | None,
    timeout: float | None,
) -> None:
    """Search hyper-parameters over the config's tune.space with Optuna.

    Each trial trains the config with its values applied, reports the validation metric
    every epoch (unpromising trials are pruned) and is an MLflow run nested under the
    study's parent run. The best trial is chosen on validation patients only; test metrics
    are shown but never used to choose. Run the same command again to resume the study.
    """
    from graphfuse.config import load_config
    from graphfuse.tune import tune as run_tune

    cfg = load_config(config_path, overrides)
    result = run_tune(cfg, trials=trials, storage=storage, study=study, timeout=timeout)
    result.print_summary(overrides=overrides)


@main.command()
@click.option("--run", "run_id", required=True, help="MLflow run id (graphfuse fit prints it).")
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
    help="Patients to explain (explanations use no labels).",
)
@click.option("--target", default=None, help="Class to explain (default: the positive class).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the explainers.")
@click.option(
    "--param",
    "-p",
    "param_items",
    multiple=True,
    metavar="METHOD.KEY=VALUE",
    help="An explainer parameter, e.g. -p shap.n_permutations=64 (repeatable).",
)
@click.option("--tracking-uri", default=None, help="Tracking store (default as for fit).")
def explain(
    run_id: str,
    methods: str,
    patients: str,
    target: str | None,
    seed: int,
    param_items: tuple[str, ...],
    tracking_uri: str | None,
) -> None:
    """Explain a tracked run's model and log the attributions and plots back into the run.

    Rebuilds the run's data from its logged config (checked against its data fingerprint),
    loads its checkpoint, runs each explainer, and logs explanations/<method>/ (scores as
    Parquet, top-feature and heatmap plots), agreement between methods and, for the
    synthetic cohort, scores against the planted truth.
    """
    from graphfuse.config import parse_overrides
    from graphfuse.errors import ConfigError
    from graphfuse.experiment import explain_run

    names = [m.strip() for m in methods.split(",") if m.strip()]
    params: dict[str, dict[str, Any]] = {}
    for key, value in parse_overrides(list(param_items)).items():
        method, _, name = key.partition(".")
        if not name:
            raise ConfigError(
                f"--param {key}=…: expected METHOD.KEY=VALUE, e.g. shap.background=10"
            )
        params.setdefault(method, {})[name] = value
    chosen: int | str | None = target
    if target is not None and target.isdigit():
        chosen = int(target)
    result = explain_run(
        run_id,
        names,
        tracking_uri=tracking_uri,
        patients=patients,
        target=chosen,
        seed=seed,
        params=params,
    )
    _print_explanations(result)


def _print_explanations(result: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"graphfuse explain — run {result.run_id}", title_justify="left")
    for col in ("method", "patients", "seconds", "top features"):
        table.add_column(col, justify="right" if col in ("patients", "seconds") else "left")
    for name, attribution in result.attributions.items():
        top = ", ".join(f"{f}" for _, f in attribution.feature_importance().index[:5])
        table.add_row(name, str(len(attribution.patients)), f"{attribution.seconds:.2f}", top)
    console.print(table)
    if result.truth is not None:
        auprc = result.truth[result.truth["metric"] == "auprc"]
        pivot = auprc.pivot_table(index="method", columns="level", values="value")
        lift = auprc.pivot_table(index="method", columns="level", values="lift")
        truth = Table(title="planted truth: AUPRC (lift over random)", title_justify="left")
        truth.add_column("method")
        for level in pivot.columns:
            truth.add_column(level, justify="right")
        for method, row in pivot.iterrows():
            truth.add_row(
                method, *(f"{row[c]:.3f} ({lift.loc[method, c]:.1f}x)" for c in pivot.columns)
            )
        console.print(truth)
    console.print(f"logged to run {result.run_id}: artifacts explanations/<method>/")


def _print_summary(result: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if result.task == "survival":
        cols = ["c_index", "logrank_p", "events"]
    else:
        cols = ["accuracy", "f1", "f1_macro", "roc_auc"]
    table = Table(title=f"graphfuse fit — {result.config.source}", title_justify="left")
    table.add_column("split")
    table.add_column("patients", justify="right")
    for c in cols:
        table.add_column(c, justify="right")
    for split, m in result.metrics.items():
        cells = (f"{m[c]:.3g}" if c in ("logrank_p", "events") else f"{m[c]:.3f}" for c in cols)
        table.add_row(split, str(len(result.splits[split])), *cells)
    console.print(table)
    h = result.history
    stop = "early stop" if h.early_stopped else "all epochs"
    console.print(
        f"model [bold]{result.config.model.name}[/] on {', '.join(result.data.modalities)}; "
        f"best epoch {h.best_epoch} of {h.stopped_epoch} ({stop}); "
        f"training {h.seconds:.1f} s, total {result.seconds:.1f} s"
    )
    if result.run_id is None:
        console.print("tracking off: nothing logged to MLflow")
        return
    console.print(f"MLflow run    {result.run_id}")
    console.print(f"tracking URI  {result.tracking_uri}")
    console.print(f"artifacts     {result.artifact_uri}")
    console.print(f"browse with   mlflow ui --backend-store-uri {result.tracking_uri}")
