"""Helpers shared by the benchmark scripts (run as ``python benchmarks/<name>.py``)."""

from __future__ import annotations

import pandas as pd


def markdown(df: pd.DataFrame) -> str:
    """A DataFrame as a Markdown table, its index as the first (unnamed) column."""
    head = "| " + " | ".join(["", *map(str, df.columns)]) + " |"
    rule = "|" + "---|" * (len(df.columns) + 1)
    body = ["| " + " | ".join([str(i), *map(str, row)]) + " |" for i, row in df.iterrows()]
    return "\n".join([head, rule, *body])
