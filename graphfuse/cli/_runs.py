"""``graphfuse runs``: list the runs of a tracking store; mark stale RUNNING runs KILLED."""

from __future__ import annotations

from typing import Any

import click

from graphfuse.cli._main import main
from graphfuse.cli._options import config_option, overrides_option, tracking_uri_option

__all__ = ["runs"]


@main.group()
def runs() -> None:
    """MLflow runs of the tracking store: list them, mark stale RUNNING ones KILLED."""


def _runs_options(func: Any) -> Any:
    """``--experiment``, ``--tracking-uri``, ``--config`` and ``--set`` of ``runs`` commands."""
    func = overrides_option(func)
    func = config_option(
        "An experiment config whose tracking: section (uri, experiment) to use.", required=False
    )(func)
    func = tracking_uri_option(func)
    return click.option(
        "--experiment",
        "-e",
        default=None,
        metavar="NAME",
        help="Only this MLflow experiment (default: the config's with --config or --set "
        "tracking.experiment=…, else every experiment).",
    )(func)


def _runs_target(
    experiment: str | None,
    tracking_uri: str | None,
    config_path: str | None,
    overrides: tuple[str, ...],
) -> tuple[str, str | None]:
    """The tracking URI and experiment (``None``: all) a ``runs`` command works on; a
    SQLite store that does not exist is an error (not a new empty store)."""
    from pathlib import Path

    from graphfuse.errors import ConfigError
    from graphfuse.tracking import resolve_tracking_uri

    if config_path is None and not overrides:
        uri = resolve_tracking_uri(tracking_uri, key="--tracking-uri")
    else:
        from graphfuse.config import load_config

        cfg = load_config(config_path, overrides)
        named = config_path is not None or any(
            o.partition("=")[0].strip() == "tracking.experiment" for o in overrides
        )
        if experiment is None and named:
            experiment = cfg.tracking.experiment
        if tracking_uri is not None:
            uri = resolve_tracking_uri(tracking_uri, key="--tracking-uri")
        else:
            uri = resolve_tracking_uri(cfg.tracking.uri, key=f"{cfg.source}: tracking.uri")
    if uri.startswith("sqlite:///") and not Path(uri[len("sqlite:///") :]).is_file():
        raise ConfigError(
            f"no MLflow store at {uri} (from {Path.cwd()}); give it with --tracking-uri, "
            "--set tracking.uri=… or MLFLOW_TRACKING_URI"
        )
    return uri, experiment


def _print_runs(found: list[Any], uri: str, title: str) -> None:
    from datetime import datetime, timezone

    from mlflow.tracking import MlflowClient
    from rich.console import Console
    from rich.table import Table

    names = {e.experiment_id: e.name for e in MlflowClient(uri).search_experiments()}
    table = Table(title=title, title_justify="left")
    table.add_column("run", no_wrap=True, min_width=32)  # ids are copied from here whole
    for col in ("name", "experiment", "status", "started (UTC)"):
        table.add_column(col)
    for run in found:
        started = datetime.fromtimestamp(run.info.start_time / 1000, timezone.utc)
        table.add_row(
            run.info.run_id,
            run.info.run_name or "",
            names.get(run.info.experiment_id, run.info.experiment_id),
            run.info.status,
            started.strftime("%Y-%m-%d %H:%M"),
        )
    Console().print(table)


@runs.command("clean")
@_runs_options
@click.option(
    "--older-than",
    "hours",
    type=click.FloatRange(min=0),
    default=24.0,
    show_default=True,
    metavar="HOURS",
    help="Only runs that started more than HOURS ago.",
)
@click.option("--dry-run", is_flag=True, help="List the runs; change nothing.")
def runs_clean(
    experiment: str | None,
    tracking_uri: str | None,
    config_path: str | None,
    overrides: tuple[str, ...],
    hours: float,
    dry_run: bool,
) -> None:
    """Mark runs still RUNNING after HOURS KILLED and list them.

    A process killed outright (SIGKILL, out of memory, a lost machine) cannot end its MLflow
    run, which then stays RUNNING; graphfuse warns about them when a run starts. A run that
    is in fact still going would be marked too (it sets its own status when it ends): use
    --dry-run to look first.
    """
    from graphfuse.tracking import clean_runs

    uri, name = _runs_target(experiment, tracking_uri, config_path, overrides)
    found = clean_runs(uri, name, older_than_hours=hours, dry_run=dry_run)
    where = f"experiment {name!r}" if name is not None else "every experiment"
    if not found:
        click.echo(f"no run RUNNING for more than {hours:g} hours in {where} of {uri}")
        return
    done = "would be marked KILLED (dry run)" if dry_run else "marked KILLED"
    _print_runs(found, uri, f"{len(found)} run(s) of {where} in {uri} {done}")


@runs.command("list")
@_runs_options
@click.option(
    "--status",
    type=click.Choice(
        ["RUNNING", "FINISHED", "FAILED", "KILLED", "SCHEDULED"], case_sensitive=False
    ),
    default=None,
    help="Only runs with this status.",
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=50,
    show_default=True,
    help="List at most this many runs, newest first.",
)
def runs_list(
    experiment: str | None,
    tracking_uri: str | None,
    config_path: str | None,
    overrides: tuple[str, ...],
    status: str | None,
    limit: int,
) -> None:
    """List the newest runs (id, name, experiment, status, start)."""
    from graphfuse.tracking import list_runs

    uri, name = _runs_target(experiment, tracking_uri, config_path, overrides)
    found = list_runs(uri, name, status=status, limit=limit)
    where = f"experiment {name!r}" if name is not None else "every experiment"
    _print_runs(found, uri, f"runs of {where} in {uri}, newest first")
