"""What a task is: its outputs, loss, metrics with their directions, scoring and plots.

An :class:`Objective` turns a model's output for some patients into a loss and into
validation metrics: cross-entropy and accuracy/F1/ROC AUC for ``classification``; the
Cox partial likelihood and the concordance index for ``survival`` (the model's single
output is a risk score). The class also carries the task's knowledge that the rest of
the library asks for instead of branching on the task's name: what the model predicts
(:attr:`~Objective.output`), how many outputs it needs, which metrics are better higher
(:meth:`~Objective.direction`), the default tuning metric, the metrics of every split of
a fitted model, its test-patient plot and its per-patient prediction table.

Tasks are registered in :data:`TASKS` (a :class:`graphfuse.registry.Registry`); the
trainer asks :func:`objective_for` for the task's objective on a graph.

Examples
--------
>>> task = TASKS.get("survival")
>>> task.output, task.default_metric, task.direction("val_c_index")
('risk', 'val_c_index', 'maximize')
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
import torch
from torch_geometric.data import HeteroData

from graphfuse._device import device_of
from graphfuse.errors import ConfigError, RegistryError
from graphfuse.graphs import PATIENT
from graphfuse.registry import Registry
from graphfuse.train._metrics import classification_metrics
from graphfuse.train._plots import confusion_figure, confusion_table, roc_figure
from graphfuse.train._predict import predict_proba, predict_risk
from graphfuse.train._survival import (
    concordance_index,
    cox_loss,
    km_figure,
    risk_groups,
    survival_metrics,
)

__all__ = [
    "TASKS",
    "ClassificationObjective",
    "Direction",
    "Objective",
    "SurvivalObjective",
    "objective_for",
    "task_class",
]

Direction = Literal["maximize", "minimize"]

#: Outcome of every patient for tasks that have one: ``(time, event)``.
Outcome = tuple[np.ndarray, np.ndarray]

#: Task name -> its objective (``task:`` of an experiment config).
TASKS: Registry[Objective] = Registry("task")


def _monitors(directions: Mapping[str, Direction], *names: str) -> dict[str, float]:
    """Early-stopping sign of each validation metric ``names``: ``+1`` where lower is better,
    ``-1`` where higher is."""
    return {n: 1.0 if directions[n.removeprefix("val_")] == "minimize" else -1.0 for n in names}


class Objective(ABC):
    """Loss, metrics and outputs of one task on a patient graph.

    ``monitors`` maps each metric early stopping may watch to its sign (``+1``: lower
    is better, ``-1``: higher is better), derived from ``directions``.

    Class attributes declare the task's knowledge: ``output`` (``"probabilities"``, one
    column per class, or ``"risk"``, one column), ``directions`` (metric -> ``maximize`` or
    ``minimize``, unprefixed), ``monitors`` (the validation metrics early stopping may
    watch), ``default_metric`` (the tuning metric when ``tune.metric`` is null),
    ``summary_metrics`` (the columns ``graphfuse fit`` prints) and ``needs_outcome`` (the
    task reads a ``(time, event)`` outcome, see :meth:`attach_outcome`). Classmethods
    predict, score and plot a fitted model without a graph-bound instance.
    """

    task: ClassVar[str]
    output: ClassVar[Literal["probabilities", "risk"]]
    directions: ClassVar[dict[str, Direction]]
    monitors: ClassVar[dict[str, float]]
    default_metric: ClassVar[str]
    summary_metrics: ClassVar[tuple[str, ...]]
    needs_outcome: ClassVar[bool] = False

    def __init__(self, data: HeteroData) -> None:
        self.store = data[PATIENT]

    @abstractmethod
    def loss(self, out: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The loss of the patients in ``mask`` given the model output of all patients."""

    @abstractmethod
    def metrics(self, out: torch.Tensor, mask: torch.Tensor) -> dict[str, float]:
        """Metrics (unprefixed) of the patients in ``mask``."""

    def check_monitor(self, monitor: str) -> float:
        """The sign of ``monitor``; a :class:`ConfigError` when the task has no such metric."""
        if monitor not in self.monitors:
            raise ConfigError(
                f"train.monitor: {monitor!r} is not a {self.task} metric; use one of "
                f"{sorted(self.monitors)}"
            )
        return self.monitors[monitor]

    # ------------------------------------------------------------ task knowledge

    @classmethod
    def direction(cls, metric: str) -> Direction:
        """Whether ``metric`` (``roc_auc``, ``val_roc_auc``, ``test_c_index``, ...) is better
        higher (``maximize``) or lower; a name the task does not know: ``minimize`` for a
        ``..._loss``, else ``maximize``."""
        name = metric
        for prefix in ("val_", "test_", "train_"):
            name = name.removeprefix(prefix)
        if name in cls.directions:
            return cls.directions[name]
        return "minimize" if metric.endswith("loss") else "maximize"

    @classmethod
    def n_outputs(cls, n_classes: int) -> int:
        """Model outputs per patient: one per class."""
        return n_classes

    @classmethod
    def attach_outcome(cls, data: HeteroData, outcome: Outcome | None) -> None:
        """Put the patients' outcome on ``data`` where the loss reads it (none here)."""
        return

    @classmethod
    @abstractmethod
    def predict(cls, model: torch.nn.Module, data: HeteroData) -> np.ndarray:
        """Every patient's prediction (eval mode), ``(n_patients, n_columns)``, computed on
        the model's device (``data`` is moved there) and returned as a NumPy array."""

    @classmethod
    @abstractmethod
    def score(
        cls,
        pred: np.ndarray,
        y: np.ndarray,
        splits: Mapping[str, np.ndarray],
        outcome: Outcome | None = None,
        *,
        classes: Sequence[Any] | None = None,
    ) -> dict[str, dict[str, float]]:
        """Metrics per split of :meth:`predict`'s output (``classes``: the cohort's class
        labels, for metrics named per class)."""

    @classmethod
    @abstractmethod
    def figure(
        cls,
        pred: np.ndarray,
        y: np.ndarray,
        splits: Mapping[str, np.ndarray],
        classes: Sequence[Any],
        outcome: Outcome | None = None,
    ) -> tuple[Any, str]:
        """The test patients' plot and its artifact path (``plots/<name>.png``)."""

    @classmethod
    def artifacts(
        cls,
        pred: np.ndarray,
        y: np.ndarray,
        splits: Mapping[str, np.ndarray],
        classes: Sequence[Any],
        outcome: Outcome | None = None,
    ) -> dict[str, Any]:
        """More test-patient reports beside :meth:`figure`: artifact path -> a matplotlib
        figure (``.png``) or a table (``.csv``); none by default."""
        return {}

    @classmethod
    @abstractmethod
    def predictions(
        cls,
        pred: np.ndarray,
        y: np.ndarray,
        split_of: np.ndarray,
        classes: Sequence[Any],
        patients: pd.Index,
        splits: Mapping[str, np.ndarray],
        outcome: Outcome | None = None,
    ) -> pd.DataFrame:
        """One row per patient: its split, what is known of it and the prediction."""

    @classmethod
    def format_metric(cls, name: str, value: float) -> str:
        """``value`` as ``graphfuse fit`` prints it."""
        return f"{value:.3f}"


@TASKS.register("classification")
class ClassificationObjective(Objective):
    """Cross-entropy; accuracy, F1 and ROC AUC (:func:`classification_metrics`)."""

    task: ClassVar[str] = "classification"
    output: ClassVar[Literal["probabilities", "risk"]] = "probabilities"
    directions: ClassVar[dict[str, Direction]] = {
        "loss": "minimize",
        "accuracy": "maximize",
        "f1": "maximize",
        "f1_macro": "maximize",
        "f1_weighted": "maximize",
        "roc_auc": "maximize",
    }
    monitors: ClassVar[dict[str, float]] = _monitors(directions, "val_loss", "val_roc_auc")
    default_metric: ClassVar[str] = "val_roc_auc"
    summary_metrics: ClassVar[tuple[str, ...]] = ("accuracy", "f1", "f1_macro", "roc_auc")

    def __init__(self, data: HeteroData) -> None:
        super().__init__(data)
        self._ce = torch.nn.CrossEntropyLoss()

    def loss(self, out: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self._ce(out[mask], self.store.y[mask])

    def metrics(self, out: torch.Tensor, mask: torch.Tensor) -> dict[str, float]:
        proba = torch.softmax(out[mask].detach(), dim=1).cpu().numpy()
        return classification_metrics(self.store.y[mask].cpu().numpy(), proba)

    @classmethod
    def predict(cls, model: torch.nn.Module, data: HeteroData) -> np.ndarray:
        """Class probabilities, ``(n_patients, n_classes)``."""
        return predict_proba(model, data)

    @classmethod
    def score(
        cls,
        pred: np.ndarray,
        y: np.ndarray,
        splits: Mapping[str, np.ndarray],
        outcome: Outcome | None = None,
        *,
        classes: Sequence[Any] | None = None,
    ) -> dict[str, dict[str, float]]:
        """:func:`classification_metrics` per split; with more than two ``classes`` also
        ``roc_auc_<class>`` and ``f1_<class>``."""
        return {
            name: classification_metrics(y[idx], pred[idx], classes=classes)
            for name, idx in splits.items()
        }

    @classmethod
    def figure(
        cls,
        pred: np.ndarray,
        y: np.ndarray,
        splits: Mapping[str, np.ndarray],
        classes: Sequence[Any],
        outcome: Outcome | None = None,
    ) -> tuple[Any, str]:
        test = splits["test"]
        fig = roc_figure(y[test], pred[test], classes, title="ROC, test patients")
        return fig, "plots/roc_test.png"

    @classmethod
    def artifacts(
        cls,
        pred: np.ndarray,
        y: np.ndarray,
        splits: Mapping[str, np.ndarray],
        classes: Sequence[Any],
        outcome: Outcome | None = None,
    ) -> dict[str, Any]:
        """The test patients' confusion matrix: ``plots/confusion_matrix.png``
        (:func:`~graphfuse.train.confusion_figure`) and ``confusion_matrix.csv`` (counts,
        true classes as rows)."""
        test = splits["test"]
        title = "Confusion matrix, test patients"
        return {
            "plots/confusion_matrix.png": confusion_figure(
                y[test], pred[test], classes, title=title
            ),
            "confusion_matrix.csv": confusion_table(y[test], pred[test], classes),
        }

    @classmethod
    def predictions(
        cls,
        pred: np.ndarray,
        y: np.ndarray,
        split_of: np.ndarray,
        classes: Sequence[Any],
        patients: pd.Index,
        splits: Mapping[str, np.ndarray],
        outcome: Outcome | None = None,
    ) -> pd.DataFrame:
        """``split``, ``label``, ``p_<class>`` per class."""
        frame = pd.DataFrame(pred, index=patients, columns=[f"p_{c}" for c in classes])
        frame.insert(0, "split", split_of)
        frame.insert(1, "label", np.asarray(classes, dtype=object)[y])
        return frame


@TASKS.register("survival")
class SurvivalObjective(Objective):
    """Negative Cox partial log-likelihood (Breslow ties); concordance index.

    Reads ``time`` (float) and ``event`` (bool) of ``data["patient"]``; the loss of a
    subset of patients uses risk sets within that subset. A fitted model's patients are
    split into high- and low-risk groups at the training patients' median risk.
    """

    task: ClassVar[str] = "survival"
    output: ClassVar[Literal["probabilities", "risk"]] = "risk"
    directions: ClassVar[dict[str, Direction]] = {
        "loss": "minimize",
        "c_index": "maximize",
        "logrank_p": "minimize",
    }
    monitors: ClassVar[dict[str, float]] = _monitors(directions, "val_loss", "val_c_index")
    default_metric: ClassVar[str] = "val_c_index"
    summary_metrics: ClassVar[tuple[str, ...]] = ("c_index", "logrank_p", "events")
    needs_outcome: ClassVar[bool] = True

    def __init__(self, data: HeteroData) -> None:
        super().__init__(data)
        missing = [k for k in ("time", "event") if k not in self.store]
        if missing:
            raise ConfigError(
                f"task 'survival' needs data['patient'].time and .event; the graph lacks "
                f"{missing} (graphfuse.experiment.fit sets them from data.survival)"
            )
        if self.store.time.shape[0] != self.store.num_nodes:
            raise ConfigError("data['patient'].time must hold one time per patient")

    def loss(self, out: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return cox_loss(out[mask, 0], self.store.time[mask], self.store.event[mask])

    def metrics(self, out: torch.Tensor, mask: torch.Tensor) -> dict[str, float]:
        risk = out[mask, 0].detach().cpu().numpy()
        t, e = self.store.time[mask].cpu().numpy(), self.store.event[mask].cpu().numpy()
        return {"c_index": concordance_index(t, e, risk)}

    @classmethod
    def n_outputs(cls, n_classes: int) -> int:
        """One risk score per patient."""
        return 1

    @classmethod
    def attach_outcome(cls, data: HeteroData, outcome: Outcome | None) -> None:
        """``data["patient"].time`` (float) and ``.event`` (bool), for the Cox loss."""
        assert outcome is not None  # needs_outcome: the caller reads it
        device = device_of(data)
        data[PATIENT].time = torch.as_tensor(outcome[0], dtype=torch.float32, device=device)
        data[PATIENT].event = torch.as_tensor(outcome[1], dtype=torch.bool, device=device)

    @classmethod
    def predict(cls, model: torch.nn.Module, data: HeteroData) -> np.ndarray:
        """The risk score, one column ``(n_patients, 1)``."""
        return predict_risk(model, data)[:, None]

    @classmethod
    def score(
        cls,
        pred: np.ndarray,
        y: np.ndarray,
        splits: Mapping[str, np.ndarray],
        outcome: Outcome | None = None,
        *,
        classes: Sequence[Any] | None = None,
    ) -> dict[str, dict[str, float]]:
        """Per split: concordance and log-rank p of risk groups split at the training median."""
        assert outcome is not None
        time_, event = outcome
        risk = pred[:, 0]
        threshold = float(np.median(risk[splits["train"]]))
        return {
            name: survival_metrics(time_[idx], event[idx], risk[idx], threshold=threshold)
            for name, idx in splits.items()
        }

    @classmethod
    def figure(
        cls,
        pred: np.ndarray,
        y: np.ndarray,
        splits: Mapping[str, np.ndarray],
        classes: Sequence[Any],
        outcome: Outcome | None = None,
    ) -> tuple[Any, str]:
        assert outcome is not None
        time_, event = outcome
        high = cls._high_risk(pred, splits)
        test = splits["test"]
        return km_figure(time_[test], event[test], high[test]), "plots/km_test.png"

    @classmethod
    def predictions(
        cls,
        pred: np.ndarray,
        y: np.ndarray,
        split_of: np.ndarray,
        classes: Sequence[Any],
        patients: pd.Index,
        splits: Mapping[str, np.ndarray],
        outcome: Outcome | None = None,
    ) -> pd.DataFrame:
        """``split``, ``time``, ``event``, ``risk``, ``risk_group`` (split at the training
        median risk)."""
        assert outcome is not None
        time_, event = outcome
        risk = pred[:, 0]
        frame = pd.DataFrame(
            {"split": split_of, "time": time_, "event": event.astype(int), "risk": risk},
            index=patients,
        )
        frame["risk_group"] = np.where(cls._high_risk(pred, splits), "high", "low")
        return frame

    @classmethod
    def format_metric(cls, name: str, value: float) -> str:
        return f"{value:.3g}" if name in ("logrank_p", "events") else f"{value:.3f}"

    @staticmethod
    def _high_risk(pred: np.ndarray, splits: Mapping[str, np.ndarray]) -> np.ndarray:
        risk = pred[:, 0]
        return risk_groups(risk, float(np.median(risk[splits["train"]])))


def objective_for(task: str, data: HeteroData) -> Objective:
    """The objective of ``task`` (``classification`` or ``survival``) on ``data``.

    Raises
    ------
    ConfigError
        Unknown task (naming the valid ones), or survival targets missing from ``data``.
    """
    return task_class(task)(data)


def task_class(task: str) -> type[Objective]:
    """The registered objective class of ``task``, for what a task knows without a graph.

    Raises
    ------
    ConfigError
        Unknown task, naming the valid ones.
    """
    try:
        return TASKS.get(task)
    except RegistryError:
        raise ConfigError(f"task: unknown task {task!r}; valid: {sorted(TASKS)}") from None
