"""``eval_mode``: run a model in evaluation mode and put its training flag back afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

import torch

__all__ = ["eval_mode"]

_Module = TypeVar("_Module", bound=torch.nn.Module)


@contextmanager
def eval_mode(model: _Module) -> Iterator[_Module]:
    """Put ``model`` in evaluation mode (dropout off) for the ``with`` block.

    On exit — normally or by an exception — the model's training flag is restored to
    what it was on entry (``model.train(was_training)``, which sets every submodule).
    Gradients are untouched: combine with :func:`torch.no_grad` where none are needed.

    Parameters
    ----------
    model
        Any ``torch.nn.Module``.

    Yields
    ------
    torch.nn.Module
        ``model`` itself, in evaluation mode.

    Examples
    --------
    >>> layer = torch.nn.Dropout(0.5)
    >>> with eval_mode(layer) as m:
    ...     m.training
    False
    >>> layer.training
    True
    """
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)
