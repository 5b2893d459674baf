"""``graphfuse advise``: a graph construction and the explainers that fit a time budget."""

from __future__ import annotations

import json

import click

from graphfuse.cli._main import main

__all__ = ["advise"]


@main.command()
@click.option("--patients", "-n", type=int, required=True, help="Patients to explain.")
@click.option(
    "--features",
    "-f",
    type=int,
    required=True,
    help="Features after preprocessing (all modalities).",
)
@click.option("--modalities", "-m", type=int, default=1, show_default=True, help="Modalities.")
@click.option("--budget", "-b", type=float, default=None, help="Seconds per explainer run.")
@click.option("--json", "as_json", is_flag=True, help="Print the advice as JSON.")
def advise(
    patients: int, features: int, modalities: int, budget: float | None, as_json: bool
) -> None:
    """Recommend a graph construction and the explainers that fit a time budget.

    Each explainer's seconds (for all patients, default parameters, 2 CPU cores) are
    predicted by a cost model fitted to measured timings (benchmarks/explainer_cost.py),
    shown with its leave-one-out median relative error, beside the recovery measured by
    `graphfuse benchmark explainers`. Example: `graphfuse advise -n 600 -f 3000 -m 3 -b 60`.
    """
    from graphfuse.experiment import advise as advise_

    result = advise_(patients, features, modalities=modalities, budget=budget)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        result.print_summary()
