"""Training stage: splits, full-batch training with early stopping, the tasks (their
objectives, metrics with directions, scoring and plots: :data:`TASKS`), training-time
modality dropout."""

from graphfuse.train._dropout import drop_modalities
from graphfuse.train._metrics import classification_metrics
from graphfuse.train._objective import TASKS, Objective, objective_for, task_class
from graphfuse.train._plots import roc_figure
from graphfuse.train._splits import published_split, stratified_folds, stratified_split
from graphfuse.train._survival import (
    concordance_index,
    cox_loss,
    km_figure,
    logrank_p,
    risk_groups,
    survival_metrics,
)
from graphfuse.train._trainer import TrainHistory, predict_proba, predict_risk, train_model

__all__ = [
    "TASKS",
    "Objective",
    "TrainHistory",
    "classification_metrics",
    "concordance_index",
    "cox_loss",
    "drop_modalities",
    "km_figure",
    "logrank_p",
    "objective_for",
    "predict_proba",
    "predict_risk",
    "published_split",
    "risk_groups",
    "roc_figure",
    "stratified_folds",
    "stratified_split",
    "survival_metrics",
    "task_class",
    "train_model",
]
