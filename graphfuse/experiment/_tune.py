"""Hyper-parameter search: ``graphfuse tune --config … --trials N``.

The search space is the config's ``tune:`` section (:class:`graphfuse.config.TuneConfig`):
dotted config paths mapped to distributions. Each Optuna trial applies its values as
overrides, re-validates the whole config and runs :func:`graphfuse.experiment.fit`,
reporting the validation metric during training (every ``tune.report_every`` epochs from
``tune.warmup_epochs``) so the pruner can stop an unpromising trial early. Every
trial is an MLflow run nested under one parent run for the study, which records the best
trial at the end.

Model selection looks at validation patients only. Each trial's test metrics are recorded
(trial user attribute ``test``, the MLflow run's ``test_*`` metrics) and shown, but never
used to choose.

Storage: Optuna's journal file ``optuna.journal`` beside the MLflow SQLite store by default
(in the working folder when tracking is off or remote), or any Optuna storage URL
(``sqlite:///…``, ``postgresql://…``) — several machines share one study by pointing at the
same database. A study is loaded when it exists, so a stopped search resumes by running the
same command again. See ``docs/tuning.md``.

Examples
--------
From Python, as ``graphfuse tune --config my.yaml --trials 10`` does::

    from graphfuse.config import load_config
    from graphfuse.experiment import tune

    result = tune(load_config("my.yaml"), trials=10)  # my.yaml has a tune: section
    result.print_summary()
    result.study.best_params            # {"train.lr": 0.0041, "model.hidden": 37}
    final = fit(result.best_config())   # refit the chosen values
"""

from __future__ import annotations

import math
import queue
import shlex
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from graphfuse.config import ExperimentConfig, resolve_components
from graphfuse.errors import ConfigError, GraphfuseError
from graphfuse.experiment._progress import ProgressSetting, RichProgress, reporting
from graphfuse.experiment._tune_search import (
    _check_same_search,
    _default_study_name,
    _pruner,
    _Search,
    _spec,
    check_space,
    folds_run,
    inner_spread,
    selection_of,
    trial_config,
    trials_frame,
)
from graphfuse.experiment._tune_storage import (
    default_storage,
    open_storage,
    redact,
    study_lock,
    worker_identity,
    worker_seed,
)
from graphfuse.tracking import RunLogger, resolve_tracking_uri

if TYPE_CHECKING:
    import optuna
    import pandas as pd
    from rich.console import Console

__all__ = ["TuneResult", "tune"]


@dataclass
class TuneResult:
    """What a search produced.

    Attributes
    ----------
    study
        The Optuna study (all its trials, including those of earlier runs of the search).
    config
        The experiment config that holds the search.
    storage
        The storage (password redacted), e.g. the journal file's path.
    parent_run_id, tracking_uri
        The study's MLflow parent run (``None`` when tracking is off).
    new_trials
        Numbers of the trials run by this call.
    seconds
        Wall-clock time of this call.
    """

    study: optuna.Study
    config: ExperimentConfig
    storage: str
    parent_run_id: str | None
    tracking_uri: str | None
    new_trials: list[int]
    seconds: float

    @property
    def metric(self) -> str:
        return _spec(self.config).metric_for(self.config.task)

    def best_values(self) -> dict[str, Any]:
        """The best trial's values (by the validation metric), as dotted config paths."""
        return dict(self.study.best_trial.params)

    def best_config(self) -> ExperimentConfig:
        """The experiment config with the best trial's values: ``fit(result.best_config())``."""
        return trial_config(self.config, self.best_values())

    def trials_frame(self) -> pd.DataFrame:
        """One row per trial: number, state, value, test metric, epochs, seconds, params."""
        return trials_frame(self.study, self.metric)

    @property
    def summary(self) -> pd.DataFrame:
        """The trials (:meth:`trials_frame`), as ``graphfuse tune`` prints them."""
        return self.trials_frame()

    def print_summary(
        self, console: Console | None = None, max_rows: int = 50, overrides: Sequence[str] = ()
    ) -> None:
        """Print the trials as a table and the best trial (what ``graphfuse tune`` shows).

        ``overrides``: the ``--set`` items the config was loaded with, repeated in the
        printed command that re-fits the best trial.
        """
        _print_summary(self, console, max_rows, overrides)


def tune(
    config: ExperimentConfig,
    *,
    trials: int | None = None,
    storage: str | Path | None = None,
    study: str | None = None,
    timeout: float | None = None,
    pruner: optuna.pruners.BasePruner | None = None,
    progress: ProgressSetting = False,
    workers: int = 1,
) -> TuneResult:
    """Run (or resume) an Optuna search over the config's ``tune.space``.

    Parameters
    ----------
    config
        A config with a ``tune:`` section (:func:`graphfuse.config.load_config`).
    trials
        Trials to run now (added to those already in the study); ``None``: ``tune.trials``.
    storage
        Optuna storage URL or journal path; ``None``: ``tune.storage``, else
        :func:`default_storage`.
    study
        Study name; ``None``: ``tune.study``, else the config file's name.
    timeout
        Start no new trial after this many seconds; ``None``: ``tune.timeout``.
    pruner
        An Optuna pruner to use instead of ``tune.pruner``.
    progress
        ``True``: a progress bar over this call's trials on standard error, with the best
        validation value so far; a callable: called as ``progress("trial", done, total,
        {"trial": n, "state": ..., "value": ..., "best": ...})`` after each trial (the
        protocol of :class:`graphfuse.experiment.RichProgress`); ``False``: nothing.
        With the bar, Optuna's own per-trial log lines are held back (the bar shows them).
    workers
        Workers sharing the study on this machine: this process and ``workers - 1``
        processes it starts (each trains one trial at a time; together they run
        ``trials`` trials). Each worker's sampler is seeded from
        ``tune.seed`` (else the experiment seed), the worker and the trials already in the
        study, so workers and resumed searches draw different points.

    Returns
    -------
    TuneResult
        The study (best trial chosen on the validation metric only) and where it lives.

    Raises
    ------
    ConfigError
        No ``tune`` section, a space key or value the config refuses (before any trial
        runs), an existing study with another metric or direction, or storage that
        cannot be opened.
    """
    started = time.perf_counter()
    resolve_components(config)
    spec = _spec(config)
    check_space(config)
    name = study or spec.study or _default_study_name(config)
    where = storage if storage is not None else spec.storage
    if where is None:
        where = default_storage(config)
    n_trials = trials if trials is not None else spec.trials
    timeout = timeout if timeout is not None else spec.timeout
    if workers < 1:
        raise ConfigError(f"tune: workers must be >= 1 (got {workers})")
    search = _open_search(config, name, where, pruner, progress=None)
    if workers == 1:
        with reporting(progress) as report, _bar_replaces_trial_logs(report):
            search.progress = report
            search.run(n_trials, timeout)
        ran = sorted(search.ran)
    else:
        ran = _run_workers(
            config, name, where, pruner, search, workers, n_trials, timeout, progress
        )
    logger = search.logger
    return TuneResult(
        study=search.study,
        config=config,
        storage=search.storage,
        parent_run_id=search.parent,
        tracking_uri=logger.uri if logger else None,
        new_trials=ran,
        seconds=time.perf_counter() - started,
    )


def _open_search(
    config: ExperimentConfig,
    name: str,
    where: str | Path,
    pruner: optuna.pruners.BasePruner | None,
    progress: Any,
    worker: int | None = None,
) -> _Search:
    """Create or load the study and its MLflow parent run under the storage's lock, and
    seed this worker's sampler (:func:`worker_seed`)."""
    import optuna

    spec = _spec(config)
    metric, direction = spec.metric_for(config.task), spec.direction_for(config.task)
    logger: RunLogger | None = None
    if config.tracking.enabled:
        logger = RunLogger(
            resolve_tracking_uri(config.tracking.uri),
            config.tracking.experiment,
            run_name=f"tune {name}",
        )
    with study_lock(where):
        the_study = optuna.create_study(
            storage=open_storage(where),
            study_name=name,
            direction=direction,
            pruner=pruner if pruner is not None else _pruner(spec, config),
            load_if_exists=True,
        )
        _check_same_search(the_study, metric, direction, name, selection_of(config))
        search = _Search(
            the_study,
            config,
            spec,
            name,
            redact(str(where)),
            logger,
            custom_pruner=pruner is not None,
            progress=progress,
        )
        search.claim_parent()
    base = spec.seed if spec.seed is not None else config.seed
    seed = worker_seed(base, worker_identity(worker), len(the_study.trials))
    # constant_liar: a worker treats the others' running trials as done with a poor value,
    # so workers sharing the study do not all sample next to the same best point
    the_study.sampler = optuna.samplers.TPESampler(seed=seed, constant_liar=True)
    return search


def _run_workers(
    config: ExperimentConfig,
    name: str,
    where: str | Path,
    pruner: optuna.pruners.BasePruner | None,
    search: _Search,
    workers: int,
    n_trials: int,
    timeout: float | None,
    progress: ProgressSetting,
) -> list[int]:
    """Run ``n_trials`` trials in this process and ``workers - 1`` new ones sharing the
    study: each claims the next trial from a shared counter, so exactly ``n_trials`` run.

    This process trains trials from the start (its imports and storage are already open);
    the new processes join when they have started, which on a small search is a large
    share of the wall time."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")  # never fork a process that holds torch
    claimed, finished = context.Value("i", 0), context.Value("i", 0)
    results = context.Queue()
    processes = [
        context.Process(
            target=_worker_main,
            args=(config, name, where, pruner, i, n_trials, timeout, claimed, finished, results),
            name=f"graphfuse-tune-{i}",
        )
        for i in range(1, workers)
    ]
    for process in processes:
        process.start()
    ran: list[int] = []
    errors: list[str] = []
    try:
        with reporting(progress) as report, _bar_replaces_trial_logs(report):

            def show() -> None:
                if report is not None:
                    report("trial", finished.value, n_trials, {"best": search._best()})

            def done() -> None:
                _count(finished)
                show()

            show()
            search.claim, search.on_trial = partial(_claim, claimed, n_trials), done
            search.run(n_trials, timeout)
            ran += search.ran
            pending = len(processes)
            while pending:
                try:
                    kind, payload = results.get(timeout=1.0)
                except queue.Empty:
                    if not any(p.is_alive() for p in processes) and results.empty():
                        errors.append("a worker process ended without a result")
                        break
                    show()
                    continue
                pending -= 1
                if kind == "ok":
                    ran += payload
                else:
                    errors.append(payload)
            show()
            if search.logger is not None and processes:  # the best over every worker's trials
                with search.logger.start(tags=search._tags(), run_id=search.parent):
                    search._log_best()
    finally:  # on an error here, the other workers start no new trial and are waited for
        with claimed.get_lock():
            claimed.value = max(claimed.value, n_trials)
        for process in processes:
            process.join()
    if errors:
        raise GraphfuseError(f"graphfuse tune --workers {workers}: " + "; ".join(errors))
    return sorted(ran)


def _claim(claimed: Any, n_trials: int) -> bool:
    """Take the next of ``n_trials`` trials from the shared counter; ``False`` when spent."""
    with claimed.get_lock():
        if claimed.value >= n_trials:
            return False
        claimed.value += 1
        return True


def _count(finished: Any) -> None:
    with finished.get_lock():
        finished.value += 1


def _worker_main(
    config: ExperimentConfig,
    name: str,
    where: str | Path,
    pruner: optuna.pruners.BasePruner | None,
    worker: int,
    n_trials: int,
    timeout: float | None,
    claimed: Any,
    finished: Any,
    results: Any,
) -> None:
    """One worker process of :func:`_run_workers`: trials until the counter is spent."""
    try:
        search = _open_search(config, name, where, pruner, progress=None, worker=worker)
        search.claim, search.on_trial = (
            partial(_claim, claimed, n_trials),
            partial(_count, finished),
        )
        search.run(n_trials, timeout)
    except Exception as exc:
        results.put(("error", f"worker {worker}: {type(exc).__name__}: {exc}"))
        return
    results.put(("ok", list(search.ran)))


@contextmanager
def _bar_replaces_trial_logs(report: Any) -> Iterator[None]:
    """While a rich bar shows the trials, Optuna's per-trial log lines (which would be
    written across the bar) are held back to warnings."""
    import optuna

    if not isinstance(report, RichProgress):
        yield
        return
    previous = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(previous)


# --------------------------------------------------------------------------- output


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}"
    return str(value)


def _print_summary(
    result: TuneResult, console: Console | None, max_rows: int, overrides: Sequence[str]
) -> None:
    from rich.console import Console

    from graphfuse.experiment._tables import print_table

    console = console or Console()
    metric = result.metric
    test_key = "test_" + metric[len("val_") :]
    study = result.study
    done = [t for t in study.trials if t.state.name == "COMPLETE" and t.value is not None]
    best = study.best_trial if done else None
    keys = list(_spec(result.config).space)
    names = _param_headers(keys)
    cv = selection_of(result.config) != "holdout"
    columns = [("trial", "right"), ("state", "left"), ("val", "right")]
    columns += [("sd", "right")] if cv else []
    columns += [("test", "right"), ("folds" if cv else "epochs", "right")]
    columns += [(names[k], "right") for k in keys]
    trials = study.trials
    if len(trials) > max_rows:
        ranked = sorted(done, key=lambda t: t.value, reverse=study.direction.name == "MAXIMIZE")
        trials = sorted(ranked[:max_rows], key=lambda t: t.number)
    rows, styles = [], []
    for t in trials:
        new = "*" if t.number in result.new_trials else ""
        spread = inner_spread(t.user_attrs.get("inner"), metric)["inner_sd"]
        rows.append(
            [
                f"{t.number}{new}",
                t.state.name,
                _fmt(t.value) if t.state.name != "PRUNED" else f"({_fmt(t.value)})",
                *([_fmt(None if math.isnan(spread) else spread)] if cv else []),
                _fmt((t.user_attrs.get("test") or {}).get(test_key[len("test_") :])),
                _fmt(folds_run(t, metric) if cv else t.last_step),
                *(_fmt(t.params.get(k)) for k in keys),
            ]
        )
        styles.append("bold green" if best is not None and t.number == best.number else None)
    title = f"graphfuse tune — study {study.study_name}"
    if cv:
        folds = result.config.train.inner_folds
        meaning = {"val": f"{metric}, out of fold over {folds} inner folds of the training "}
        meaning["val"] += "patients (chooses the best)"
        meaning["sd"] = f"sd of {metric} over the inner folds"
    else:
        meaning = {"val": f"{metric} (validation patients; chooses the best)"}
    meaning["test"] = f"{test_key} (recorded, not used)"
    meaning |= {names[k]: k for k in keys if names[k] != k}
    print_table(console, title, columns, rows, styles=styles, meaning=meaning)
    if len(study.trials) > len(trials):
        console.print(f"(best {len(trials)} of {len(study.trials)} trials shown)")
    console.print(
        f"{len(result.new_trials)} trials run now (*), {len(study.trials)} in the study; "
        f"{result.seconds:.1f} s"
    )
    if best is None:
        console.print("no trial completed: no best trial yet")
    else:
        console.print(
            f"best trial [bold]{best.number}[/]: {metric} {_fmt(best.value)} — chosen on "
            f"{'inner folds of the training' if cv else 'validation'} patients only; the "
            f"{test_key} column is recorded, never used to choose"
        )
        given = [o for o in overrides if not o.strip().startswith("tune.")]
        sets = given + [f"{k}={_yaml_scalar(v)}" for k, v in best.params.items()]
        args = " ".join(f"--set {shlex.quote(item)}" for item in sets)
        source = shlex.quote(str(result.config.source))
        console.print(f"refit it with  graphfuse fit --config {source} {args}", soft_wrap=True)
    console.print(f"study storage  {result.storage}  (rerun the same command to resume)")
    if result.parent_run_id is not None:
        console.print(f"MLflow parent run  {result.parent_run_id}  ({result.tracking_uri})")


def _param_headers(keys: Sequence[str]) -> dict[str, str]:
    """A short, distinct header per searched key: its last part (``train.lr`` -> ``lr``),
    more parts where two keys end alike (``model.dropout``, ``graph.dropout``).

    >>> _param_headers(["train.lr", "model.params.dropout", "graph.dropout"])
    {'train.lr': 'lr', 'model.params.dropout': 'model.dropout', 'graph.dropout': 'graph.dropout'}
    """
    parts = {k: k.replace(".params.", ".", 1).split(".") for k in keys}
    depth = dict.fromkeys(keys, 1)
    while True:
        names = {k: ".".join(p[-depth[k] :]) for k, p in parts.items()}
        clash = [k for k in keys if list(names.values()).count(names[k]) > 1]
        clash = [k for k in clash if depth[k] < len(parts[k])]
        if not clash:
            return names
        for k in clash:
            depth[k] += 1


def _yaml_scalar(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()
