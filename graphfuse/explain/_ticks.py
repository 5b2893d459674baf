"""Progress inside one explainer: how many of its patients are explained so far.

:func:`graphfuse.explain.run` sets a hook for the length of each explainer's
:meth:`~graphfuse.explain.Explainer.explain`; explainers that work through their patients in
batches (shap, sensitivity, integrated gradients) call :func:`patients_done` after each
batch. Without a hook the call does nothing, so an explainer used on its own pays nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["counting_patients", "patients_done"]

_HOOK: ContextVar[Callable[[int, int], None] | None] = ContextVar(
    "graphfuse_explain_patients", default=None
)


@contextmanager
def counting_patients(hook: Callable[[int, int], None] | None) -> Iterator[None]:
    """Send :func:`patients_done` calls to ``hook(done, total)`` inside the block."""
    token = _HOOK.set(hook)
    try:
        yield
    finally:
        _HOOK.reset(token)


def patients_done(done: int, total: int) -> None:
    """Report that ``done`` of the explainer's ``total`` patient steps are finished.

    >>> seen = []
    >>> with counting_patients(lambda d, t: seen.append((d, t))):
    ...     patients_done(2, 5)
    >>> patients_done(3, 5)  # no hook: nothing happens
    >>> seen
    [(2, 5)]
    """
    hook = _HOOK.get()
    if hook is not None:
        hook(int(done), int(total))
