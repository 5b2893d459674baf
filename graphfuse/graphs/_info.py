"""What a graph says about itself: modalities, features, builders, patients, classes, genes.

The graph builders and the experiment stage write these facts onto the ``HeteroData``
they produce (as graph-level attributes, which PyG keeps through copies and device
moves); every stage reads them back through :func:`graph_info`, typed and with defaults,
and writes them through :func:`annotate`, which refuses names it does not know.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from torch_geometric.data import HeteroData

__all__ = ["GraphInfo", "annotate", "graph_info"]


@dataclass(frozen=True)
class GraphInfo:
    """The facts a patient graph carries besides its tensors.

    Attributes
    ----------
    modalities
        The modalities with features on the patient nodes, in order.
    kinds
        ``modality -> kind`` (``"omics"``, ``"imaging"``, ``"clinical"``).
    feature_names
        ``modality -> feature names``, in column order.
    builder, fused_builder
        Registry names of the patient-graph builder and of the fused-graph builder
        (``None``: no fused graph).
    transductive
        Whether the graphs were fitted on every patient (MOGONET's mode) rather than on
        training patients only.
    patients
        Patient ids, in node order (``None`` until the experiment stage names them).
    classes
        Class names, in label order (``None`` until named).
    feature_genes
        ``modality -> {feature: gene}`` for omics modalities (features that survived
        preprocessing).
    unmapped_modalities
        Omics modalities of a knowledge graph whose features map to no gene.
    """

    modalities: list[str] = field(default_factory=list)
    kinds: dict[str, str] = field(default_factory=dict)
    feature_names: dict[str, list[str]] = field(default_factory=dict)
    builder: str | None = None
    fused_builder: str | None = None
    transductive: bool = False
    patients: list[str] | None = None
    classes: list[str] | None = None
    feature_genes: dict[str, dict[str, str]] = field(default_factory=dict)
    unmapped_modalities: list[str] = field(default_factory=list)


_FIELDS = tuple(f.name for f in fields(GraphInfo))
_UNSET = object()


def graph_info(data: HeteroData) -> GraphInfo:
    """The :class:`GraphInfo` of ``data`` (defaults for what was never written).

    Examples
    --------
    >>> data = HeteroData()
    >>> annotate(data, modalities=["rna"], classes=["CN", "AD"])
    >>> info = graph_info(data)
    >>> info.modalities, info.classes, info.patients
    (['rna'], ['CN', 'AD'], None)
    """
    written = {name: getattr(data, name, _UNSET) for name in _FIELDS}
    return GraphInfo(**{name: value for name, value in written.items() if value is not _UNSET})


def annotate(data: HeteroData, **facts: Any) -> None:
    """Write facts of :class:`GraphInfo` onto ``data`` (in place).

    Raises
    ------
    TypeError
        A name that is not a :class:`GraphInfo` field.
    """
    unknown = sorted(set(facts) - set(_FIELDS))
    if unknown:
        raise TypeError(f"unknown graph facts {unknown}; known: {', '.join(_FIELDS)}")
    for name, value in facts.items():
        setattr(data, name, value)
