"""Explainer benchmark, ``graphfuse benchmark explainers``: see
:func:`graphfuse.experiment.benchmark_explainers`.

The benchmark lives in the experiment stage (``graphfuse/experiment/_benchmark.py`` and
``_benchmark_report.py``); this module keeps ``graphfuse.benchmark`` and its names importable.
"""

from graphfuse.experiment._benchmark import (
    COLLECTIONS,
    METHODS,
    BenchmarkResult,
    ad_reference,
    benchmark_explainers,
)
from graphfuse.experiment._benchmark_seeds import SeedsBenchmarkResult, benchmark_seeds

__all__ = [
    "COLLECTIONS",
    "METHODS",
    "BenchmarkResult",
    "SeedsBenchmarkResult",
    "ad_reference",
    "benchmark_explainers",
    "benchmark_seeds",
]
