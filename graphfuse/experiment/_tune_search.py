"""The search behind :func:`graphfuse.experiment.tune`: the space applied to a config,
Optuna storage, pruning, and the trial loop with its MLflow parent run.

A trial applies its values to the config as overrides (:func:`trial_config`), re-validates
it and runs :func:`graphfuse.experiment.fit`, reporting the validation metric during
training so the pruner can stop an unpromising trial early: per epoch with
``train.selection: holdout``, per inner fold (the running mean of the folds' scores) with
``train.selection: cv``, where a trial's value is the inner cross-validation score.
"""

from __future__ import annotations

import copy
import functools
import math
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import ValidationError

from graphfuse.config import (
    ExperimentConfig,
    TuneConfig,
    format_validation_errors,
    resolve_components,
    set_path,
)
from graphfuse.errors import ConfigError
from graphfuse.experiment._fit import fit
from graphfuse.experiment._track import run_name
from graphfuse.tracking import RunLogger, StopRun

if TYPE_CHECKING:
    import optuna
    import pandas as pd

__all__ = [
    "check_space",
    "folds_run",
    "inner_spread",
    "selection_of",
    "trial_config",
    "trials_frame",
]

_PARENT_ATTR = "graphfuse.mlflow_parent_run_id"
_METRIC_ATTR = "graphfuse.metric"
_SELECTION_ATTR = "graphfuse.selection"

# --------------------------------------------------------------------------- configs


def _spec(config: ExperimentConfig) -> TuneConfig:
    if config.tune is None:
        raise ConfigError(
            f"{config.source or '<config>'}: no tune: section; add one naming what to search, "
            "e.g. tune: {space: {train.lr: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}}}"
        )
    return config.tune


def trial_config(
    config: ExperimentConfig, values: Mapping[str, Any], run_name: str | None = None
) -> ExperimentConfig:
    """``config`` with ``values`` (dotted path -> value) applied, re-validated, ``tune`` dropped.

    Parameters
    ----------
    config
        The experiment config holding the search.
    values
        A trial's values, e.g. ``{"train.lr": 0.003, "model.params.hidden": 64}``
        (``model.hidden`` works as well).
    run_name
        The MLflow run name of the trial (``tracking.run_name``).

    Raises
    ------
    ConfigError
        A path that is not in the config, or a value it refuses, naming ``tune.space`` and
        the key.

    Examples
    --------
    >>> from graphfuse.config import load_config
    >>> cfg = load_config(overrides={"tracking.enabled": False})
    >>> trial_config(cfg, {"train.lr": 0.05, "model.params.hidden": 8}).model.params["hidden"]
    8
    """
    source = config.source or "<config>"
    raw = config.model_dump(mode="json", exclude={"tune"})  # components as {name, params}
    raw = copy.deepcopy(raw)
    where = ", ".join(f"{k} = {v!r}" for k, v in values.items())
    head = f"{source}: tune.space: {where} gives an invalid config"
    try:
        for key, value in values.items():
            set_path(raw, key, value)
        if run_name is not None:
            set_path(raw, "tracking.run_name", run_name)
        cfg = ExperimentConfig.model_validate(raw)
        cfg.source = source
        resolve_components(cfg)
    except ValidationError as exc:
        detail = format_validation_errors(exc, ExperimentConfig, (), source, {})
        raise ConfigError(_join(head, detail)) from None
    except ConfigError as exc:
        raise ConfigError(_join(head, str(exc))) from None
    return cfg


def _join(head: str, detail: str) -> str:
    if detail.startswith("invalid config:"):
        return head + detail.removeprefix("invalid config")
    return f"{head}: {detail}"


def check_space(config: ExperimentConfig) -> None:
    """Validate every key of the search space at its extreme values, before any trial runs.

    Each key is applied alone at ``low`` and ``high`` (every choice of a categorical) and the
    config re-validated, so a wrong path or an out-of-range value fails here, naming the key.

    Raises
    ------
    ConfigError
        No ``tune`` section, or a key/value the config refuses.
    """
    for key, space in _spec(config).space.items():
        for value in space.bounds():
            trial_config(config, {key: value})


def selection_of(config: ExperimentConfig) -> str:
    """What a trial's value is computed on: ``"holdout"`` (the validation patients) or
    ``"cv:<k>"`` (the out-of-fold score of ``k`` inner folds over the training patients)."""
    train = config.train
    return f"cv:{train.inner_folds}" if train.selection == "cv" else "holdout"


def _pruner(spec: TuneConfig, config: ExperimentConfig) -> optuna.pruners.BasePruner:
    """``tune.pruner`` over epochs (holdout selection) or inner folds (cv selection)."""
    import optuna

    cv = config.train.selection == "cv"
    warmup = spec.warmup_folds if cv else spec.warmup_epochs
    if spec.pruner == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=spec.startup_trials,
            n_warmup_steps=warmup,
            interval_steps=1 if cv else spec.report_every,
        )
    if spec.pruner == "hyperband":
        steps = config.train.inner_folds if cv else config.train.epochs
        return optuna.pruners.HyperbandPruner(
            min_resource=min(max(1, warmup), steps), max_resource=steps
        )
    return optuna.pruners.NopPruner()


# --------------------------------------------------------------------------- trials


@functools.cache
def _pruned_error() -> type[Exception]:
    import optuna

    class TrialPrunedRun(StopRun, optuna.TrialPruned):
        """Ends the trial PRUNED in Optuna and its MLflow run KILLED."""

    return TrialPrunedRun


class _Reporter:
    """A trial's training callbacks: report ``tune.metric`` to Optuna, prune when the
    pruner says so; ``report=False``: check the metric only.

    Holdout selection: called with every epoch's record (``fit(on_epoch=...)``), it
    reports at epochs ``start``, ``start + every``, .... Inner-CV selection (``folds=True``):
    epochs restart at 1 in every inner fold, so no epoch is reported; :meth:`fold`
    (``fit(on_fold=...)``) reports after each fold the running mean of the folds' scores,
    at step = folds done (from ``start`` on), so trials are compared fold for fold.
    """

    def __init__(
        self,
        trial: optuna.Trial,
        metric: str,
        *,
        report: bool,
        start: int,
        every: int,
        folds: bool = False,
    ) -> None:
        self.trial, self.metric = trial, metric
        self.report, self.start, self.every, self.folds = report, start, every, folds
        self.pruned = _pruned_error()
        self.scores: list[float] = []  # inner folds' scores, in the order they finished

    def _value(self, record: Mapping[str, Any]) -> float:
        if self.metric not in record:
            valid = sorted(k for k in record if k.startswith("val_"))
            raise ConfigError(
                f"tune.metric: {self.metric!r} is not reported by training; "
                f"valid: {', '.join(valid)}"
            )
        return float(record[self.metric])

    def fold(self, k: int, record: Mapping[str, Any]) -> None:
        """After inner fold ``k``: report the mean score of the folds done so far."""
        self.scores.append(self._value(record))
        step = len(self.scores)
        done = [s for s in self.scores if not math.isnan(s)]
        if not self.report or step < self.start or not done:
            return
        self.trial.report(sum(done) / len(done), step)
        if self.trial.should_prune():
            self.trial.set_user_attr("inner", {self.metric: list(self.scores)})  # folds run
            raise self.pruned(
                f"trial {self.trial.number} pruned after inner fold {step}",
                tags={"graphfuse.tune.state": "PRUNED", "graphfuse.tune.pruned_fold": step},
            )

    def __call__(self, record: dict[str, float]) -> None:
        if self.folds:  # epochs restart in every inner fold: folds are the steps
            return
        value = self._value(record)
        epoch = int(record["epoch"])
        due = epoch >= self.start and (epoch - self.start) % self.every == 0
        if not self.report or not due or math.isnan(value):
            return
        self.trial.report(value, epoch)
        if self.trial.should_prune():
            raise self.pruned(
                f"trial {self.trial.number} pruned at epoch {epoch}",
                tags={"graphfuse.tune.state": "PRUNED", "graphfuse.tune.pruned_epoch": epoch},
            )


def _skip_duplicate(trial: optuna.Trial, values: Mapping[str, Any]) -> None:
    """Prune ``trial`` without training when a finished trial of the study had the same
    values (a small space exhausted): the study records it, user attribute
    ``duplicate_of``, and no MLflow run is made."""
    import optuna

    done = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    for other in trial.study.get_trials(deepcopy=False, states=done):
        if other.params == dict(values) and other.user_attrs.get("duplicate_of") is None:
            trial.set_user_attr("duplicate_of", other.number)
            raise optuna.TrialPruned(f"trial {trial.number} repeats trial {other.number}")


def _final_value(result: Any, metric: str) -> float:
    """The metric of the model ``fit`` kept, on validation patients."""
    name = metric[len("val_") :]
    if name in result.metrics["val"]:
        return float(result.metrics["val"][name])
    epochs = result.history.epochs
    best = [r for r in epochs if int(r["epoch"]) == result.history.best_epoch]
    record = best[0] if best else (epochs[-1] if epochs else {})
    if metric not in record:
        raise ConfigError(f"tune.metric: {metric!r} is not a validation metric of this task")
    return float(record[metric])


def _scalar(value: Any) -> Any:
    return float(value) if isinstance(value, float) else value


def trials_frame(study: optuna.Study, metric: str) -> pd.DataFrame:
    """One row per trial of ``study``: number, state, value, ``test_<metric>`` (the trial's
    recorded test score of the validation ``metric``), epochs, seconds, ``params.<key>``."""
    import pandas as pd

    test_key = metric[len("val_") :]
    cv = str(study.user_attrs.get(_SELECTION_ATTR, "holdout")).startswith("cv")
    rows = []
    for t in study.trials:
        duration = t.duration.total_seconds() if t.duration is not None else math.nan
        row = {"number": t.number, "state": t.state.name, "value": t.value}
        row[f"test_{test_key}"] = (t.user_attrs.get("test") or {}).get(test_key)
        if cv:
            row |= inner_spread(t.user_attrs.get("inner"), metric)
            row["folds"] = folds_run(t, metric)
        else:
            row["epochs"] = t.last_step
        row["seconds"] = duration
        row |= {f"params.{k}": v for k, v in t.params.items()}
        rows.append(row)
    return pd.DataFrame(rows)


def folds_run(trial: optuna.trial.FrozenTrial, metric: str) -> int | None:
    """Inner folds a trial ran (its stored fold scores; else its last reported step)."""
    scores = (trial.user_attrs.get("inner") or {}).get(metric)
    return len(scores) if scores is not None else trial.last_step


def inner_spread(inner: Mapping[str, Any] | None, metric: str) -> dict[str, float]:
    """``inner_mean`` and ``inner_sd`` (``ddof=1``) of a trial's inner-fold scores of
    ``metric`` (its user attribute ``inner``); NaN where there are none."""
    scores = [float(s) for s in (inner or {}).get(metric, []) if not math.isnan(float(s))]
    if not scores:
        return {"inner_mean": math.nan, "inner_sd": math.nan}
    mean = sum(scores) / len(scores)
    var = sum((s - mean) ** 2 for s in scores) / (len(scores) - 1) if len(scores) > 1 else 0.0
    return {"inner_mean": mean, "inner_sd": math.sqrt(var)}


def _default_study_name(config: ExperimentConfig) -> str:
    source = config.source
    if source and not source.startswith("<"):
        return Path(source).stem
    return "graphfuse"


def _check_same_search(
    study: optuna.Study, metric: str, direction: str, name: str, selection: str = "holdout"
) -> None:
    """Refuse to resume a study that scores trials otherwise: another direction, metric or
    selection (validation patients, or how many inner folds)."""
    existing = study.direction.name.lower()
    if existing != direction:
        raise ConfigError(
            f"study {name!r} exists and {existing}s; the config asks to "
            f"{direction} {metric}: use another --study name"
        )
    scored_on = study.user_attrs.get(_METRIC_ATTR)
    if scored_on is None:
        study.set_user_attr(_METRIC_ATTR, metric)
    elif scored_on != metric:
        raise ConfigError(
            f"study {name!r} exists and scores trials on {scored_on}; the config's tune.metric "
            f"is {metric}: use another --study name"
        )
    # a study from before the attribute existed scored its trials on validation patients
    scored_by = study.user_attrs.get(_SELECTION_ATTR, "holdout" if study.trials else None)
    if scored_by is None:
        study.set_user_attr(_SELECTION_ATTR, selection)
    elif scored_by != selection:
        raise ConfigError(
            f"study {name!r} exists and scores trials by {_selection_words(scored_by)}; the "
            f"config's train section selects by {_selection_words(selection)}: use another "
            "--study name"
        )
    elif _SELECTION_ATTR not in study.user_attrs:
        study.set_user_attr(_SELECTION_ATTR, selection)


def _selection_words(selection: str) -> str:
    if selection.startswith("cv:"):
        return f"{selection[3:]}-fold inner cross-validation (selection: cv)"
    return "validation patients (selection: holdout)"


class _Search:
    """One call's optimisation loop, with the MLflow parent run around it."""

    def __init__(
        self,
        study: optuna.Study,
        config: ExperimentConfig,
        spec: TuneConfig,
        name: str,
        storage: str,
        logger: RunLogger | None,
        custom_pruner: bool = False,
        progress: Callable[[str, int, int, Mapping[str, Any]], None] | None = None,
    ) -> None:
        self.study, self.config, self.spec, self.name = study, config, spec, name
        self.progress, self.n_trials = progress, 0
        self.storage, self.logger = storage, logger
        self.metric = spec.metric_for(config.task)
        self.selection = selection_of(config)
        self.cv = self.selection != "holdout"
        # built-in pruners never look at steps before the warm-up: no need to store them
        self.report = custom_pruner or spec.pruner != "none"
        warmup = spec.warmup_folds if self.cv else spec.warmup_epochs
        self.start = 1 if custom_pruner else max(1, warmup)
        self.ran: list[int] = []  # trial numbers run by this call (others may share the study)
        self.parent: str | None = None  # the study's MLflow parent run (claim_parent)
        #: ``graphfuse tune --workers``: called before each trial; ``False`` stops this worker
        self.claim: Callable[[], bool] | None = None
        self.on_trial: Callable[[], None] | None = None

    def claim_parent(self) -> None:
        """Find the study's MLflow parent run, or create it (with the search's parameters
        and config) and record it in the study. Call it under
        :func:`graphfuse.experiment._tune_storage.study_lock`, so that workers starting
        together share one parent run."""
        if self.logger is None:
            return
        logger = self.logger
        previous = self.study.user_attrs.get(_PARENT_ATTR)
        if previous and self._parent_exists(previous):
            self.parent = previous
            return
        with logger.writing("the study's parent run"):
            run = logger.client.create_run(
                logger.experiment_id, run_name=logger.run_name, tags=self._tags()
            )
        logger.run_id = self.parent = run.info.run_id
        logger.log_params({"tune": self.spec.model_dump(mode="json")})
        logger.log_text(self.config.to_yaml(), "config.yaml")
        self.study.set_user_attr(_PARENT_ATTR, self.parent)

    def _tags(self) -> dict[str, str]:
        return {
            "graphfuse.tune.study": self.name,
            "graphfuse.tune.storage": self.storage,
            "graphfuse.tune.metric": self.metric,
            "graphfuse.tune.direction": self.spec.direction_for(self.config.task),
            "graphfuse.tune.selection": self.selection,
            "graphfuse.config_source": str(self.config.source),
        }

    def run(self, n_trials: int, timeout: float | None) -> None:
        if self.logger is None:
            self._optimize(n_trials, timeout)
            return
        if self.parent is None:
            self.claim_parent()
        with self.logger.start(tags=self._tags(), run_id=self.parent):
            self._optimize(n_trials, timeout)
            self._log_best()

    def _parent_exists(self, run_id: str) -> bool:
        assert self.logger is not None
        try:
            run = self.logger.client.get_run(run_id)
        except Exception:  # another tracking store: start a new parent here
            return False
        return run.info.experiment_id == self.logger.experiment_id and (
            run.info.lifecycle_stage == "active"
        )

    def _optimize(self, n_trials: int, timeout: float | None) -> None:
        self.n_trials = n_trials
        if self.progress is not None:
            self.progress("trial", 0, n_trials, {"best": self._best()})
        if self.claim is None:
            self.study.optimize(
                self._objective, n_trials=n_trials, timeout=timeout, callbacks=[self._after_trial]
            )
            return
        started = time.monotonic()
        while (timeout is None or time.monotonic() - started < timeout) and self.claim():
            self.study.optimize(self._objective, n_trials=1, callbacks=[self._after_trial])

    def _objective(self, trial: optuna.Trial) -> float:
        self.ran.append(trial.number)
        values = {k: _scalar(s.suggest(trial, k)) for k, s in self.spec.space.items()}
        _skip_duplicate(trial, values)
        cfg = trial_config(
            self.config, values, run_name=run_name(self.config, f"trial{trial.number}")
        )
        tags = {"graphfuse.tune.study": self.name, "graphfuse.tune.trial": str(trial.number)}
        tags |= {f"graphfuse.tune.param.{k}": str(v) for k, v in values.items()}
        reporter = _Reporter(
            trial,
            self.metric,
            report=self.report,
            start=self.start,
            every=self.spec.report_every,
            folds=self.cv,
        )
        callbacks: dict[str, Any] = {"on_epoch": reporter}
        if self.cv:
            callbacks["on_fold"] = reporter.fold
        result = fit(
            cfg,
            **callbacks,
            parent_run_id=self.logger.run_id if self.logger else None,
            run_tags=tags,
        )
        value = _final_value(result, self.metric)  # with cv: the inner folds' out-of-fold score
        if self.logger is not None and result.run_id is not None:
            self.logger.client.set_tag(result.run_id, "graphfuse.tune.state", "COMPLETE")
        inner = getattr(result, "inner", None)
        if self.cv and inner is not None:  # one list per column: best_epoch, val_<metric>
            scores = inner.scores
            trial.set_user_attr("inner", {c: scores[c].tolist() for c in scores.columns})
        trial.set_user_attr("val", result.metrics["val"])
        trial.set_user_attr("test", result.metrics["test"])  # recorded; never used to select
        trial.set_user_attr("best_epoch", result.history.best_epoch)
        trial.set_user_attr("mlflow_run_id", result.run_id)
        return value

    def _best(self) -> float | None:
        """The study's best validation value so far (``None`` before a trial completes)."""
        done = [t for t in self.study.trials if t.value is not None and t.state.name == "COMPLETE"]
        return self.study.best_value if done else None

    def _after_trial(self, study: optuna.Study, trial: Any) -> None:
        if self.on_trial is not None:
            self.on_trial()
        best = self._best()
        if self.progress is not None:
            info = {"trial": trial.number, "state": trial.state.name, "value": trial.value}
            self.progress("trial", len(self.ran), self.n_trials, info | {"best": best})
        if self.logger is not None and best is not None:
            self.logger.log_metrics({"best_value": best}, step=trial.number)

    def _log_best(self) -> None:
        assert self.logger is not None
        logger, study = self.logger, self.study
        states = [t.state.name for t in study.trials]
        logger.log_metrics(
            {f"n_trials_{s.lower()}": states.count(s) for s in ("COMPLETE", "PRUNED", "FAIL")},
            step=len(states),
        )
        if "COMPLETE" not in states:
            logger.flush()
            return
        best = study.best_trial
        logger.log_metrics({"best_value": best.value}, step=len(states))
        logger.set_tags(
            {"graphfuse.tune.best_trial": best.number}
            | {"graphfuse.tune.best_run_id": best.user_attrs.get("mlflow_run_id")}
            | {f"graphfuse.tune.best.{k}": v for k, v in best.params.items()}
        )
        logger.flush()
        with logger.staging() as folder:
            trials_frame(study, self.metric).to_csv(folder / "trials.csv", index=False)
            best_cfg = trial_config(self.config, dict(best.params)).to_dict()
            best_cfg["tune"] = self.spec.model_dump(mode="json")
            (folder / "best_config.yaml").write_text(yaml.safe_dump(best_cfg, sort_keys=False))
