"""Exact Shapley values of a small cooperative game, by enumerating every coalition.

The reference that sampled estimators (graphfuse's batched ``shap`` explainer,
``shap.KernelExplainer``) are checked against. Cost: ``2 ** n_players`` evaluations of
the value function, so it is meant for games of up to about 16 players.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from graphfuse.errors import ConfigError, DataError

__all__ = ["MAX_EXACT_PLAYERS", "exact_shapley"]

#: Largest game :func:`exact_shapley` enumerates (2**20 coalitions).
MAX_EXACT_PLAYERS = 20


def exact_shapley(
    value_fn: Callable[[np.ndarray], np.ndarray],
    n_players: int,
    *,
    batch_size: int = 4096,
) -> np.ndarray:
    """Shapley values of the game ``value_fn`` over ``n_players`` players, exactly.

    ``phi_i = sum over coalitions S not containing i of
    |S|! (n - |S| - 1)! / n! * (v(S + i) - v(S))`` (Shapley, 1953), computed by
    evaluating ``v`` once on each of the ``2 ** n`` coalitions.

    Parameters
    ----------
    value_fn
        ``masks -> values``: given a ``(k, n_players)`` boolean array (row ``r`` is a
        coalition, ``True`` = player present), the ``(k,)`` values of those coalitions
        (or ``(k, ...)``: each trailing entry is a separate game with the same players).
    n_players
        Number of players, 1 to :data:`MAX_EXACT_PLAYERS`.
    batch_size
        Coalitions passed to ``value_fn`` per call.

    Returns
    -------
    numpy.ndarray
        ``(n_players,)`` (or ``(n_players, ...)``) float64 Shapley values; they sum to
        ``v(all players) - v(no player)`` (efficiency).

    Raises
    ------
    ConfigError
        ``n_players`` or ``batch_size`` out of range.
    DataError
        ``value_fn`` returned the wrong number of values.

    Examples
    --------
    A linear game: each player's value is its own weight.

    >>> w = np.array([1.0, -2.0, 0.5])
    >>> exact_shapley(lambda masks: masks @ w, 3)
    array([ 1. , -2. ,  0.5])

    A pure interaction is split equally:

    >>> exact_shapley(lambda masks: masks.all(axis=1).astype(float), 2)
    array([0.5, 0.5])
    """
    n = int(n_players)
    if not 1 <= n <= MAX_EXACT_PLAYERS:
        raise ConfigError(
            f"exact_shapley: n_players must be 1 to {MAX_EXACT_PLAYERS} "
            f"(2**n_players evaluations); got {n_players}"
        )
    if batch_size < 1:
        raise ConfigError(f"exact_shapley: batch_size must be positive; got {batch_size}")
    total = 1 << n
    fact = [math.factorial(s) for s in range(n + 1)]
    # weight of v(S) in phi_i: +w_in[|S|] when i is in S, -w_out[|S|] when it is not
    w_in = np.array([fact[s - 1] * fact[n - s] / fact[n] if s >= 1 else 0.0 for s in range(n + 1)])
    w_out = np.array([fact[s] * fact[n - s - 1] / fact[n] if s < n else 0.0 for s in range(n + 1)])
    bits = np.arange(n, dtype=np.int64)
    phi: np.ndarray | None = None
    for start in range(0, total, batch_size):
        codes = np.arange(start, min(start + batch_size, total), dtype=np.int64)
        masks = ((codes[:, None] >> bits) & 1).astype(bool)
        values = np.asarray(value_fn(masks), dtype=np.float64)
        if values.ndim == 0 or values.shape[0] != len(codes):
            raise DataError(
                f"exact_shapley: value_fn returned shape {values.shape} for {len(codes)} "
                "coalitions; expected one value per coalition (first axis)"
            )
        sizes = masks.sum(axis=1)
        coef = np.where(masks, w_in[sizes][:, None], -w_out[sizes][:, None])
        part = np.tensordot(coef, values, axes=(0, 0))
        phi = part if phi is None else phi + part
    assert phi is not None
    return phi
