"""Knowledge-graph heterographs: patients, genes, pathways, clinical variables, imaging regions."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from torch_geometric.data import HeteroData

from graphfuse.data import GeneSets
from graphfuse.errors import DataError
from graphfuse.graphs._patient import PATIENT, feature_key

__all__ = ["GENE", "attach_knowledge", "build_knowledge_graph", "feature_gene_map"]

#: Node type of genes.
GENE = "gene"
_KIND_NODE = {"clinical": "clinical_variable", "imaging": "imaging_region"}
_BLOCK = 4096  # patients per block when scoring patient-gene edges


def feature_gene_map(cohort: object) -> dict[str, dict[str, str]]:
    """Omics modality -> {feature name -> gene symbol}, from each modality's ``var["gene"]``."""
    out = {}
    for name, kind in cohort.kinds.items():  # type: ignore[attr-defined]
        if kind == "omics":
            var = cohort.modality(name).var  # type: ignore[attr-defined]
            genes = var["gene"].astype(object)
            genes = genes.where(genes.notna(), "").astype(str)  # NaN: no gene, not "nan"
            out[name] = {f: g for f, g in zip(var.index.astype(str), genes, strict=True) if g}
    return out


def build_knowledge_graph(
    base: HeteroData,
    *,
    feature_genes: Mapping[str, Mapping[str, str]],
    gene_sets: Mapping[str, GeneSets] | None = None,
    interactions: pd.DataFrame | None = None,
    top_genes: int | None = 50,
    z_threshold: float | None = None,
    min_set_size: int = 5,
    max_set_size: int | None = 500,
    variable_nodes: bool = True,
    patients: Sequence[str] | None = None,
) -> HeteroData:
    """Extend a patient graph into a knowledge-graph heterograph.

    Node types: ``patient`` (from ``base``, with its features, masks and similarity edges),
    ``gene`` (every gene measured by an omics modality), one node type per gene-set
    collection (e.g. ``pathway``, ``go_term``), and — with ``variable_nodes`` —
    ``clinical_variable`` and ``imaging_region`` (one node per feature of such modalities).
    Every node type carries ``node_names`` so explanations map back to genes, pathways and
    patient IDs.

    Edge types (each with ``edge_index``, non-negative ``edge_weight``, and ``edge_attr``
    holding the signed value where there is one):

    - ``(patient, similar_<m>, patient)`` — from ``base``;
    - ``(patient, <m>_gene, gene)`` and ``(gene, rev_<m>_gene, patient)`` for each omics
      modality ``m``: a patient is linked to the genes where its own (preprocessed, i.e.
      z-scored on training patients) values are most extreme — its ``top_genes`` genes by
      ``|z|``, or all with ``|z| >= z_threshold``. Several features of one gene (e.g.
      methylation probes) are averaged first. ``edge_attr`` = z, ``edge_weight`` = ``|z|``;
    - ``(gene, in_<collection>, <collection>)`` and reverse: set membership, restricted to
      the measured genes and to sets of ``min_set_size``..``max_set_size`` of them;
    - ``(gene, interacts, gene)``: both directions of each interaction, weight from
      ``interactions["weight"]``;
    - ``(patient, has_value, clinical_variable | imaging_region)`` and reverse, carrying
      the patient's preprocessed value.

    **No leakage in the inductive setting** (``base.transductive`` false): edges *from* a
    patient to a gene or variable node exist for training patients only; validation and
    test patients only receive messages (gene -> patient). Like the similarity graphs, a
    held-out patient can never influence what the training patients see.

    Parameters
    ----------
    base
        A patient graph from :func:`graphfuse.graphs.build_patient_graph`.
    feature_genes
        Omics modality -> {feature -> gene}; :func:`feature_gene_map` builds it from a cohort.
        An omics modality left out (e.g. unmapped miRNA or probes) gets no gene edges.
    gene_sets
        Node type -> collection, e.g. ``{"pathway": reactome, "go_term": go_bp}``.
    interactions
        Gene-gene edges (``gene_a``, ``gene_b``, ``weight``), e.g. from
        :func:`graphfuse.data.read_interactions`; genes not measured are left out.
    top_genes, z_threshold
        Patient-gene edge rule; give exactly one.
    min_set_size, max_set_size
        Size limits of gene sets after restriction to measured genes.
    variable_nodes
        Add clinical-variable and imaging-region nodes.
    patients
        Patient IDs (``cohort.patients``), stored as the patient nodes' ``node_names``.

    Returns
    -------
    HeteroData
        A new graph (``base`` is not modified).

    Examples
    --------
    >>> from graphfuse.data import make_synthetic_cohort, Preprocessor, GeneSets
    >>> from graphfuse.graphs import KNNBuilder, build_patient_graph
    >>> from graphfuse.train import stratified_split
    >>> c = make_synthetic_cohort(40, n_genes=60, n_pathways=6, n_regions=10, seed=0)
    >>> s = stratified_split(c.y, val_fraction=0.2, test_fraction=0.2, seed=0)
    >>> mats = Preprocessor().fit(c, s["train"]).transform(c)
    >>> base = build_patient_graph(mats, c.y, s, KNNBuilder(k=3))
    >>> kg = build_knowledge_graph(base, feature_genes=feature_gene_map(c),
    ...                            gene_sets={"pathway": GeneSets.from_cohort(c)}, top_genes=10)
    >>> sorted(kg.node_types)
    ['clinical_variable', 'gene', 'imaging_region', 'pathway', 'patient']
    """
    if (top_genes is None) == (z_threshold is None):
        raise ValueError("give exactly one of top_genes and z_threshold")
    data = copy.copy(base)
    store = data[PATIENT]
    n = store.num_nodes
    if patients is not None:
        if len(patients) != n:
            raise DataError(f"{len(patients)} patient IDs for {n} patient nodes")
        store.node_names = [str(p) for p in patients]
    transductive = bool(getattr(base, "transductive", False))
    # patients whose edges to gene and variable nodes point forward (they send messages)
    senders = np.ones(n, dtype=bool) if transductive else store.train_mask.numpy().copy()

    omics = [m for m in base.modalities if base.kinds[m] == "omics" and m in feature_genes]
    modality_genes, gene_names = _gene_nodes(data, base, omics, feature_genes)
    gene_index = {g: i for i, g in enumerate(gene_names)}
    for m in omics:
        _add_patient_gene_edges(
            data, m, modality_genes[m], gene_index, senders, top_genes, z_threshold
        )
    for node_type, collection in (gene_sets or {}).items():
        _add_gene_sets(data, node_type, collection, gene_names, min_set_size, max_set_size)
    if interactions is not None:
        _add_interactions(data, interactions, gene_index)
    if variable_nodes:
        for kind, node_type in _KIND_NODE.items():
            _add_variable_nodes(data, kind, node_type, senders)
    return data


def _gene_nodes(
    data: HeteroData,
    base: HeteroData,
    omics: Sequence[str],
    feature_genes: Mapping[str, Mapping[str, str]],
) -> tuple[dict[str, np.ndarray], list[str]]:
    """Add the ``gene`` nodes: every gene measured by one of the ``omics`` modalities.

    Returns each modality's gene per feature (``""`` where a feature maps to none) and the
    sorted gene names (the node order).
    """
    modality_genes: dict[str, np.ndarray] = {}
    universe: set[str] = set()
    for m in omics:
        mapping = feature_genes.get(m, {})
        genes = [mapping.get(f) for f in base.feature_names[m]]
        mapped = [g for g in genes if g]
        if not mapped:
            raise DataError(
                f"omics modality {m!r}: none of its {len(genes)} features maps to a gene"
            )
        modality_genes[m] = np.array([g or "" for g in genes], dtype=object)
        universe.update(mapped)
    gene_names = sorted(universe)
    data[GENE].num_nodes = len(gene_names)
    data[GENE].node_names = gene_names
    return modality_genes, gene_names


def _add_patient_gene_edges(
    data: HeteroData,
    modality: str,
    genes: np.ndarray,
    gene_index: Mapping[str, int],
    senders: np.ndarray,
    top_genes: int | None,
    z_threshold: float | None,
) -> None:
    """Add ``(patient, <modality>_gene, gene)`` (from ``senders`` only) and its reverse."""
    store = data[PATIENT]
    available = store.available.numpy()
    rows = np.flatnonzero(available[:, list(data.modalities).index(modality)])
    src, dst, z = _patient_gene_edges(
        store[feature_key(modality)].numpy(), rows, genes, gene_index, top_genes, z_threshold
    )
    _add_pair(data, (PATIENT, f"{modality}_gene", GENE), src, dst, z, keep_forward=senders[src])


def _add_gene_sets(
    data: HeteroData,
    node_type: str,
    collection: GeneSets,
    gene_names: list[str],
    min_set_size: int,
    max_set_size: int | None,
) -> None:
    """Add one node per set of ``collection`` (restricted to the measured genes, then
    filtered by size) and the ``(gene, in_<node_type>, <node_type>)`` edges and reverse."""
    restricted = collection.restrict(gene_names, min_size=min_set_size)
    restricted = restricted.filter(min_size=min_set_size, max_size=max_set_size)
    if not len(restricted):
        raise DataError(
            f"gene sets {collection.name!r}: no set has {min_set_size}-{max_set_size} "
            "measured genes"
        )
    membership, _ = restricted.membership(gene_names)
    coo = membership.tocoo()
    data[node_type].num_nodes = len(restricted)
    data[node_type].node_names = restricted.names
    data[node_type].collection = collection.name
    ones = np.ones(coo.nnz, dtype=np.float32)
    _add_pair(data, (GENE, f"in_{node_type}", node_type), coo.col, coo.row, ones)


def _add_interactions(
    data: HeteroData, interactions: pd.DataFrame, gene_index: Mapping[str, int]
) -> None:
    """Add ``(gene, interacts, gene)``: both directions of each interaction between
    measured genes, weighted by ``interactions["weight"]``."""
    a = interactions["gene_a"].map(gene_index)
    b = interactions["gene_b"].map(gene_index)
    ok = a.notna().to_numpy() & b.notna().to_numpy()
    a = a[ok].to_numpy(dtype=np.int64)
    b = b[ok].to_numpy(dtype=np.int64)
    w = interactions["weight"].to_numpy(dtype=np.float32)[ok]
    store = data[(GENE, "interacts", GENE)]
    store.edge_index = torch.from_numpy(np.stack([np.r_[a, b], np.r_[b, a]]))
    store.edge_weight = torch.from_numpy(np.r_[w, w])


def _add_variable_nodes(data: HeteroData, kind: str, node_type: str, senders: np.ndarray) -> None:
    """Add one ``node_type`` node per feature of the modalities of ``kind`` (names prefixed
    by the modality where there are several) and ``(patient, has_value, <node_type>)``
    edges carrying each patient's value (from ``senders`` only), and their reverse."""
    store = data[PATIENT]
    available = store.available.numpy()
    modalities = list(data.modalities)
    mods = [m for m in modalities if data.kinds[m] == kind]
    names: list[str] = []
    src_all, dst_all, val_all = [], [], []
    for m in mods:
        features = data.feature_names[m]
        prefix = f"{m}:" if len(mods) > 1 else ""
        offset = len(names)
        names += [prefix + f for f in features]
        rows = np.flatnonzero(available[:, modalities.index(m)])
        x = store[feature_key(m)].numpy()[rows]
        src_all.append(np.repeat(rows, len(features)))
        dst_all.append(np.tile(np.arange(len(features)) + offset, len(rows)))
        val_all.append(x.ravel())
    if not names:
        return
    data[node_type].num_nodes = len(names)
    data[node_type].node_names = names
    src, dst = np.concatenate(src_all), np.concatenate(dst_all)
    _add_pair(
        data,
        (PATIENT, "has_value", node_type),
        src,
        dst,
        np.concatenate(val_all).astype(np.float32),
        keep_forward=senders[src],
    )


def attach_knowledge(
    data: HeteroData,
    rows: np.ndarray,
    *,
    top_genes: int | None,
    z_threshold: float | None,
) -> dict[tuple[str, str, str], tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """The knowledge-graph edges held-out patients ``rows`` receive, by the rules of
    :func:`build_knowledge_graph`: from their most extreme genes (``rev_<m>_gene``) and
    from the variable nodes of their clinical and imaging values (``rev_has_value``).

    ``data`` is a knowledge graph whose patient nodes ``rows`` have features but no such
    edges yet (new patients appended to a training graph); ``top_genes`` / ``z_threshold``
    are the graph's patient-gene rule. Held-out patients send none of these edges.

    Returns
    -------
    dict
        Edge type -> ``(source, target, weight, edge_attr)`` arrays of the edges to add.
    """
    store = data[PATIENT]
    info_modalities = list(data.modalities)
    available = store.available.cpu().numpy()
    rows = np.asarray(rows, dtype=np.int64)
    out: dict[tuple[str, str, str], tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}
    feature_genes = getattr(data, "feature_genes", {}) or {}
    if GENE in data.node_types:
        gene_index = {g: i for i, g in enumerate(data[GENE].node_names)}
        for m in info_modalities:
            if (PATIENT, f"{m}_gene", GENE) not in data.edge_types:
                continue
            mapping = feature_genes.get(m, {})
            genes = np.array([mapping.get(f) or "" for f in data.feature_names[m]], dtype=object)
            have = rows[available[rows, info_modalities.index(m)]]
            if len(have) == 0:
                continue
            x = store[feature_key(m)].cpu().numpy()
            src, dst, z = _patient_gene_edges(x, have, genes, gene_index, top_genes, z_threshold)
            out[(GENE, f"rev_{m}_gene", PATIENT)] = (dst, src, np.abs(z), z)
    for kind, node_type in _KIND_NODE.items():
        et = (node_type, "rev_has_value", PATIENT)
        if et not in data.edge_types:
            continue
        mods = [m for m in info_modalities if data.kinds[m] == kind]
        src_all, dst_all, val_all = [], [], []
        offset = 0
        for m in mods:
            n_features = len(data.feature_names[m])
            have = rows[available[rows, info_modalities.index(m)]]
            x = store[feature_key(m)].cpu().numpy()[have]
            src_all.append(np.tile(np.arange(n_features) + offset, len(have)))
            dst_all.append(np.repeat(have, n_features))
            val_all.append(x.ravel())
            offset += n_features
        value = np.concatenate(val_all).astype(np.float32)
        out[et] = (np.concatenate(src_all), np.concatenate(dst_all), np.abs(value), value)
    return out


def _patient_gene_edges(
    x: np.ndarray,
    rows: np.ndarray,
    genes: np.ndarray,
    gene_index: Mapping[str, int],
    top_genes: int | None,
    z_threshold: float | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Patient -> gene edges of one omics modality; features of one gene are averaged."""
    cols = np.flatnonzero(genes != "")
    local = sorted({genes[c] for c in cols})
    local_index = {g: i for i, g in enumerate(local)}
    gcol = np.array([local_index[genes[c]] for c in cols])
    counts = np.bincount(gcol, minlength=len(local)).astype(np.float32)
    average = sp.csr_matrix(
        (1.0 / counts[gcol], (np.arange(len(cols)), gcol)), shape=(len(cols), len(local))
    )
    to_global = np.array([gene_index[g] for g in local], dtype=np.int64)
    src, dst, val = [], [], []
    for start in range(0, len(rows), _BLOCK):
        block = rows[start : start + _BLOCK]
        z = np.asarray(average.T.dot(x[np.ix_(block, cols)].T).T, dtype=np.float32)
        if top_genes is not None:
            k = min(top_genes, z.shape[1])
            pick = np.argpartition(-np.abs(z), k - 1, axis=1)[:, :k]
            r = np.repeat(np.arange(len(block)), k)
            c = pick.ravel()
        else:
            r, c = np.nonzero(np.abs(z) >= z_threshold)
        src.append(block[r])
        dst.append(to_global[c])
        val.append(z[r, c])
    return np.concatenate(src), np.concatenate(dst), np.concatenate(val)


def _add_pair(
    data: HeteroData,
    edge_type: tuple[str, str, str],
    src: np.ndarray,
    dst: np.ndarray,
    value: np.ndarray,
    *,
    keep_forward: np.ndarray | None = None,
) -> None:
    """Add ``edge_type`` (only where ``keep_forward``) and its reverse (all edges)."""
    s, rel, d = edge_type
    value = np.asarray(value, dtype=np.float32)
    fwd = slice(None) if keep_forward is None else np.asarray(keep_forward, dtype=bool)
    for (a, b), et, sel in (
        ((src, dst), (s, rel, d), fwd),
        ((dst, src), (d, f"rev_{rel}", s), slice(None)),
    ):
        store = data[et]
        store.edge_index = torch.from_numpy(np.stack([a[sel], b[sel]]).astype(np.int64))
        store.edge_weight = torch.from_numpy(np.abs(value[sel]))
        store.edge_attr = torch.from_numpy(value[sel, None])
