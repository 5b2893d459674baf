"""Survival maths: Cox partial-likelihood loss, concordance, Kaplan–Meier risk groups.

A survival model outputs one risk score per patient (higher = earlier event). It is
trained with the negative Cox partial log-likelihood (Cox, JRSS-B 1972) with Breslow's
handling of tied times (Breslow, Biometrics 1974), judged by Harrell's concordance index
(Harrell et al., JAMA 1982), and its patients are split into high- and low-risk groups at
the **training** patients' median risk, whose Kaplan–Meier curves are compared by a
log-rank test. Concordance, Kaplan–Meier and the log-rank test come from lifelines.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

__all__ = [
    "concordance_index",
    "cox_loss",
    "km_figure",
    "logrank_p",
    "risk_groups",
    "survival_metrics",
]


def cox_loss(risk: torch.Tensor, time: torch.Tensor, event: torch.Tensor) -> torch.Tensor:
    """Negative Cox partial log-likelihood per event, Breslow ties, vectorised.

    ``-(1/d) * sum over events i of [risk_i - log sum_{j: t_j >= t_i} exp(risk_j)]`` with
    ``d`` the number of events: every patient whose time is at least ``t_i`` (tied times
    included) is in ``i``'s risk set. Cost ``O(n log n)`` (a sort and a cumulative
    log-sum-exp), so it runs full batch on 100k patients.

    Parameters
    ----------
    risk
        Risk score (log hazard ratio) per patient, ``(n,)`` or ``(n, 1)``.
    time
        Event or censoring time per patient, ``(n,)``.
    event
        ``True``/1 where the event was observed, ``False``/0 where censored.

    Returns
    -------
    torch.Tensor
        A scalar; NaN when no patient has an event (the likelihood has no term).

    Examples
    --------
    >>> t = torch.tensor([1.0, 2.0, 3.0])
    >>> e = torch.tensor([1, 1, 0])
    >>> float(cox_loss(torch.tensor([2.0, 1.0, 0.0]), t, e)) < float(
    ...     cox_loss(torch.tensor([0.0, 1.0, 2.0]), t, e))
    True
    """
    risk = risk.reshape(-1)
    time = time.reshape(-1).to(risk.dtype)
    event = event.reshape(-1).to(risk.dtype)
    order = torch.argsort(time, descending=True)
    r, t, e = risk[order], time[order], event[order]
    lse = torch.logcumsumexp(r, dim=0)  # log sum exp over the first k+1 (latest times)
    # a patient's risk set ends at the last patient tied with it: the number of patients
    # with time >= t_i, minus one
    ascending = torch.flip(t, dims=[0]).contiguous()
    last = len(t) - torch.searchsorted(ascending, t.contiguous(), side="left") - 1
    n_events = e.sum()
    return -((r - lse[last]) * e).sum() / n_events


def concordance_index(time: np.ndarray, event: np.ndarray, risk: np.ndarray) -> float:
    """Harrell's concordance index of risk scores (higher risk = earlier event).

    The fraction of comparable pairs (the earlier time is an event) whose earlier patient
    has the higher risk; tied risks count one half. Computed by lifelines'
    ``concordance_index`` on ``-risk``.

    Returns
    -------
    float
        0.5 for random scores, 1 for a perfect order; NaN when no pair is comparable
        (e.g. no event).

    Examples
    --------
    >>> concordance_index(np.array([1, 2, 3]), np.array([1, 1, 0]), np.array([3.0, 2.0, 1.0]))
    1.0
    """
    from lifelines.utils import concordance_index as lifelines_cindex

    time = np.asarray(time, dtype=np.float64)
    event = np.asarray(event).astype(bool)
    risk = np.asarray(risk, dtype=np.float64).reshape(-1)
    if not event.any() or len(time) < 2:
        return float("nan")
    try:
        return float(lifelines_cindex(time, -risk, event))
    except ZeroDivisionError:  # lifelines: "no admissable pairs"
        return float("nan")


def risk_groups(risk: np.ndarray, threshold: float) -> np.ndarray:
    """``True`` (high risk) where ``risk`` is above ``threshold`` (the training median)."""
    return np.asarray(risk, dtype=np.float64).reshape(-1) > threshold


def logrank_p(time: np.ndarray, event: np.ndarray, high: np.ndarray) -> float:
    """Log-rank test p-value of high- versus low-risk patients (lifelines).

    NaN when a group is empty or no patient has an event.
    """
    from lifelines.statistics import logrank_test

    time = np.asarray(time, dtype=np.float64)
    event = np.asarray(event).astype(bool)
    high = np.asarray(high, dtype=bool)
    if high.all() or not high.any() or not event.any():
        return float("nan")
    result = logrank_test(time[high], time[~high], event[high], event[~high])
    return float(result.p_value)


def survival_metrics(
    time: np.ndarray, event: np.ndarray, risk: np.ndarray, *, threshold: float
) -> dict[str, float]:
    """Concordance and risk-group separation of one split's patients.

    Parameters
    ----------
    time, event, risk
        Per patient of the split.
    threshold
        Risk separating the high- from the low-risk group: the **training** patients'
        median predicted risk, so that no other split's outcome decides it.

    Returns
    -------
    dict
        ``c_index``, ``logrank_p`` (high vs low group), ``high_risk_fraction`` and
        ``events`` (count).

    Examples
    --------
    >>> m = survival_metrics(np.array([1, 2, 3, 4]), np.array([1, 1, 0, 1]),
    ...                      np.array([2.0, 1.0, -1.0, -2.0]), threshold=0.0)
    >>> m["c_index"], m["high_risk_fraction"]
    (1.0, 0.5)
    """
    high = risk_groups(risk, threshold)
    return {
        "c_index": concordance_index(time, event, risk),
        "logrank_p": logrank_p(time, event, high),
        "high_risk_fraction": float(high.mean()) if len(high) else float("nan"),
        "events": float(np.asarray(event).astype(bool).sum()),
    }


def km_figure(
    time: np.ndarray,
    event: np.ndarray,
    high: np.ndarray,
    *,
    title: str = "Kaplan–Meier, test patients",
) -> Any:
    """Kaplan–Meier curves (lifelines) of the high- and low-risk groups, log-rank p in the title.

    Built without pyplot, like :func:`graphfuse.train._plots.roc_figure`.
    """
    from lifelines import KaplanMeierFitter
    from matplotlib.figure import Figure

    time = np.asarray(time, dtype=np.float64)
    event = np.asarray(event).astype(bool)
    high = np.asarray(high, dtype=bool)
    fig = Figure(figsize=(5.0, 4.0), dpi=120)
    ax = fig.subplots()
    for mask, name, colour in ((~high, "low risk", "tab:blue"), (high, "high risk", "tab:red")):
        if not mask.any():
            continue
        kmf = KaplanMeierFitter().fit(time[mask], event[mask])
        sf = kmf.survival_function_.iloc[:, 0]
        ci = kmf.confidence_interval_survival_function_
        label = f"{name} (n={int(mask.sum())}, events {int(event[mask].sum())})"
        ax.step(sf.index, sf.to_numpy(), where="post", color=colour, label=label)
        ax.fill_between(
            ci.index, ci.iloc[:, 0], ci.iloc[:, 1], step="post", color=colour, alpha=0.15
        )
        censored = mask & ~event
        if censored.any():
            at = time[censored]
            ax.plot(at, sf.reindex(at, method="ffill").to_numpy(), "|", color=colour, ms=6)
    p = logrank_p(time, event, high)
    ax.set(xlabel="time", ylabel="survival probability", ylim=(0, 1.02))
    ax.set_title(f"{title}\nlog-rank p = {p:.3g}" if not np.isnan(p) else title, fontsize=9)
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    return fig
