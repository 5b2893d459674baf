"""The ``tune:`` section of an experiment config: what ``graphfuse tune`` searches.

A ``space`` maps dotted config paths to distributions; :mod:`graphfuse.tune` applies a
trial's values as overrides and re-validates the whole config.

Examples
--------
>>> spec = TuneConfig.model_validate(
...     {"space": {"train.lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True}}}
... )
>>> spec.metric_for("classification"), spec.direction_for("survival"), spec.space["train.lr"].log
('val_roc_auc', 'maximize', True)
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from graphfuse._params import StrictModel
from graphfuse.train import TASKS

__all__ = ["ParamSpace", "TuneConfig"]

Scalar = str | int | float | bool | None

_NOT_TUNABLE = ("tune", "tracking", "seed")
#: Keys that change what a trial's value means (validation patients or the inner folds, and
#: how many): values under different settings cannot be compared, so they are not searched.
_FIXED_OBJECTIVE = ("train.selection", "train.inner_folds")
#: Task -> the metric a study optimises when ``tune.metric`` is null (the task's own).
DEFAULT_METRICS = {name: TASKS.get(name).default_metric for name in TASKS}


class ParamSpace(StrictModel):
    """One searched value: ``int`` / ``float`` in ``[low, high]``, or ``categorical`` choices.

    ``log: true`` samples on a log scale (``low`` must be > 0); ``step`` discretises the
    range (not with ``log``). ``choices`` are YAML scalars (strings, numbers, booleans,
    ``null``).
    """

    type: Literal["int", "float", "categorical"]
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = Field(None, gt=0)
    choices: list[Scalar] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> ParamSpace:
        if self.type == "categorical":
            if not self.choices:
                raise ValueError("type categorical needs a non-empty list of choices")
            given = [k for k in ("low", "high", "step") if getattr(self, k) is not None]
            if given or self.log:
                raise ValueError(
                    f"type categorical takes choices only, not {', '.join(given or ['log'])}"
                )
            return self
        if self.choices is not None:
            raise ValueError(f"choices are for type categorical, not {self.type}")
        if self.low is None or self.high is None:
            raise ValueError(f"type {self.type} needs low and high")
        if not self.low < self.high:
            raise ValueError(f"low ({self.low}) must be < high ({self.high})")
        if self.log and self.low <= 0:
            raise ValueError(f"log: true needs low > 0 (got {self.low})")
        if self.log and self.step is not None:
            raise ValueError("step and log: true cannot be combined")
        if self.type == "int":
            for key in ("low", "high", "step"):
                value = getattr(self, key)
                if value is not None and value != int(value):
                    raise ValueError(f"type int needs an integer {key} (got {value})")
        return self

    def bounds(self) -> list[Any]:
        """The extreme values a trial can take: ``[low, high]`` or every choice."""
        if self.type == "categorical":
            return list(self.choices or [])
        if self.type == "int":
            return [int(self.low or 0), int(self.high or 0)]
        return [self.low, self.high]

    def suggest(self, trial: Any, name: str) -> Any:
        """Draw this value for an Optuna ``trial`` under the parameter ``name``."""
        if self.type == "categorical":
            return trial.suggest_categorical(name, self.choices)
        if self.type == "int":
            step = int(self.step) if self.step is not None else 1
            low, high = int(self.low or 0), int(self.high or 0)
            return trial.suggest_int(name, low, high, step=step, log=self.log)
        return trial.suggest_float(name, self.low, self.high, step=self.step, log=self.log)


class TuneConfig(StrictModel):
    """Hyper-parameter search: the metric, its direction, the budget, storage and space.

    ``metric`` is a validation metric (``val_roc_auc``, ``val_loss``, ``val_c_index``, ...):
    model selection never looks at test patients. The study is an Optuna study; see
    ``docs/tuning.md`` for storage and resuming.
    """

    metric: str | None = None
    """The validation metric a trial is scored on, reported during training for pruning;
    ``null``: ``val_roc_auc`` (classification) or ``val_c_index`` (survival)."""
    direction: Literal["maximize", "minimize"] | None = None
    """``null``: ``minimize`` for a ``..._loss`` metric, else ``maximize``."""
    trials: int = Field(20, ge=1, le=1_000_000)
    """Trials per ``graphfuse tune`` invocation (``--trials`` overrides)."""
    timeout: float | None = Field(None, gt=0)
    """Stop starting new trials after this many seconds (``--timeout`` overrides)."""
    storage: str | None = None
    """Optuna storage URL (``sqlite:///…``, ``postgresql://…``) or a journal file path;
    ``null``: ``optuna.journal`` beside the MLflow SQLite store, else in the working folder."""
    study: str | None = None
    """Study name; ``null``: the config file's name without ``.yaml``."""
    pruner: Literal["median", "hyperband", "none"] = "median"
    """Stop unpromising trials early on the per-epoch validation metric."""
    startup_trials: int = Field(5, ge=0)
    """``median``: trials that run to the end before any is pruned."""
    warmup_epochs: int = Field(5, ge=0)
    """Epochs of a trial before it can be pruned (``hyperband``: its minimum resource)."""
    report_every: int = Field(1, ge=1)
    """Report the metric (and ask the pruner) every this many epochs from ``warmup_epochs``
    on; each report is a write to the storage (about 10 ms on a journal file)."""
    warmup_folds: int = Field(2, ge=0)
    """``train.selection: cv``: inner folds a trial always runs before it can be pruned
    (the running mean of the folds' scores is reported after every fold; ``hyperband``:
    its minimum resource). ``warmup_epochs`` and ``report_every`` then do not apply."""
    seed: int | None = Field(None, ge=0)
    """The study's sampler (TPE) seed; ``null``: the experiment seed. Each worker seeds its
    sampler from this value, the worker (``host:pid``) and the trials already in the study,
    so workers sharing a study, and a resumed search, draw new points."""
    space: dict[str, ParamSpace] = Field(..., min_length=1)
    """Dotted config path -> distribution, e.g. ``train.lr: {type: float, low: 1e-4,
    high: 1e-2, log: true}``; ``model.hidden`` and ``model.params.hidden`` are the same."""

    @field_validator("metric")
    @classmethod
    def _validation_metric(cls, metric: str | None) -> str | None:
        if metric is not None and (not metric.startswith("val_") or metric == "val_"):
            raise ValueError(
                f"{metric!r} is not a validation metric: tune selects on validation patients "
                "only, e.g. val_roc_auc, val_loss, val_f1 (never a test metric)"
            )
        return metric

    @field_validator("space")
    @classmethod
    def _paths(cls, space: dict[str, ParamSpace]) -> dict[str, ParamSpace]:
        for key in space:
            parts = key.split(".")
            if any(not p.strip() for p in parts):
                raise ValueError(f"{key!r}: expected a dotted config path, e.g. train.lr")
            if parts[0] in _NOT_TUNABLE:
                raise ValueError(
                    f"{key!r}: {parts[0]} is not a hyper-parameter (the experiment seed fixes "
                    "the split, which every trial must share)"
                    if parts[0] == "seed"
                    else f"{key!r}: {parts[0]} is not a hyper-parameter"
                )
            if key in _FIXED_OBJECTIVE:
                raise ValueError(
                    f"{key!r} cannot be searched: it decides what a trial's value is (validation "
                    "patients or inner folds), so trials under different values are not "
                    "comparable; set it in the train section"
                )
        canonical = [k.replace(".params.", ".", 1) for k in space]
        dup = sorted({k for k in canonical if canonical.count(k) > 1})
        if dup:
            raise ValueError(f"the same path is given twice (with and without .params.): {dup}")
        return space

    def metric_for(self, task: str) -> str:
        """``metric``, or the task's default."""
        return self.metric or TASKS.get(task).default_metric

    def direction_for(self, task: str) -> Literal["maximize", "minimize"]:
        """``direction``, or the task's direction of the metric
        (:meth:`graphfuse.train.Objective.direction`)."""
        if self.direction is not None:
            return self.direction
        return TASKS.get(task).direction(self.metric_for(task))
