"""Training stage: splits, full-batch training with early stopping, metrics."""

from graphfuse.train._metrics import classification_metrics
from graphfuse.train._splits import published_split, stratified_split
from graphfuse.train._trainer import TrainHistory, predict_proba, train_model

__all__ = [
    "TrainHistory",
    "classification_metrics",
    "predict_proba",
    "published_split",
    "stratified_split",
    "train_model",
]
