"""Command line: ``graphfuse fit --config configs/ad.yaml``.

Thin by design: it parses arguments, loads the config and calls
:mod:`graphfuse.experiment`, which notebooks call the same way.
"""

from __future__ import annotations

from graphfuse.cli import _advise, _benchmark, _runs  # noqa: F401  (register advise, benchmark, runs)
from graphfuse.cli._main import main

__all__ = ["main"]
