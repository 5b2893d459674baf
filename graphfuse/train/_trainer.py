"""Full-batch training with early stopping on the validation split."""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch_geometric.data import HeteroData

from graphfuse._device import DeviceSetting, as_device, device_of, to_device
from graphfuse.graphs import PATIENT
from graphfuse.models import FusionModel
from graphfuse.train._dropout import drop_modalities
from graphfuse.train._objective import Objective, objective_for
from graphfuse.train._predict import predict_proba, predict_risk

__all__ = ["TrainHistory", "predict_proba", "predict_risk", "train_model"]


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


def train_model(
    model: FusionModel,
    data: HeteroData,
    *,
    epochs: int,
    lr: float,
    weight_decay: float,
    patience: int | None,
    monitor: Literal["val_loss", "val_roc_auc", "val_c_index"] = "val_loss",
    progress: bool = True,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
    task: Literal["classification", "survival"] = "classification",
    modality_dropout: float = 0.0,
    seed: int = 0,
    device: DeviceSetting | None = None,
) -> TrainHistory:
    """Train ``model`` on the training patients of ``data``; keep the best validation weights.

    Parameters
    ----------
    model, data
        A fusion model and the patient graph with ``train_mask`` and ``val_mask``. An
        empty ``val_mask`` (no validation patients) needs ``patience=None``: every epoch
        is run, nothing is validated and the last epoch's weights are kept (a refit on
        training + validation patients for a number of epochs chosen before).
    epochs, lr, weight_decay
        Adam optimisation, full batch, the task's loss on training patients.
    patience
        Stop after this many epochs without improvement of ``monitor``; ``None``: no
        early stopping, run all ``epochs`` (keeping the best validation weights when
        there are validation patients).
    monitor
        ``val_loss`` (lower is better), ``val_roc_auc`` (classification) or
        ``val_c_index`` (survival; higher is better). Test patients are never looked at.
    progress
        Show a progress bar.
    on_epoch
        Called with each epoch's record (e.g. to buffer metrics for MLflow).
    task
        ``classification``: cross-entropy, validation accuracy/F1/ROC AUC.
        ``survival``: Cox partial likelihood (Breslow ties) of the model's one output, a
        risk score, against ``data["patient"].time`` and ``.event``; validation
        concordance index (:mod:`graphfuse.train._objective`).
    modality_dropout
        Each epoch, hide each modality a training patient has with this probability
        (never all of them) in the graph the training step sees
        (:func:`graphfuse.train.drop_modalities`); validation sees the true mask.
    seed
        Seed of the modality dropout draws (made on the CPU, then moved: the same draws on
        every device).
    device
        Where to train (a :class:`torch.device` or a ``train.device`` string: ``auto``,
        ``cpu``, ``cuda``, ``cuda:N``; :func:`graphfuse._device.resolve_device`). The
        model is moved there (in place; it stays there after training) and the graph is
        moved for training (:func:`graphfuse._device.to_device`; the ``data`` given is
        left where it is). ``None`` (default): where the model is — the CPU for a model
        just built. A scikit-learn baseline is fitted by scikit-learn on the CPU and its
        fitted buffers are put on the device.

    Returns
    -------
    TrainHistory
        Per-epoch losses and metrics; ``model`` holds the best weights (without validation
        patients: the last), in eval mode, on ``device``.

    Raises
    ------
    ValueError
        No validation patients but a ``patience`` (early stopping needs them).

    Notes
    -----
    The model's trainer hooks (:class:`graphfuse.models.FusionModel`, defaults do
    nothing): :meth:`~graphfuse.models.FusionModel.pretrain` runs first (its own phase on
    the training patients, counted in ``seconds``), the Adam optimiser updates
    :meth:`~graphfuse.models.FusionModel.param_groups` (e.g. per-part learning rates), and
    :meth:`~graphfuse.models.FusionModel.auxiliary_loss` (e.g. MOGONET's per-modality
    classifiers, from its last forward pass) is added to the training loss. A model that
    is not ``differentiable`` (the scikit-learn baselines) is fitted once on the training
    patients by its ``fit_direct(data)`` instead; its history holds that one fit as
    epoch 1.
    """
    if device is not None:
        model.to(as_device(device))
    data = to_device(data, device_of(model))
    store = data[PATIENT]
    train, val = store.train_mask, store.val_mask
    validate = bool(val.any())
    if not validate and patience is not None:
        raise ValueError(
            "train_model: no validation patients (val_mask is empty), so early stopping "
            f"(patience={patience}) cannot run; pass patience=None to train all epochs"
        )
    if not model.differentiable:  # fitted, not trained by gradient (scikit-learn baselines)
        return _fit_direct(model, data, objective_for(task, data), on_epoch)
    started = time.perf_counter()
    model.pretrain(data, train, weight_decay=weight_decay)  # a phase of the model's own
    groups = model.param_groups(lr)
    optimiser = torch.optim.Adam(groups, lr=lr, weight_decay=weight_decay)
    objective = objective_for(task, data)
    sign = objective.check_monitor(monitor)
    dropout_rng = torch.Generator().manual_seed(seed)
    best = math.inf
    best_state = copy.deepcopy(model.state_dict())
    history = TrainHistory(max_epochs=epochs)
    bar = _progress(progress, epochs)
    try:
        for epoch in range(1, epochs + 1):
            seen = data
            if modality_dropout:
                seen = drop_modalities(data, modality_dropout, dropout_rng)
            loss = _step(model, optimiser, objective, seen, store.y, train)
            record = {"epoch": epoch, "train_loss": loss}
            if validate:
                record |= _validation(model, objective, data, val)
            history.epochs.append(record)
            if on_epoch is not None:
                on_epoch(record)
            value = sign * record[monitor] if validate else -epoch  # no validation: the last
            if not math.isnan(value) and value < best:
                best, history.best_epoch = value, epoch
                if validate:
                    best_state = copy.deepcopy(model.state_dict())
            history.stopped_epoch = epoch
            if bar is not None:
                _show(bar, record, monitor, history.best_epoch)
            if patience is not None and epoch - history.best_epoch >= patience:
                break
    finally:
        if bar is not None:
            bar[0].stop()
    if validate:
        model.load_state_dict(best_state)
    model.eval()
    history.seconds = time.perf_counter() - started
    return history


def _step(
    model: FusionModel,
    optimiser: torch.optim.Optimizer,
    objective: Objective,
    seen: HeteroData,
    y: torch.Tensor,
    train: torch.Tensor,
) -> float:
    """One full-batch training step on the graph ``seen``; the training loss."""
    model.train()
    optimiser.zero_grad()
    loss = objective.loss(model(seen), train)
    loss = loss + model.auxiliary_loss(y, train)  # of its last forward (MOGONET)
    loss.backward()
    optimiser.step()
    return float(loss.detach())


def _validation(
    model: FusionModel, objective: Objective, data: HeteroData, val: torch.Tensor
) -> dict[str, float]:
    """Validation loss and metrics of the model in eval mode."""
    model.eval()
    with torch.no_grad():
        out = model(data)
        record = {"val_loss": float(objective.loss(out, val))}
    return record | {f"val_{k}": v for k, v in objective.metrics(out, val).items()}


def _show(bar, record: dict[str, float], monitor: str, best_epoch: int) -> None:
    info = f"loss {record['train_loss']:.3f}"
    if "val_loss" in record:
        info += f"  val {record['val_loss']:.3f}  {monitor} {record[monitor]:.3f}"
    bar[0].update(bar[1], advance=1, info=f"{info}  best@{best_epoch}")


def _fit_direct(
    model: FusionModel,
    data: HeteroData,
    objective: Objective,
    on_epoch: Callable[[dict[str, float]], None] | None,
) -> TrainHistory:
    """``model.fit_direct(data)`` (training patients), recorded as one epoch."""
    started = time.perf_counter()
    model.fit_direct(data)  # type: ignore[operator]
    store = data[PATIENT]
    with torch.no_grad():
        out = model.eval()(data)
    record = {"epoch": 1, "train_loss": float(objective.loss(out, store.train_mask))}
    if store.val_mask.any():  # none when refitting on training + validation patients
        record["val_loss"] = float(objective.loss(out, store.val_mask))
        record |= {f"val_{k}": v for k, v in objective.metrics(out, store.val_mask).items()}
    if on_epoch is not None:
        on_epoch(record)
    history = TrainHistory(epochs=[record], best_epoch=1, stopped_epoch=1, max_epochs=1)
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
