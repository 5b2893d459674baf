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

__all__ = ["THREAD_ENV", "apply_thread_policy"]

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
