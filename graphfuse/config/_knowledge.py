"""The ``graph.knowledge`` config section: a knowledge-graph heterograph in one config change.

``graph: {name: knn, knowledge: {gene_sets: {pathway: reactome}}}`` builds the patient
graph as usual and then extends it with gene, gene-set and variable nodes
(:func:`graphfuse.graphs.build_knowledge_graph`); :func:`graphfuse.experiment.prepare`
builds it. See ``docs/knowledge_graph.md``.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_validator

from graphfuse._params import StrictModel
from graphfuse.data import GENE_SET_SOURCES

__all__ = ["InteractionsConfig", "KnowledgeConfig"]

#: The STRING network of the shared data folder (``interactions: string``).
_STRING = {
    "path": "ppi/9606.protein.physical.links.v12.0.min900.onlyAB.csv",
    "symbol_map": "ppi/gene_symbol_map.csv",
}
_RESERVED = {"patient", "gene", "clinical_variable", "imaging_region"}


class InteractionsConfig(StrictModel):
    """A gene-gene interaction edge list (:func:`graphfuse.data.read_interactions`);
    relative paths are under the data root. ``interactions: string`` is the STRING file of
    the shared data folder; a bare path is read without a symbol map."""

    path: str = Field(..., min_length=1)
    symbol_map: str | None = None
    score_column: str | None = None
    min_score: float | None = None


class KnowledgeConfig(StrictModel):
    """Genes, gene sets and variables added to the patient graph (``graph.knowledge``)."""

    gene_sets: dict[str, str] = Field(default_factory=lambda: {"pathway": "synthetic"})
    """Node type -> collection: a registered source (``synthetic``, ``reactome``, ``go_bp``,
    ``hallmark``, ``kegg``; :func:`graphfuse.data.load_gene_sets`) or a ``.gmt`` path, e.g.
    ``{pathway: reactome, go_term: go_bp}``; a bare name is ``{pathway: <name>}``."""
    interactions: InteractionsConfig | None = None
    """Gene-gene edges: ``null`` (none), ``string`` or ``{path, symbol_map, ...}``."""
    top_genes: int | None = Field(50, ge=1)
    """Each patient is linked to its ``top_genes`` genes of largest ``|z|`` per omics modality."""
    z_threshold: float | None = Field(None, gt=0.0)
    """Instead of ``top_genes`` (set it to ``null``): genes with ``|z| >= z_threshold``."""
    variable_nodes: bool = True
    """Add a node per clinical variable and imaging region."""
    min_set_size: int = Field(5, ge=1)
    max_set_size: int | None = Field(500, ge=1)

    @field_validator("gene_sets", mode="before")
    @classmethod
    def _gene_sets(cls, value: Any) -> Any:
        value = {"pathway": value} if isinstance(value, str) else value
        if not isinstance(value, dict) or not value:
            raise ValueError("give node type -> collection, e.g. {pathway: reactome}")
        for node_type, source in value.items():
            if not str(node_type).isidentifier() or node_type in _RESERVED:
                raise ValueError(
                    f"node type {node_type!r}: use a name like 'pathway' (not one of "
                    f"{sorted(_RESERVED)})"
                )
            if str(source) not in GENE_SET_SOURCES and not str(source).endswith(".gmt"):
                raise ValueError(
                    f"gene sets {source!r}: not a registered collection "
                    f"({', '.join(GENE_SET_SOURCES.names())}) nor a .gmt file"
                )
        return value

    @field_validator("interactions", mode="before")
    @classmethod
    def _interactions(cls, value: Any) -> Any:
        if isinstance(value, str):
            return dict(_STRING) if value == "string" else {"path": value}
        return value

    @model_validator(mode="after")
    def _one_edge_rule(self) -> KnowledgeConfig:
        if (self.top_genes is None) == (self.z_threshold is None):
            raise ValueError("give exactly one of top_genes and z_threshold (the other null)")
        return self
