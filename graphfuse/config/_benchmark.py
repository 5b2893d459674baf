"""The ``benchmark`` section: what ``graphfuse benchmark explainers`` checks a cohort's
explanations against (its reference biology) and how.

Reference biology belongs to the cohort, so it is declared in the cohort's config:

.. code-block:: yaml

    benchmark:
      reference:
        collection: hallmark          # a registered gene-set collection, or gmt: a file
        sets: [HALLMARK_ESTROGEN_RESPONSE_EARLY, HALLMARK_ESTROGEN_RESPONSE_LATE]
      top_k: [50, 100, 200]

``reference: {builtin: ad}`` is the Alzheimer's reference of the data folder (WikiPathways
WP5124 and the AD themes of ``genesets/ad_reference.md``). ``ranking`` adds a reference
*ranking* of genes (e.g. a genome-wide differential-expression table): each explainer's
gene ranking is compared with it by Spearman correlation.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from graphfuse._params import StrictModel

__all__ = ["BenchmarkConfig", "RankingReferenceConfig", "ReferenceConfig"]


class RankingReferenceConfig(StrictModel):
    """A reference ranking of genes read from a table (CSV/TSV, optionally gzipped)."""

    path: str = Field(..., min_length=1)
    """The table (relative to the data root unless absolute)."""
    gene: str = Field(..., min_length=1)
    """Column of gene symbols."""
    score: str = Field(..., min_length=1)
    """Column of the gene's score (e.g. a t statistic); genes are ranked by ``|score|``."""
    label: str | None = None
    """How the report names it (default: the file name)."""


class ReferenceConfig(StrictModel):
    """The reference gene sets (and optionally a reference gene ranking) of a cohort."""

    builtin: Literal["ad"] | None = None
    """``ad``: WikiPathways WP5124 (gene level) and the AD pathways of
    ``genesets/ad_reference.md`` (pathway level)."""
    collection: str | None = None
    """A registered gene-set collection (``hallmark``, ``reactome``, ``go_bp``) holding
    ``sets``."""
    gmt: str | None = None
    """A GMT file of the reference sets (relative to the data root unless absolute)."""
    sets: list[str] | None = None
    """Names of the reference sets in ``collection`` or ``gmt`` (``gmt``: default all)."""
    ranking: RankingReferenceConfig | None = None
    label: str | None = None
    """How the report names the reference (default: from the sets)."""

    @field_validator("sets")
    @classmethod
    def _sets(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and (not value or len(set(value)) != len(value)):
            raise ValueError("sets: give one or more distinct set names")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> ReferenceConfig:
        given = [k for k in ("builtin", "collection", "gmt") if getattr(self, k) is not None]
        if len(given) > 1:
            raise ValueError(f"give one of builtin, collection, gmt; got {given}")
        if not given and self.ranking is None:
            raise ValueError("give builtin, collection or gmt (the reference sets), or a ranking")
        if self.collection is not None and not self.sets:
            raise ValueError(f"collection {self.collection!r} needs sets: the reference set names")
        if self.builtin is not None and self.sets is not None:
            raise ValueError("builtin references have fixed sets; leave out sets")
        return self


class BenchmarkConfig(StrictModel):
    """How ``graphfuse benchmark explainers`` tests this cohort's explanations."""

    reference: ReferenceConfig | None = None
    """``None``: the synthetic cohort's planted truth where there is one, else no
    reference (the report says so)."""
    top_k: list[int] = Field(default_factory=lambda: [50, 100, 200])
    """Lengths of the top gene lists tested by over-representation (seed protocol)."""

    @field_validator("top_k")
    @classmethod
    def _top_k(cls, value: list[int]) -> list[int]:
        if not value or any(k < 1 for k in value) or len(set(value)) != len(value):
            raise ValueError(f"top_k: distinct positive list lengths, got {value}")
        return sorted(value)
