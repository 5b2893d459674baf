"""The knowledge graph a config's ``graph.knowledge`` section describes.

:func:`graphfuse.experiment.prepare` builds the patient graph and then, when the config
has a ``graph.knowledge`` section (:class:`graphfuse.config.KnowledgeConfig`), extends it
with gene, gene-set and variable nodes here: the gene sets and interactions the section
names are read (:mod:`graphfuse.data`) and handed to
:func:`graphfuse.graphs.build_knowledge_graph`. See ``docs/knowledge_graph.md``.
"""

from __future__ import annotations

from pathlib import Path

from torch_geometric.data import HeteroData

from graphfuse.config import KnowledgeConfig
from graphfuse.data import Cohort, GeneSets, data_path, load_gene_sets, read_interactions
from graphfuse.graphs import annotate, build_knowledge_graph

__all__ = ["build_from_config"]


def build_from_config(base: HeteroData, cohort: Cohort, config: KnowledgeConfig) -> HeteroData:
    """The knowledge graph ``config`` describes, built on the patient graph ``base``.

    Omics modalities without a feature -> gene map (``genes: none``) get no gene edges;
    the graph's ``unmapped_modalities`` lists them. Gene sets come from
    :func:`graphfuse.data.load_gene_sets` (``synthetic``: the cohort's own collection);
    relative paths (``.gmt`` files, interactions) are under the data root.

    Parameters
    ----------
    base
        The cohort's patient graph (:func:`graphfuse.experiment.build_graph`).
    cohort
        The cohort ``base`` was built from.
    config
        The ``graph.knowledge`` section.

    Returns
    -------
    HeteroData
        ``base`` extended by :func:`graphfuse.graphs.build_knowledge_graph`.
    """
    key = "graph.knowledge"

    def path(p: str | None, where: str) -> Path | None:
        return None if p is None else data_path(p, key=f"{key}.{where}")

    sets = {}
    for node_type, source in config.gene_sets.items():
        if source.endswith(".gmt"):
            sets[node_type] = GeneSets.read_gmt(path(source, f"gene_sets.{node_type}"))
        else:
            own = cohort if source == "synthetic" else None
            sets[node_type] = load_gene_sets(source, cohort=own)
    interactions = None
    if config.interactions is not None:
        i = config.interactions
        interactions = read_interactions(
            path(i.path, "interactions.path"),
            symbol_map=path(i.symbol_map, "interactions.symbol_map"),
            score_column=i.score_column,
            min_score=i.min_score,
        )
    genes = {m: g for m, g in cohort.feature_genes().items() if g and m in base.modalities}
    data = build_knowledge_graph(
        base,
        feature_genes=genes,
        gene_sets=sets,
        interactions=interactions,
        top_genes=config.top_genes,
        z_threshold=config.z_threshold,
        min_set_size=config.min_set_size,
        max_set_size=config.max_set_size,
        variable_nodes=config.variable_nodes,
        patients=list(cohort.patients),
    )
    unmapped = [m for m in base.modalities if base.kinds[m] == "omics" and m not in genes]
    annotate(data, unmapped_modalities=unmapped)
    return data
