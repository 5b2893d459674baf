"""Enrich stage (over-representation, preranked and permutation tests on gene rankings).

Not built yet: tracked in its own issue. The stage holds statistics only and returns
``pandas.DataFrame`` results with documented columns.
"""

__all__: list[str] = []
