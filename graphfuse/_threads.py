"""CPU thread policy, applied when :mod:`graphfuse` is imported.

PyTorch's OpenMP runtime spin-waits between parallel regions by default. On small
shared machines (the project's 2-core build machines, a laptop running a notebook
beside a browser) that spinning competes with every other process and made
full-batch training of a few-hundred-node GCN several times slower than with
passive waiting; see ``benchmarks/threads.py`` and ``docs/performance.md`` for the
measurement. graphfuse therefore sets ``OMP_WAIT_POLICY=PASSIVE`` before torch is
imported, unless the user has set it already.

The variable is read once, when the OpenMP runtime starts: if torch was imported
before graphfuse, the policy cannot take effect and :func:`apply_thread_policy`
says so with a warning.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = [
    "SINGLE_THREAD_BELOW",
    "THREAD_ENV",
    "apply_thread_policy",
    "auto_threads",
    "torch_threads",
]

#: Graphs with fewer patient nodes than this train on one thread when ``train.threads`` is
#: null: below it one thread was as fast as two on an idle machine and far steadier on a busy
#: one; above it two threads won (benchmarks/threads.py, docs/performance.md).
SINGLE_THREAD_BELOW = 2000

#: Environment defaults graphfuse applies before torch starts its thread pool.
THREAD_ENV: dict[str, str] = {"OMP_WAIT_POLICY": "PASSIVE"}


def apply_thread_policy() -> dict[str, str]:
    """Set graphfuse's OpenMP defaults where the user has not chosen otherwise.

    Returns
    -------
    dict
        The values in force for each variable of :data:`THREAD_ENV`.

    Examples
    --------
    >>> from graphfuse._threads import apply_thread_policy
    >>> apply_thread_policy()["OMP_WAIT_POLICY"] in {"PASSIVE", "ACTIVE", "passive", "active"}
    True
    """
    torch_started = "torch" in sys.modules
    # (torch itself is never imported here: importing graphfuse must stay cheap)
    for key, value in THREAD_ENV.items():
        if key in os.environ:
            continue
        if torch_started:
            warnings.warn(
                f"torch was imported before graphfuse, so {key}={value} cannot take effect; "
                f"set it in the environment (export {key}={value}) or import graphfuse first. "
                "Small graphs may train several times slower on a busy machine.",
                RuntimeWarning,
                stacklevel=3,
            )
            continue
        os.environ[key] = value
    return {key: os.environ.get(key, "") for key in THREAD_ENV}


def auto_threads(n_nodes: int, requested: int | None = None) -> int | None:
    """Threads to train a graph of ``n_nodes`` with: ``requested``, else 1 for small graphs.

    ``None`` means torch's default (one per core).

    Examples
    --------
    >>> auto_threads(600), auto_threads(50_000), auto_threads(600, requested=2)
    (1, None, 2)
    """
    if requested is not None:
        return requested
    return 1 if n_nodes < SINGLE_THREAD_BELOW else None


@contextmanager
def torch_threads(n: int | None) -> Iterator[int]:
    """Run a block with ``torch.set_num_threads(n)`` (``None``: unchanged); restore afterwards.

    Yields the number of threads in force inside the block.
    """
    import torch

    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(before)
