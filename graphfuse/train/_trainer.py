"""Full-batch training with early stopping on the validation split."""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
from torch_geometric.data import HeteroData

from graphfuse.graphs import PATIENT
from graphfuse.models import FusionModel
from graphfuse.train._metrics import classification_metrics

__all__ = ["TrainHistory", "predict_proba", "train_model"]


@dataclass
class TrainHistory:
    """What happened during training.

    Attributes
    ----------
    epochs
        One dict per epoch: ``epoch``, ``train_loss``, ``val_loss`` and the validation
        metrics (``val_accuracy``, ``val_f1``, ``val_roc_auc``, ...).
    best_epoch
        Epoch whose weights were kept (best monitored value).
    stopped_epoch
        Last epoch run (early stopping may end before ``max_epochs``).
    seconds
        Wall-clock training time.
    """

    epochs: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    stopped_epoch: int = 0
    max_epochs: int = 0
    seconds: float = 0.0

    @property
    def early_stopped(self) -> bool:
        return self.stopped_epoch < self.max_epochs


@torch.no_grad()
def predict_proba(model: FusionModel, data: HeteroData) -> np.ndarray:
    """Class probabilities of every patient (eval mode), ``(n_patients, n_classes)``."""
    model.eval()
    return torch.softmax(model(data), dim=1).numpy()


def train_model(
    model: FusionModel,
    data: HeteroData,
    *,
    epochs: int,
    lr: float,
    weight_decay: float,
    patience: int,
    monitor: Literal["val_loss", "val_roc_auc"] = "val_loss",
    progress: bool = True,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
) -> TrainHistory:
    """Train ``model`` on the training patients of ``data``; keep the best validation weights.

    Parameters
    ----------
    model, data
        A fusion model and the patient graph with ``train_mask`` and ``val_mask``.
    epochs, lr, weight_decay
        Adam optimisation, full batch, cross-entropy on training patients.
    patience
        Stop after this many epochs without improvement of ``monitor``.
    monitor
        ``val_loss`` (lower is better) or ``val_roc_auc`` (higher is better). Test
        patients are never looked at.
    progress
        Show a progress bar.
    on_epoch
        Called with each epoch's record (e.g. to buffer metrics for MLflow).

    Returns
    -------
    TrainHistory
        Per-epoch losses and metrics; ``model`` holds the best weights, in eval mode.
    """
    store = data[PATIENT]
    y = store.y
    train, val = store.train_mask, store.val_mask
    optimiser = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    loss_fn = torch.nn.CrossEntropyLoss()
    sign = 1.0 if monitor == "val_loss" else -1.0
    best = math.inf
    best_state = copy.deepcopy(model.state_dict())
    history = TrainHistory(max_epochs=epochs)
    started = time.perf_counter()
    bar = _progress(progress, epochs)
    try:
        for epoch in range(1, epochs + 1):
            model.train()
            optimiser.zero_grad()
            loss = loss_fn(model(data)[train], y[train])
            loss.backward()
            optimiser.step()

            model.eval()
            with torch.no_grad():
                logits = model(data)
                val_loss = float(loss_fn(logits[val], y[val]))
                proba = torch.softmax(logits[val], dim=1).numpy()
            record = {"epoch": epoch, "train_loss": float(loss.detach()), "val_loss": val_loss}
            record |= {
                f"val_{k}": v for k, v in classification_metrics(y[val].numpy(), proba).items()
            }
            history.epochs.append(record)
            if on_epoch is not None:
                on_epoch(record)
            value = sign * record[monitor]
            if not math.isnan(value) and value < best:
                best, history.best_epoch = value, epoch
                best_state = copy.deepcopy(model.state_dict())
            history.stopped_epoch = epoch
            if bar is not None:
                bar[0].update(
                    bar[1],
                    advance=1,
                    info=f"loss {record['train_loss']:.3f}  val {val_loss:.3f}  "
                    f"val AUC {record['val_roc_auc']:.3f}  best@{history.best_epoch}",
                )
            if epoch - history.best_epoch >= patience:
                break
    finally:
        if bar is not None:
            bar[0].stop()
    model.load_state_dict(best_state)
    model.eval()
    history.seconds = time.perf_counter() - started
    return history


def _progress(enabled: bool, total: int):  # -> tuple[Progress, TaskID] | None
    if not enabled:
        return None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(
        TextColumn("training"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[info]}"),
    )
    task = bar.add_task("train", total=total, info="")
    bar.start()
    return bar, task
