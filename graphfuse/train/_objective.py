"""What training minimises and what validation measures, per task.

An :class:`Objective` turns a model's output for some patients into a loss and into
validation metrics: cross-entropy and accuracy/F1/ROC AUC for ``classification``; the
Cox partial likelihood and the concordance index for ``survival`` (the model's single
output is a risk score). The trainer asks :func:`objective_for` for the task's objective
and never branches on the task itself.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import torch
from torch_geometric.data import HeteroData

from graphfuse.errors import ConfigError
from graphfuse.graphs import PATIENT
from graphfuse.registry import Registry
from graphfuse.train._metrics import classification_metrics
from graphfuse.train._survival import concordance_index, cox_loss

__all__ = ["TASKS", "ClassificationObjective", "Objective", "SurvivalObjective", "objective_for"]


class Objective(ABC):
    """Loss and validation metrics of one task on a patient graph.

    ``monitors`` maps each metric early stopping may watch to its sign (``+1``: lower
    is better, ``-1``: higher is better).
    """

    task: ClassVar[str]
    monitors: ClassVar[dict[str, float]]

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


class ClassificationObjective(Objective):
    """Cross-entropy; accuracy, F1 and ROC AUC (:func:`classification_metrics`)."""

    task: ClassVar[str] = "classification"
    monitors: ClassVar[dict[str, float]] = {"val_loss": 1.0, "val_roc_auc": -1.0}

    def __init__(self, data: HeteroData) -> None:
        super().__init__(data)
        self._ce = torch.nn.CrossEntropyLoss()

    def loss(self, out: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self._ce(out[mask], self.store.y[mask])

    def metrics(self, out: torch.Tensor, mask: torch.Tensor) -> dict[str, float]:
        proba = torch.softmax(out[mask].detach(), dim=1).numpy()
        return classification_metrics(self.store.y[mask].numpy(), proba)


class SurvivalObjective(Objective):
    """Negative Cox partial log-likelihood (Breslow ties); concordance index.

    Reads ``time`` (float) and ``event`` (bool) of ``data["patient"]``; the loss of a
    subset of patients uses risk sets within that subset.
    """

    task: ClassVar[str] = "survival"
    monitors: ClassVar[dict[str, float]] = {"val_loss": 1.0, "val_c_index": -1.0}

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
        risk = out[mask, 0].detach().numpy()
        t, e = self.store.time[mask].numpy(), self.store.event[mask].numpy()
        return {"c_index": concordance_index(t, e, risk)}


#: Task name -> its objective.
TASKS: Registry[Objective] = Registry("task")
TASKS.register("classification")(ClassificationObjective)
TASKS.register("survival")(SurvivalObjective)


def objective_for(task: str, data: HeteroData) -> Objective:
    """The objective of ``task`` (``classification`` or ``survival``) on ``data``.

    Raises
    ------
    ConfigError
        Unknown task (naming the valid ones), or survival targets missing from ``data``.
    """
    try:
        cls = TASKS.get(task)
    except KeyError:
        raise ConfigError(f"task: unknown task {task!r}; valid: {sorted(TASKS)}") from None
    return cls(data)
