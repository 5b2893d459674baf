"""Test concordance of survival models on GSE1992 (SurvSet) over seeds, beside a clinical Cox model.

Needs the optional, GPL-licensed SurvSet package (``pip install SurvSet``); graphfuse does
not depend on it. Run: ``python benchmarks/survival.py`` (``--seeds 0 1 2 3 4``,
``--config``, ``--models gcn_fusion early_mlp late_mlp``, ``--set k=v``). For each model
and seed it fits ``configs/gse1992_survival.yaml`` (tracking off; the cohort is read once)
and records the test concordance index, the log-rank p of the risk groups and the time
per fit. Two reference rows use the clinical variables only: graphfuse's linear Cox model
(``early_mlp`` with one layer, the same trainer and early stopping) and lifelines'
``CoxPHFitter`` (ridge 0.1) fitted to the same training + validation patients
(median-imputed), scored on the same test patients. Prints mean ± sd and writes
``benchmarks/results/survival.md``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

import graphfuse  # noqa: F401 - thread policy before torch
from graphfuse.config import load_config
from graphfuse.data import load_cohort
from graphfuse.experiment import fit, split_cohort
from graphfuse.train import concordance_index

ROOT = Path(__file__).resolve().parents[1]


def clinical_cox(cohort, splits) -> float:
    """Test c-index of a ridge Cox model on the clinical variables (train + val patients)."""
    from lifelines import CoxPHFitter

    names = cohort.modality("clinical").var_names
    x = pd.DataFrame(cohort.matrix("clinical"), index=cohort.patients, columns=names)
    fit_idx = np.concatenate([splits["train"], splits["val"]])
    x = x.fillna(x.iloc[fit_idx].median())
    frame = x.assign(time=cohort.obs["time"].to_numpy(), event=cohort.obs["event"].to_numpy())
    cph = CoxPHFitter(penalizer=0.1).fit(frame.iloc[fit_idx], "time", "event")
    test = frame.iloc[splits["test"]]
    risk = cph.predict_log_partial_hazard(test).to_numpy()
    return concordance_index(test["time"].to_numpy(), test["event"].to_numpy(), risk)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "configs" / "gse1992_survival.yaml"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--models", nargs="+", default=["gcn_fusion", "early_mlp", "late_mlp"])
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    base = load_config(args.config, [*args.overrides, "tracking.enabled=false"])
    t = time.perf_counter()
    cohort = load_cohort(base.data, seed=base.seed)
    print(f"{cohort} read in {time.perf_counter() - t:.1f} s", flush=True)
    rows = []
    for model in args.models:
        for seed in args.seeds:
            overrides = [*args.overrides, "tracking.enabled=false", f"seed={seed}"]
            if model != base.model.name:
                overrides.append(f"model.name={model}")
            result = fit(load_config(args.config, overrides), cohort=cohort)
            test = result.metrics["test"]
            rows.append(
                {
                    "model": model,
                    "seed": seed,
                    "test_c_index": test["c_index"],
                    "test_logrank_p": test["logrank_p"],
                    "best_epoch": result.history.best_epoch,
                    "seconds": result.seconds,
                }
            )
            print(rows[-1], flush=True)
    if "clinical" in cohort.modalities:
        clinical = cohort.select(["clinical"])
        linear = ["model.name=early_mlp", "model.layers=1", "data.modalities=[clinical]"]
        linear += ["data.preprocess.omics={}"]
        for seed in args.seeds:
            overrides = [*args.overrides, *linear, "tracking.enabled=false", f"seed={seed}"]
            result = fit(load_config(args.config, overrides), cohort=clinical)
            rows.append(
                {
                    "model": "graphfuse linear Cox, clinical",
                    "seed": seed,
                    "test_c_index": result.metrics["test"]["c_index"],
                    "test_logrank_p": result.metrics["test"]["logrank_p"],
                    "best_epoch": result.history.best_epoch,
                    "seconds": result.seconds,
                }
            )
        for seed in args.seeds:
            splits, _ = split_cohort(cohort, load_config(args.config, [f"seed={seed}"]))
            t = time.perf_counter()
            c = clinical_cox(cohort, splits)
            rows.append(
                {
                    "model": "lifelines CoxPH, clinical",
                    "seed": seed,
                    "test_c_index": c,
                    "test_logrank_p": np.nan,
                    "best_epoch": np.nan,
                    "seconds": time.perf_counter() - t,
                }
            )
    df = pd.DataFrame(rows)
    table = df.groupby("model", sort=False).agg(
        c_index=("test_c_index", "mean"),
        c_index_sd=("test_c_index", "std"),
        logrank_p_median=("test_logrank_p", "median"),
        seconds_per_fit=("seconds", "mean"),
        seeds=("seed", "count"),
    )
    lines = [
        "| model | test c-index (mean ± sd) | median log-rank p | s per fit | seeds |",
        "|---|---|---|---|---|",
    ]
    for name, r in table.iterrows():
        lines.append(
            f"| {name} | {r.c_index:.3f} ± {r.c_index_sd:.3f} | {r.logrank_p_median:.3g} "
            f"| {r.seconds_per_fit:.2f} | {int(r.seeds)} |"
        )
    text = "\n".join(lines)
    print(text)
    out = ROOT / "benchmarks" / "results" / "survival.md"
    out.write_text(
        f"# GSE1992 survival, {Path(args.config).name}, seeds {args.seeds}\n\n"
        f"{cohort}\n\n{text}\n\nPer seed:\n\n```\n{df.round(4).to_string(index=False)}\n```\n"
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
