"""How gracefully each model degrades when a modality goes missing at prediction time.

For every registered model and seed, on the built-in synthetic cohort (``configs/ad.yaml``):

(a) **completely at random** — train on the cohort as it is, then hide ``--modality`` for
    0, 10, 30, 50 and 70 % of the test patients (drawn at random among those having it)
    and score the test patients again (ROC AUC);
(b) **not at random, shifted** — train on a cohort whose missingness depends on the label
    (``--modality`` hidden for 50 % of training/validation AD patients and 5 % of CN
    patients: "missing" is a shortcut to the label), then test with the
    completely-at-random pattern of (a). A model that learned the shortcut pays for it
    (MultiModN, Swamy et al. 2023, warns of exactly this).

In the default inductive graphs test patients send no messages, so hiding their data does
not change training: each (model, seed, setting) is trained once and its test patients
are re-scored after rebuilding the graph with the hidden rows. Preprocessing stays the one
fitted on training patients.

Run: ``python benchmarks/missing.py`` (``--seeds 0 1 2``, ``--models ...``,
``--modality expression``). Prints the table of mean test ROC AUC per model and rate, and
writes ``benchmarks/results/missing.md`` and ``missing.png``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

import graphfuse  # noqa: F401 - thread policy before torch
from graphfuse.config import load_config
from graphfuse.data import Cohort
from graphfuse.experiment import build_graph, fit, split_cohort
from graphfuse.models import MODELS
from graphfuse.train import classification_metrics, predict_proba

ROOT = Path(__file__).resolve().parents[1]
RATES = (0.0, 0.1, 0.3, 0.5, 0.7)
MODEL_PARAMS = {"gcn_fusion": {}, "attention": {}, "mogonet": {}}


def _mnar_training_cohort(cohort: Cohort, modality: str, test: np.ndarray, seed: int) -> Cohort:
    """Hide ``modality`` for 50 % of non-test positive-class patients and 5 % of the others."""
    rng = np.random.default_rng(seed + 1000)
    have = cohort.availability[modality].to_numpy()
    y = cohort.y
    candidates = np.setdiff1d(np.flatnonzero(have), test)
    rate = np.where(y[candidates] == y.max(), 0.5, 0.05)
    hide = candidates[rng.random(len(candidates)) < rate]
    return cohort.hide(modality, cohort.patients[hide])


def _score_hidden(result, modality: str, rate: float, seed: int) -> float:
    """Test ROC AUC after hiding ``modality`` for ``rate`` of the test patients having it."""
    cohort, splits = result.cohort, result.splits
    test = splits["test"]
    if rate > 0:
        rng = np.random.default_rng(seed + int(rate * 1000))
        have = test[cohort.availability[modality].to_numpy()[test]]
        hide = rng.choice(have, size=round(rate * len(have)), replace=False)
        cohort = cohort.hide(modality, cohort.patients[hide])
    matrices = result.preprocessor.transform(cohort)
    data = build_graph(result.config, cohort, matrices, splits)
    proba = predict_proba(result.model, data)
    return classification_metrics(cohort.y[test], proba[test])["roc_auc"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "configs" / "ad.yaml"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--models", nargs="+", default=None)
    parser.add_argument("--modality", default="expression")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "missing"))
    args = parser.parse_args()
    # models on patient graphs (the knowledge-graph model needs a graph.knowledge section)
    models = args.models or [m for m in MODELS.names() if MODELS.get(m).graph_kind == "patient"]
    rows = []
    for name in models:
        for seed in args.seeds:
            overrides = [f"seed={seed}", "tracking.enabled=false", f"model.name={name}"]
            cfg = load_config(args.config, overrides) if name == "gcn_fusion" else None
            if cfg is None:
                cfg = _config_for(args.config, name, seed)
            for setting in ("MCAR", "MNAR-shift"):
                t = time.perf_counter()
                if setting == "MCAR":
                    result = fit(cfg)
                else:
                    cohort = _load(cfg)
                    splits, _ = split_cohort(cohort, cfg)  # the split fit() will use
                    shifted = _mnar_training_cohort(cohort, args.modality, splits["test"], seed)
                    result = fit(cfg, cohort=shifted)
                for rate in RATES:
                    auc = _score_hidden(result, args.modality, rate, seed)
                    rows.append(
                        {"model": name, "setting": setting, "seed": seed, "rate": rate, "auc": auc}
                    )
                print(
                    f"{name:14s} seed {seed} {setting:10s} "
                    + " ".join(f"{r['auc']:.3f}" for r in rows[-len(RATES) :])
                    + f"  ({time.perf_counter() - t:.1f} s)",
                    flush=True,
                )
    df = pd.DataFrame(rows)
    _report(df, args)


def _config_for(path: str, name: str, seed: int):
    """``path``'s config with its model section replaced by ``name`` at default parameters."""
    import tempfile

    import yaml

    raw = yaml.safe_load(Path(path).read_text())
    raw["model"] = {"name": name, **MODEL_PARAMS.get(name, {})}
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as fh:
        yaml.safe_dump(raw, fh)
    try:
        return load_config(fh.name, [f"seed={seed}", "tracking.enabled=false"])
    finally:
        Path(fh.name).unlink()


def _load(cfg) -> Cohort:
    from graphfuse.data import load_cohort

    return load_cohort(cfg.data, seed=cfg.seed)


def _report(df: pd.DataFrame, args: argparse.Namespace) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mean = df.groupby(["setting", "model", "rate"])["auc"].mean().unstack("rate")
    sd = df.groupby(["setting", "model", "rate"])["auc"].std().unstack("rate")
    cells = mean.round(3).astype(str) + " ± " + sd.round(3).astype(str)
    cells.columns = [f"{int(r * 100)} %" for r in cells.columns]
    cells["drop 0→70 %"] = (mean[RATES[0]] - mean[RATES[-1]]).round(3)
    lines = ["| setting | model | " + " | ".join(cells.columns) + " |"]
    lines.append("|---|---|" + "---|" * len(cells.columns))
    for (setting, model), row in cells.iterrows():
        lines.append(f"| {setting} | {model} | " + " | ".join(map(str, row)) + " |")
    table = "\n".join(lines)
    print(table)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    seeds = " ".join(map(str, args.seeds))
    out.with_suffix(".md").write_text(
        f"# Test ROC AUC when `{args.modality}` is hidden for a share of test patients\n\n"
        f"`python benchmarks/missing.py --seeds {seeds} --modality {args.modality}`; "
        f"mean ± sd over seeds {seeds}.\n\n{table}\n"
    )
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, setting in zip(axes, ("MCAR", "MNAR-shift"), strict=True):
        for model, row in mean.loc[setting].iterrows():
            ax.errorbar(
                [100 * r for r in row.index],
                row.to_numpy(),
                yerr=sd.loc[(setting, model)],
                label=model,
                marker="o",
                capsize=3,
            )
        ax.set_title(f"{setting}: {args.modality} hidden at test")
        ax.set_xlabel("test patients without it (%)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("test ROC AUC")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out.with_suffix(".png"), dpi=120)


if __name__ == "__main__":
    main()
