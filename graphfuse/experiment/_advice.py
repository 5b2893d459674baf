"""``advise``: the explainer-choice flowchart of ``docs/explainer-choice.md`` as a function —
a graph construction for a cohort's size and the explainers that fit a time budget, each
with its predicted seconds from a cost model fitted to measured timings
(``benchmarks/explainer_cost.py``) and the recovery the explainer benchmark measured.

Both tables live in the package file ``_advice.json``: ``cost`` (written by the timing
benchmark through :func:`fit_cost_model`) and ``recovery`` (figures of ``graphfuse
benchmark explainers``, with their source).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from graphfuse.errors import ConfigError, DataError

if TYPE_CHECKING:
    import pandas as pd
    from rich.console import Console

__all__ = [
    "ADVICE_FILE",
    "Advice",
    "CostModel",
    "ExplainerAdvice",
    "advise",
    "choose_graph",
    "cost_models",
    "fit_cost_model",
    "load_advice_data",
]

#: The package file holding the fitted cost model and the recovery table.
ADVICE_FILE = Path(__file__).with_name("_advice.json")

#: Patients above which SNF's dense fused matrix is refused (``SNFBuilder.max_patients``).
SNF_MAX_PATIENTS = 20_000
#: Training patients above which ``index: auto`` switches kNN search to HNSW (faiss).
ANN_PATIENTS = 50_000
#: ``k`` of the kNN graph from this many patients on (every benchmark here used it).
K_DEFAULT = 10
_TERMS = ("patients", "features", "modalities")


def load_advice_data(path: Path | None = None) -> dict[str, Any]:
    """The ``cost`` and ``recovery`` tables of ``_advice.json`` (or of ``path``)."""
    path = path or ADVICE_FILE
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise DataError(f"{path}: the advice table is missing (re-install graphfuse)") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a JSON object with 'cost' and 'recovery'")
    return data


@dataclass(frozen=True)
class CostModel:
    """``log seconds = intercept + patients·log P + features·log F + modalities·log M``
    for one explainer (natural logs; slopes ≥ 0, so it never predicts less time for a
    larger cohort).

    Attributes
    ----------
    explainer
        The explainer's registered name.
    intercept, patients, features, modalities
        The coefficients.
    loo_median_relative_error
        Median of ``|predicted - measured| / measured`` over leave-one-out fits.
    n
        Measurements fitted.
    ranges
        ``{"patients": [min, max], ...}`` of the measurements.
    """

    explainer: str
    intercept: float
    patients: float
    features: float
    modalities: float
    loo_median_relative_error: float
    n: int
    ranges: dict[str, list[int]] = field(default_factory=dict)

    def predict(self, patients: float, features: float, modalities: float = 1) -> float:
        """Predicted seconds for all ``patients``.

        Examples
        --------
        >>> round(CostModel("x", 0.0, 1.0, 0.0, 0.0, 0.1, 5).predict(100, 10), 6)
        100.0
        """
        log = (
            self.intercept
            + self.patients * math.log(patients)
            + self.features * math.log(features)
            + self.modalities * math.log(modalities)
        )
        return float(math.exp(log))

    def outside(self, patients: int, features: int, modalities: int) -> list[str]:
        """The terms whose value lies outside the measured range (an extrapolation)."""
        values = {"patients": patients, "features": features, "modalities": modalities}
        return [
            t for t, (lo, hi) in self.ranges.items() if t in values and not lo <= values[t] <= hi
        ]


def _design(table: pd.DataFrame) -> np.ndarray:
    logs = [np.log(table[t].to_numpy(dtype=float)) for t in _TERMS]
    return np.column_stack([np.ones(len(table)), *logs])


def _solve(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Least squares with every slope ≥ 0 (the intercept free)."""
    from scipy.optimize import lsq_linear

    lower = np.r_[-np.inf, np.zeros(x.shape[1] - 1)]
    # a term that does not vary (e.g. one modality count) is left at 0
    fixed = np.ptp(x, axis=0) == 0
    fixed[0] = False
    beta = np.zeros(x.shape[1])
    free = ~fixed
    beta[free] = lsq_linear(x[:, free], y, bounds=(lower[free], np.inf)).x
    return beta


def fit_cost_model(table: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Fit one :class:`CostModel` per explainer to measured seconds.

    Parameters
    ----------
    table
        Columns ``explainer``, ``patients``, ``features``, ``modalities``, ``seconds``
        (seconds for all patients), one row per measurement
        (``benchmarks/results/explainer_cost.csv``).

    Returns
    -------
    dict
        Explainer -> the :class:`CostModel` fields (as written to ``_advice.json``).
        The fit error is the median relative error of leave-one-out predictions.

    Raises
    ------
    DataError
        A missing column, a non-positive value, or an explainer with fewer than 5 rows.
    """
    missing = {"explainer", "seconds", *_TERMS} - set(table.columns)
    if missing:
        raise DataError(f"timing table: missing column(s) {sorted(missing)}")
    out: dict[str, dict[str, Any]] = {}
    for name, rows in table.groupby("explainer", sort=True):
        if len(rows) < 5:
            raise DataError(f"timing table: {name!r} has {len(rows)} rows; at least 5 are needed")
        if (rows[["seconds", *_TERMS]].to_numpy(dtype=float) <= 0).any():
            raise DataError(f"timing table: {name!r} has a value ≤ 0 (seconds and sizes > 0)")
        x, y = _design(rows), np.log(rows["seconds"].to_numpy(dtype=float))
        beta = _solve(x, y)
        errors = []
        for i in range(len(rows)):
            keep = np.arange(len(rows)) != i
            pred = math.exp(float(x[i] @ _solve(x[keep], y[keep])))
            errors.append(abs(pred - math.exp(y[i])) / math.exp(y[i]))
        model = CostModel(
            explainer=str(name),
            intercept=float(beta[0]),
            **{t: float(b) for t, b in zip(_TERMS, beta[1:], strict=True)},
            loo_median_relative_error=float(np.median(errors)),
            n=len(rows),
            ranges={t: [int(rows[t].min()), int(rows[t].max())] for t in _TERMS},
        )
        out[str(name)] = asdict(model)
    return out


def cost_models(data: dict[str, Any] | None = None) -> dict[str, CostModel]:
    """The fitted cost models of ``_advice.json`` (or of ``data``), by explainer."""
    data = load_advice_data() if data is None else data
    try:
        return {n: CostModel(**c) for n, c in data["cost"]["explainers"].items()}
    except (KeyError, TypeError) as exc:
        raise DataError(f"advice table: malformed 'cost' section ({exc})") from None


def choose_graph(patients: int, modalities: int = 1) -> tuple[dict[str, Any], list[str]]:
    """The graph config the flowchart recommends, and why (``graph:`` of a config).

    - ``knn`` per modality (every explainer supports patient graphs), ``k = 10`` from
      200 patients on and ``max(3, patients // 20)`` below, so a small cohort's few
      training patients are not all neighbours of each other;
    - with several modalities, a fused SNF graph beside them (``fused: {name: snf}``), up
      to 20,000 patients (SNF's dense fused matrix; above it, per-modality kNN only);
    - above 50,000 patients, an approximate (HNSW) kNN index (``graphfuse[ann]``).

    Examples
    --------
    >>> choose_graph(600, 3)[0]
    {'name': 'knn', 'k': 10, 'fused': {'name': 'snf', 'k': 10}}
    """
    k = K_DEFAULT if patients >= 200 else max(3, patients // 20)
    graph: dict[str, Any] = {"name": "knn", "k": k}
    why = [
        f"knn, k={k}: "
        + (
            "the default of every graphfuse benchmark"
            if k == K_DEFAULT
            else f"below 200 patients k = max(3, patients // 20) = {k}"
        )
        + "; every explainer supports patient graphs"
    ]
    if patients > ANN_PATIENTS:
        graph["index"] = "approximate"
        why.append(
            f"index: approximate (HNSW, pip install 'graphfuse[ann]'): above {ANN_PATIENTS:,} "
            "patients exact search stops paying off (recall@10 ≥ 0.99)"
        )
    if modalities > 1 and patients <= SNF_MAX_PATIENTS:
        graph["fused"] = {"name": "snf", "k": k}
        why.append(f"fused: snf: {modalities} modalities fused into one extra graph")
    elif modalities > 1:
        why.append(
            f"no fused snf graph: above {SNF_MAX_PATIENTS:,} patients its dense matrix is "
            "refused; one kNN graph per modality"
        )
    return graph, why


@dataclass(frozen=True)
class ExplainerAdvice:
    """One explainer's line of :class:`Advice`."""

    name: str
    seconds: float
    relative_error: float
    fits: bool
    recovery: dict[str, str]
    extrapolated: list[str]


@dataclass(frozen=True)
class Advice:
    """What :func:`advise` recommends.

    Attributes
    ----------
    patients, features, modalities, budget
        The question.
    graph
        The recommended ``graph:`` config section; ``graph_reasons`` why.
    explainers
        Every explainer with its predicted seconds, cheapest first;
        :attr:`recommended` those within the budget.
    cost_source, recovery_source
        Where the cost model and the recovery figures come from.
    """

    patients: int
    features: int
    modalities: int
    budget: float | None
    graph: dict[str, Any]
    graph_reasons: list[str]
    explainers: list[ExplainerAdvice]
    cost_source: str
    recovery_source: str
    recovery_metrics: dict[str, str]

    @property
    def recommended(self) -> list[str]:
        """Names of the explainers predicted to fit the budget (all without one)."""
        return [e.name for e in self.explainers if e.fits]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (what ``graphfuse advise --json`` prints)."""
        out = asdict(self)
        out["recommended"] = self.recommended
        return out

    def print_summary(self, console: Console | None = None) -> None:
        """Print the graph and the explainer table (what ``graphfuse advise`` shows)."""
        from rich.console import Console

        from graphfuse.experiment._tables import print_table

        console = console or Console()
        budget = "no budget" if self.budget is None else f"budget {self.budget:g} s"
        console.print(
            f"[bold]graphfuse advise[/] — {self.patients:,} patients, {self.features:,} "
            f"features, {self.modalities} modalit{'y' if self.modalities == 1 else 'ies'}, "
            f"{budget}"
        )
        console.print(f"graph: {json.dumps(self.graph)}")
        for reason in self.graph_reasons:
            console.print(f"  - {reason}")
        columns = [("explainer", "left"), ("predicted s", "right"), ("± (LOO)", "right")]
        columns += [("fits", "left")]
        rows = [
            [e.name, _seconds(e.seconds), f"{e.relative_error:.0%}", "yes" if e.fits else "no"]
            for e in self.explainers
        ]
        styles = [None if e.fits else "dim" for e in self.explainers]
        print_table(console, "explainers, cheapest first", columns, rows, styles=styles)
        # one block per cohort: a table column per cohort would not fit a terminal
        for c, metric in self.recovery_metrics.items():
            console.print(f"recovery measured on {c}: {metric}")
            for e in self.explainers:
                if e.recovery.get(c):
                    console.print(f"  {e.name}: {e.recovery[c]}")
        far: dict[tuple[str, ...], list[str]] = {}
        for e in self.explainers:
            if e.extrapolated:
                far.setdefault(tuple(e.extrapolated), []).append(e.name)
        for terms, names in far.items():
            console.print(
                f"[yellow]note:[/] {', '.join(names)}: {', '.join(terms)} outside the "
                "measured range, extrapolated"
            )
        if not any(e.fits for e in self.explainers):
            console.print("nothing fits the budget: explain a sample of patients (patients=)")
        elif "shap" in {e.name for e in self.explainers if not e.fits}:
            console.print(
                "shap over budget: fewer permutations (shap.n_permutations=4) or a sample "
                "of patients (patients=); it ranked the same genes as saliency in the "
                "real-biology benchmark (docs/benchmark.md), and pathway groups make a "
                "gene ranking circular"
            )
        console.print(f"recommended: {', '.join(self.recommended) or 'none'}")
        console.print(f"cost model: {self.cost_source}", style="dim")
        console.print(f"recovery: {self.recovery_source}", style="dim")


def _seconds(s: float) -> str:
    if s < 10:
        return f"{s:.2f}"
    if s < 3600:
        return f"{s:,.0f}"
    return f"{s:,.0f} ({s / 3600:.1f} h)"


def _count(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigError(f"advise: {name} must be an integer ≥ {minimum}, got {value!r}")
    return int(value)


def advise(
    patients: int,
    features: int,
    modalities: int = 1,
    budget: float | None = None,
) -> Advice:
    """Recommend a graph construction and the explainers that fit a time budget.

    Parameters
    ----------
    patients
        Patients to explain (all of them: the explainers' seconds cover every patient).
    features
        Features the model sees after preprocessing, all modalities together.
    modalities
        Modalities (each gets a graph; several add a fused SNF graph).
    budget
        Seconds per explainer run; ``None``: every explainer is listed as fitting.

    Returns
    -------
    Advice
        The graph (:func:`choose_graph`) and each explainer's predicted seconds (from the
        cost model of ``benchmarks/explainer_cost.py``, with its leave-one-out median
        relative error) and the recovery ``graphfuse benchmark explainers`` measured.

    Raises
    ------
    ConfigError
        A count below 1 (patients below 2), more modalities than features, or a budget ≤ 0.

    Examples
    --------
    >>> a = advise(600, 3000, modalities=3, budget=60)
    >>> "saliency" in a.recommended
    True
    """
    patients = _count("patients", patients, 2)
    features = _count("features", features, 1)
    modalities = _count("modalities", modalities, 1)
    if modalities > features:
        raise ConfigError(f"advise: modalities ({modalities}) cannot exceed features ({features})")
    if budget is not None:
        if isinstance(budget, bool) or not isinstance(budget, (int, float, np.number)):
            raise ConfigError(f"advise: budget must be a number of seconds, got {budget!r}")
        if not math.isfinite(budget) or budget <= 0:
            raise ConfigError(f"advise: budget must be > 0 seconds, got {budget!r}")
        budget = float(budget)
    data = load_advice_data()
    recovery = data.get("recovery", {})
    cohorts = recovery.get("cohorts", {})
    lines = []
    for name, model in cost_models(data).items():
        seconds = model.predict(patients, features, modalities)
        lines.append(
            ExplainerAdvice(
                name=name,
                seconds=seconds,
                relative_error=model.loo_median_relative_error,
                fits=budget is None or seconds <= budget,
                recovery={c: str(v["explainers"].get(name, "")) for c, v in cohorts.items()},
                extrapolated=model.outside(patients, features, modalities),
            )
        )
    lines.sort(key=lambda e: e.seconds)
    graph, why = choose_graph(patients, modalities)
    return Advice(
        patients=patients,
        features=features,
        modalities=modalities,
        budget=budget,
        graph=graph,
        graph_reasons=why,
        explainers=lines,
        cost_source=str(data["cost"].get("source", "")),
        recovery_source=str(recovery.get("source", "")),
        recovery_metrics={c: str(v.get("metric", "")) for c, v in cohorts.items()},
    )
