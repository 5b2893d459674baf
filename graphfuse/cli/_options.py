"""The options several commands share: ``--config``, ``--set``, ``--device``,
``--tracking-uri`` and ``--progress/--no-progress``."""

from __future__ import annotations

import sys
from typing import Any

import click

__all__ = [
    "config_option",
    "device_option",
    "explainer_params",
    "fanout_options",
    "overrides_option",
    "progress_option",
    "show_progress",
    "tracking_uri_option",
    "with_tracking_uri",
]


def config_option(text: str, *, required: bool = True):
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


def device_option(text: str):
    """``--device auto|cpu|cuda|cuda:N``: where a saved pipeline computes."""
    return click.option("--device", default=None, metavar="auto|cpu|cuda|cuda:N", help=text)


#: ``--set/-s KEY.SUB=VALUE`` (repeatable): config overrides, as ``load_config`` takes them.
overrides_option = click.option(
    "--set",
    "-s",
    "overrides",
    multiple=True,
    metavar="KEY.SUB=VALUE",
    help="Override a config value, e.g. --set train.epochs=50 --set graph.k=5 (repeatable).",
)


def progress_option(text: str):
    """``--progress/--no-progress``: a progress bar on standard error (default: when it is a
    terminal; :func:`show_progress`)."""
    return click.option(
        "--progress/--no-progress",
        default=None,
        help=f"{text} on standard error (default: on when it is a terminal).",
    )


def show_progress(flag: bool | None) -> bool:
    """``--progress``/``--no-progress`` as given, else whether standard error is a terminal."""
    return sys.stderr.isatty() if flag is None else flag


#: ``--tracking-uri URI``: the MLflow store, the same as ``--set tracking.uri=URI``.
tracking_uri_option = click.option(
    "--tracking-uri",
    default=None,
    metavar="URI",
    help="MLflow tracking store, e.g. sqlite:///mlflow.db or http://host:5000; the same as "
    "--set tracking.uri=URI (default: the config's tracking.uri where there is a config, "
    "else $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db in the current folder).",
)


def with_tracking_uri(overrides: tuple[str, ...], uri: str | None) -> tuple[str, ...]:
    """``overrides`` and, last (so it wins), ``tracking.uri=URI`` when ``--tracking-uri``."""
    return overrides if uri is None else (*overrides, f"tracking.uri={uri}")


def explainer_params(items: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """``--param METHOD.KEY=VALUE`` items as ``method -> {key: value}``."""
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


def fanout_options(what: str):
    """``--workers N`` and ``--scheduler ADDRESS``: where ``what`` run (serial by default;
    :class:`graphfuse.experiment.FanOut`)."""

    def decorate(command):
        command = click.option(
            "--scheduler",
            default=None,
            metavar="tcp://HOST:8786",
            help=f"Run {what} on this running Dask cluster (`dask scheduler` and `dask "
            "worker`, docs/scaling.md); needs graphfuse[dask]. Default: serially.",
        )(command)
        return click.option(
            "--workers",
            type=click.IntRange(min=1),
            default=None,
            help=f"Run {what} on a local Dask cluster of this many worker processes (one "
            "thread each); needs graphfuse[dask]. Default: serially, in this process.",
        )(command)

    return decorate
