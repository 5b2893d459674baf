"""Enrich stage: statistics on gene lists and rankings against gene-set collections.

- :func:`ora` — over-representation (hypergeometric, BH FDR) against an explicit background;
- :func:`permutation_test` — a list against random lists from the same background (list
  level and per set), vectorised;
- :func:`rank_test` — preranked enrichment of a full ranking (Mann-Whitney U per set).

Results are ``pandas.DataFrame`` with documented columns.
"""

from graphfuse.enrich._ora import ORA_COLUMNS, ora
from graphfuse.enrich._permutation import PermutationResult, permutation_test
from graphfuse.enrich._preranked import rank_test
from graphfuse.enrich._stats import Universe, bh_fdr, hypergeom_sf

__all__ = [
    "ORA_COLUMNS",
    "PermutationResult",
    "Universe",
    "bh_fdr",
    "hypergeom_sf",
    "ora",
    "permutation_test",
    "rank_test",
]
