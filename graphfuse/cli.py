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


def _config_option(text: str, *, required: bool = True):
    """``--config/-c PATH``: an experiment config (YAML)."""
    return click.option(
        "--config",
        "-c",
        "config_path",
        type=click.Path(dir_okay=False),
        required=required,
        default=None,
        help=text,
    )


#: ``--set/-s KEY.SUB=VALUE`` (repeatable): config overrides, as ``load_config`` takes them.
_overrides_option = click.option(
    "--set",
    "-s",
    "overrides",
    multiple=True,
    metavar="KEY.SUB=VALUE",
    help="Override a config value, e.g. --set train.epochs=50 --set graph.k=5 (repeatable).",
)


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
@_config_option("Experiment config (YAML), e.g. configs/ad.yaml.")
@_overrides_option
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
@_config_option("Experiment config (YAML) with a tune: section, e.g. configs/ad_quick.yaml.")
@click.option(
    "--trials",
    "-n",
    type=click.IntRange(min=1),
    default=None,
    help="Trials to run now, added to the study's earlier ones (default: tune.trials).",
)
@_overrides_option
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
    from graphfuse.experiment import tune as run_tune

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


@main.group()
def benchmark() -> None:
    """Benchmarks run from an experiment config (`graphfuse benchmark explainers`)."""


@benchmark.command("explainers")
@_config_option(
    "Experiment config (YAML) to train, e.g. configs/ad.yaml (with --run: its tracking).",
    required=False,
)
@_overrides_option
@click.option(
    "--method",
    "-m",
    "methods",
    multiple=True,
    help="Explainer(s), repeatable or comma-separated (default: saliency, shap, masking, "
    "sensitivity).",
)
@click.option("--run", "run_id", default=None, help="Explain this MLflow run instead of training.")
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default="benchmark-explainers",
    show_default=True,
    help="Report folder.",
)
@click.option("--top-k", type=click.IntRange(min=1), default=100, show_default=True)
@click.option(
    "--permutations",
    type=click.IntRange(min=1),
    default=10_000,
    show_default=True,
    help="Random gene lists per permutation test.",
)
@click.option(
    "--collection",
    "collections",
    multiple=True,
    help="Gene-set collection(s), repeatable (default: go_bp, reactome, hallmark).",
)
@click.option("--fdr", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.05)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--min-size",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    help="Smallest set tested, in genes within the background.",
)
@click.option(
    "--param",
    "-p",
    "param_items",
    multiple=True,
    metavar="METHOD.KEY=VALUE",
    help="An explainer parameter, e.g. -p shap.n_permutations=64 (repeatable).",
)
def benchmark_explainers_command(
    config_path: str | None,
    overrides: tuple[str, ...],
    methods: tuple[str, ...],
    run_id: str | None,
    out: str,
    top_k: int,
    permutations: int,
    collections: tuple[str, ...],
    fdr: float,
    seed: int,
    min_size: int,
    param_items: tuple[str, ...],
) -> None:
    """Which explainer recovers known pathways, beats random gene sets, and at what cost.

    Trains the config's model (or loads --run), runs every explainer, tests each gene
    ranking (over-representation of the top-k against the genes the model saw, a preranked
    test, permutation tests against random gene lists) against GO BP, Reactome and
    Hallmark (the synthetic cohort: its own planted pathways), and writes report.md, CSV
    tables and figures to --out (and to MLflow when tracking is on).
    """
    from graphfuse.config import load_config
    from graphfuse.errors import ConfigError
    from graphfuse.experiment import COLLECTIONS, METHODS, benchmark_explainers

    if config_path is None and run_id is None:
        raise ConfigError("graphfuse benchmark explainers needs --config PATH or --run RUN_ID")
    cfg = load_config(config_path, overrides) if config_path is not None else None
    names = [m.strip() for item in methods for m in item.split(",") if m.strip()]
    sets = [c.strip() for item in collections for c in item.split(",") if c.strip()]
    result = benchmark_explainers(
        cfg,
        methods=names or METHODS,
        collections=sets or COLLECTIONS,
        top_k=top_k,
        n_permutations=permutations,
        fdr=fdr,
        out=out,
        params=_explainer_params(param_items),
        seed=seed,
        run_id=run_id,
        min_size=min_size,
    )
    _print_benchmark(result)


def _explainer_params(items: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    from graphfuse.config import parse_overrides
    from graphfuse.errors import ConfigError

    params: dict[str, dict[str, Any]] = {}
    for key, value in parse_overrides(list(items)).items():
        method, _, name = key.partition(".")
        if not name:
            raise ConfigError(
                f"--param {key}=…: expected METHOD.KEY=VALUE, e.g. shap.background=10"
            )
        params.setdefault(method, {})[name] = value
    return params


def _print_benchmark(result: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    s = result.settings
    table = Table(
        title=f"graphfuse benchmark explainers — top {s['top_k']}, FDR < {s['fdr']:g}",
        title_justify="left",
    )
    frame = result.summary
    sig = [c for c in frame.columns if c.startswith("sig_")]
    cols = ["seconds", *sig, "ref_gene_overlap", "ref_pathway_perm_p", "mean_jaccard"]
    cols += [c for c in ("precision", "recall") if c in frame.columns]
    cols = [c for c in cols if c in frame.columns]
    table.add_column("explainer", no_wrap=True)
    for c in cols:
        table.add_column(_SHORT.get(c, c.removeprefix("sig_")), justify="right")
    for row in frame.to_dict("records"):
        table.add_row(row["explainer"], *(_fmt(row[c]) for c in cols))
    console.print(table)
    console.print(f"background    {result.background['label']}")
    for note in result.notes:
        console.print(f"note          {note}")
    console.print(f"report        {result.out / 'report.md'}")
    if result.run_id is not None:
        console.print(f"MLflow run    {result.run_id}")


_SHORT = {
    "seconds": "s",
    "ref_gene_overlap": "ref genes",
    "ref_pathway_perm_p": "ref perm p",
    "mean_jaccard": "jaccard",
    "precision": "prec",
}


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "" if value != value else f"{value:.3g}"
    return str(value)


@main.command()
@_config_option("Experiment config (YAML) of a cohort without a published split.")
@click.option("--folds", "-k", type=click.IntRange(min=2), default=5, show_default=True)
@click.option(
    "--seed",
    "seeds",
    type=int,
    multiple=True,
    help="Repeat the cross-validation with this seed (repeatable; default: the config's).",
)
@_overrides_option
def cv(config_path: str, folds: int, seeds: tuple[int, ...], overrides: tuple[str, ...]) -> None:
    """Stratified k-fold cross-validation: every patient is tested once per seed.

    Validation (early stopping) is carved out of each fold's training patients. Prints the
    per-fold test metrics and their mean ± sd; with tracking on, one parent MLflow run
    holds the summary and each fold is a nested run.
    """
    from rich.console import Console
    from rich.table import Table

    from graphfuse.config import load_config
    from graphfuse.experiment import cross_validate

    cfg = load_config(config_path, overrides)
    result = cross_validate(cfg, folds=folds, seeds=list(seeds) or None)
    cols = [c for c in result.folds.columns if c.startswith("test_")]
    table = Table(title=f"graphfuse cv — {cfg.source}, {folds} folds", title_justify="left")
    for c in ["seed", "fold", *cols]:
        table.add_column(c.removeprefix("test_"), justify="right")
    for row in result.folds.itertuples(index=False):
        values = row._asdict()
        table.add_row(str(values["seed"]), str(values["fold"]), *(f"{values[c]:.3f}" for c in cols))
    table.add_row(
        "mean ± sd",
        "",
        *(
            f"{result.summary.loc[c, 'mean']:.3f} ± {result.summary.loc[c, 'std']:.3f}"
            for c in cols
        ),
    )
    Console().print(table)
    if result.run_id is not None:
        Console().print(f"MLflow run {result.run_id} (folds are nested runs)")


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
