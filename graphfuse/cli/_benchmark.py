"""``graphfuse benchmark explainers``: the explainer benchmark, on one model or over seeds."""

from __future__ import annotations

import re
from typing import Any

import click

from graphfuse.cli._main import main
from graphfuse.cli._options import (
    config_option,
    explainer_params,
    fanout_options,
    overrides_option,
    progress_option,
    show_progress,
    tracking_uri_option,
    with_tracking_uri,
)

__all__ = ["benchmark", "parse_seeds"]


class _SeedsCommand(click.Command):
    """Lets ``--seeds 0 1 2 3 4`` take every number after it (click options take one value)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        out: list[str] = []
        i = 0
        while i < len(args):
            if args[i] == "--seeds":
                values = []
                i += 1
                while i < len(args) and re.fullmatch(r"\d+(-\d+)?(,\d+(-\d+)?)*", args[i]):
                    values.append(args[i])
                    i += 1
                out += ["--seeds", ",".join(values)]
                continue
            out.append(args[i])
            i += 1
        return super().parse_args(ctx, out)


def parse_seeds(text: str) -> list[int]:
    """``"0,1,2"``, ``"0-4"`` or ``"0 1 2"`` as a list of seeds.

    Examples
    --------
    >>> parse_seeds("0-2,7")
    [0, 1, 2, 7]
    """
    from graphfuse.errors import ConfigError

    seeds: list[int] = []
    for part in re.split(r"[,\s]+", text.strip()):
        if not part:
            continue
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if match is None:
            raise ConfigError(f"--seeds: {part!r} is not a seed or a range such as 0-4")
        first, last = int(match[1]), int(match[2] or match[1])
        if last < first:
            raise ConfigError(f"--seeds: range {part!r} runs backwards")
        seeds += range(first, last + 1)
    if not seeds:
        raise ConfigError("--seeds: give at least one seed, e.g. --seeds 0 1 2 3 4")
    return list(dict.fromkeys(seeds))


@main.group()
def benchmark() -> None:
    """Benchmarks run from an experiment config (`graphfuse benchmark explainers`)."""


@benchmark.command("explainers", cls=_SeedsCommand)
@config_option(
    "Experiment config (YAML) to train, e.g. configs/ad.yaml (with --run: its tracking).",
    required=False,
)
@overrides_option
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
@click.option(
    "--top-k",
    type=click.IntRange(min=1),
    default=100,
    show_default=True,
    help="Genes at the top of each explainer's ranking tested for over-representation "
    "and against random gene lists.",
)
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
@click.option(
    "--fdr",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.05,
    show_default=True,
    help="Benjamini-Hochberg false discovery rate at which a pathway counts as significant.",
)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Seed of the explainers and of the random gene lists.",
)
@click.option(
    "--seeds",
    "seeds",
    default=None,
    metavar="S [S ...]",
    help="Train and explain once per seed (e.g. --seeds 0 1 2 3 4, or 0-4) with the "
    "controls (model-free |t|, logistic coefficients, the explainers' consensus) and a "
    "null model trained on permuted labels; tests the cohort's benchmark.reference at "
    "every benchmark.top_k.",
)
@click.option(
    "--controls/--no-controls",
    default=True,
    show_default=True,
    help="With --seeds: rank genes by the model-free |t| and the logistic baseline too.",
)
@click.option(
    "--null/--no-null",
    "null",
    default=True,
    show_default=True,
    help="With --seeds: also explain the model trained on permuted labels.",
)
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
@click.option(
    "--trust-run",
    is_flag=True,
    help="With --run: explain a run without a data fingerprint tag (as explain --trust-run).",
)
@fanout_options("the seeds of --seeds")
@tracking_uri_option
@progress_option("Progress bars over the explainers and the permutation tests")
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
    seeds: str | None,
    controls: bool,
    null: bool,
    min_size: int,
    param_items: tuple[str, ...],
    trust_run: bool,
    workers: int | None,
    scheduler: str | None,
    tracking_uri: str | None,
    progress: bool | None,
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
    cfg = None
    if config_path is not None:
        cfg = load_config(config_path, with_tracking_uri(overrides, tracking_uri))
    names = [m.strip() for item in methods for m in item.split(",") if m.strip()]
    sets = [c.strip() for item in collections for c in item.split(",") if c.strip()]
    common: dict[str, Any] = {
        "methods": names or METHODS,
        "collections": sets or COLLECTIONS,
        "n_permutations": permutations,
        "fdr": fdr,
        "out": out,
        "params": explainer_params(param_items),
        "min_size": min_size,
        "tracking_uri": tracking_uri,
        "progress": show_progress(progress),
    }
    if seeds is not None:
        if cfg is None or run_id is not None:
            raise ConfigError("--seeds trains once per seed: give --config, not --run")
        from graphfuse.experiment import FanOut, benchmark_seeds

        fanout = FanOut(workers=workers, scheduler=scheduler)
        many = benchmark_seeds(
            cfg, seeds=parse_seeds(seeds), controls=controls, null=null, fanout=fanout, **common
        )
        many.print_summary()
        return
    if workers is not None or scheduler is not None:
        raise ConfigError("--workers / --scheduler fan out the seeds: give --seeds too")
    result = benchmark_explainers(
        cfg, top_k=top_k, seed=seed, run_id=run_id, trust_run=trust_run, **common
    )
    result.print_summary()
