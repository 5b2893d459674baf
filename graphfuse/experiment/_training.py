"""The model stage of a fit, shared by :func:`fit`'s selection fit, its refit and the inner
folds of ``train.selection: cv``: the config's model on a prepared graph, and its training
with the config's settings."""

from __future__ import annotations

from collections.abc import Callable

from torch_geometric.data import HeteroData

from graphfuse._device import resolve_device
from graphfuse.config import ExperimentConfig
from graphfuse.experiment._prepare import Prepared
from graphfuse.models import FusionModel, build_model
from graphfuse.train import TrainHistory, task_class, train_model

__all__ = ["build_fit_model", "train_fit_model"]


def build_fit_model(config: ExperimentConfig, prepared: Prepared) -> FusionModel:
    """The config's model on the prepared graph, with the task's number of outputs."""
    n_out = task_class(config.task).n_outputs(len(prepared.cohort.classes))
    return build_model(
        config.model.name, prepared.data, n_out, task=config.task, **config.model.params
    )


def train_fit_model(
    model: FusionModel,
    data: HeteroData,
    config: ExperimentConfig,
    *,
    epochs: int,
    patience: int | None,
    on_epoch: Callable[[dict[str, float]], None] | None,
    progress: bool,
) -> TrainHistory:
    """:func:`graphfuse.train.train_model` with the config's training settings."""
    return train_model(
        model,
        data,
        epochs=epochs,
        lr=config.train.lr,
        weight_decay=config.train.weight_decay,
        patience=patience,
        monitor=config.train.monitor,
        progress=progress,
        on_epoch=on_epoch,
        task=config.task,
        modality_dropout=config.train.modality_dropout,
        seed=config.seed,
        device=resolve_device(config.train.device),
    )
