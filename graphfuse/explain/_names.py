"""Names of a patient graph's nodes and classes, as explanations report them."""

from __future__ import annotations

import numpy as np
from torch_geometric.data import HeteroData

from graphfuse.graphs import PATIENT, graph_info

__all__ = ["class_names", "patient_ids"]


def patient_ids(data: HeteroData) -> np.ndarray:
    """Patient ids of the graph's nodes (:func:`~graphfuse.graphs.graph_info`), else their
    positions."""
    n = int(data[PATIENT].num_nodes)
    ids = graph_info(data).patients
    if ids is None or len(ids) != n:
        return np.arange(n)
    return np.asarray(ids, dtype=object)


def class_names(data: HeteroData, n_classes: int) -> list[str]:
    """Class names (:func:`~graphfuse.graphs.graph_info`), else ``"0"``, ``"1"``, ..."""
    classes = graph_info(data).classes
    if classes is None or len(classes) != n_classes:
        return [str(i) for i in range(n_classes)]
    return [str(c) for c in classes]
