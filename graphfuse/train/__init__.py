"""Training stage: splits, full-batch training with early stopping, the tasks (their
objectives, metrics with directions, scoring and plots: :data:`TASKS`), bootstrap
intervals of test metrics, training-time modality dropout."""

from graphfuse.train._bootstrap import BOOTSTRAPS, LEVEL, N_BOOT, bootstrap_metrics
from graphfuse.train._dropout import drop_modalities
from graphfuse.train._metrics import class_key, classification_metrics
from graphfuse.train._objective import TASKS, Objective, objective_for, task_class
from graphfuse.train._plots import confusion_figure, confusion_table, roc_figure
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
    "BOOTSTRAPS",
    "LEVEL",
    "N_BOOT",
    "TASKS",
    "Objective",
    "TrainHistory",
    "bootstrap_metrics",
    "class_key",
    "classification_metrics",
    "concordance_index",
    "confusion_figure",
    "confusion_table",
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
