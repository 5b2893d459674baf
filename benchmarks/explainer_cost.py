"""Seconds of each explainer (default parameters) over a grid of cohort sizes, and the cost
model ``graphfuse advise`` predicts from.

Run: ``nice -n 10 python benchmarks/explainer_cost.py`` (the whole grid, ~15-20 min on 2
cores); ``--explainers shap`` re-measures one explainer and keeps the other rows;
``--refit`` only refits the cost model from ``benchmarks/results/explainer_cost.csv``.

For each cell (patients, features, modalities): a synthetic cohort
(``make_synthetic_cohort``; the features split between expression, methylation and imaging
as the modality count asks, none missing), a kNN graph (k = 10, inductive), ``gcn_fusion``
trained for 5 epochs; then every explainer family with its default parameters. ``shap``
and ``sensitivity`` explain each patient independently, so they explain a seeded sample of
``--sample`` patients (default 20; shap: ``max(2, sample * 1000 // features)``, as its cost
per patient grows ~ features²) and the seconds for all patients are the measured seconds ×
patients / sample (column ``extrapolated``); ``saliency`` and ``masking`` always run on
every patient (masking optimises one mask over the whole graph). ``shap`` runs up to
``--shap-max-features`` (4,000) features only: at 16,000 one patient takes minutes, so its
genome-wide seconds are the cost model's extrapolation — re-run ``--explainers shap`` (with
a larger cap) once it is faster.

Writes the measured table to ``benchmarks/results/explainer_cost.csv`` and the fitted cost
model (``graphfuse.experiment.fit_cost_model``: per explainer, log seconds = a + b log
patients + c log features + d log modalities, slopes ≥ 0; leave-one-out median relative
error) to the package file ``graphfuse/experiment/_advice.json``, keeping its recovery
table. Prints both.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import graphfuse  # noqa: F401 - applies the thread policy before torch is imported

# isort: split
import numpy as np
import pandas as pd
import torch

from graphfuse.data import Preprocessor, make_synthetic_cohort
from graphfuse.experiment import annotate_graph, fit_cost_model
from graphfuse.experiment._advice import ADVICE_FILE, load_advice_data
from graphfuse.explain import explain
from graphfuse.graphs import KNNBuilder, build_patient_graph
from graphfuse.models import build_model
from graphfuse.train import stratified_split, train_model

EXPLAINERS = ("saliency", "sensitivity", "masking", "shap")
SAMPLED = {"shap", "sensitivity"}
RESULTS = Path(__file__).parent / "results" / "explainer_cost.csv"

# (patients, features, modalities): a full patients x features grid at one modality and
# the modality count varied at two sizes
GRID = [
    *((n, f, 1) for n in (50, 200, 1000) for f in (100, 1000, 4000, 16000)),
    *((n, f, m) for n, f in ((200, 1000), (1000, 4000)) for m in (2, 3)),
]


def cohort_sizes(features: int, modalities: int) -> dict[str, int | float]:
    """``make_synthetic_cohort`` sizes giving about ``features`` features in ``modalities``."""
    if modalities == 1:
        return {"n_genes": features, "probes_per_gene": 0.5, "n_regions": 10}
    if modalities == 2:
        return {"n_genes": features // 2, "probes_per_gene": 1.0, "n_regions": 10}
    return {"n_genes": int(0.45 * features), "probes_per_gene": 1.0, "n_regions": features // 10}


def setup(n: int, features: int, modalities: int, seed: int = 0):
    sizes = cohort_sizes(features, modalities)
    n_pathways = max(10, int(sizes["n_genes"]) // 20)
    cohort = make_synthetic_cohort(
        n,
        n_pathways=n_pathways,
        missing={"imaging": 0.0, "methylation": 0.0},
        seed=seed,
        **sizes,
    )
    keep = ["expression", "methylation", "imaging"][:modalities]
    splits = stratified_split(cohort.y, val_fraction=0.2, test_fraction=0.2, seed=seed)
    matrices = Preprocessor().fit(cohort, splits["train"]).transform(cohort)
    matrices = {m: matrices[m] for m in keep}
    data = build_patient_graph(matrices, cohort.y, splits, KNNBuilder(k=10))
    annotate_graph(data, cohort)
    torch.manual_seed(seed)
    model = build_model("gcn_fusion", data, len(cohort.classes))
    train_model(model, data, epochs=5, lr=1e-2, weight_decay=1e-3, patience=5, progress=False)
    return model.eval(), data


def measure(cells, explainers, sample: int, shap_max_features: int) -> list[dict]:
    rows = []
    for n, f, m in cells:
        t = time.perf_counter()
        model, data = setup(n, f, m)
        n_features = sum(len(v) for v in data.feature_names.values())
        fit_s = time.perf_counter() - t
        print(f"N={n} F={n_features} M={m}: cohort, graph, 5 epochs {fit_s:.1f} s", flush=True)
        for name in explainers:
            if name == "shap" and n_features > shap_max_features:
                print(f"  shap         not run (over {shap_max_features} features)", flush=True)
                continue
            size = n
            if name in SAMPLED:
                # shap's cost grows ~ features^2 per patient: fewer patients at width
                size = min(n, sample if name != "shap" else max(2, sample * 1000 // n_features))
            chosen = None
            if size < n:
                chosen = np.sort(np.random.default_rng(0).choice(n, size, replace=False))
            t = time.perf_counter()
            attr = explain(model, data, name, patients=chosen)
            wall = time.perf_counter() - t
            explained = size
            seconds = attr.seconds * n / explained
            rows.append(
                {
                    "explainer": name,
                    "patients": n,
                    "features": n_features,
                    "modalities": m,
                    "explained": explained,
                    "measured_s": round(attr.seconds, 4),
                    "seconds": round(seconds, 4),
                    "extrapolated": chosen is not None,
                    "wall_s": round(wall, 3),
                    "fit_s": round(fit_s, 2),
                    "load": round(os.getloadavg()[0], 2),
                }
            )
            print(
                f"  {name:12s} {seconds:9.2f} s"
                + (
                    f" ({attr.seconds:.2f} s for {explained} patients)"
                    if chosen is not None
                    else ""
                ),
                flush=True,
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--explainers", nargs="+", choices=EXPLAINERS, default=list(EXPLAINERS))
    parser.add_argument(
        "--sample", type=int, default=20, help="patients explained by shap, sensitivity"
    )
    parser.add_argument(
        "--shap-max-features",
        type=int,
        default=4000,
        help="run shap only up to this many features (its cost per patient ~ features^2)",
    )
    parser.add_argument("--refit", action="store_true", help="refit from the CSV; measure nothing")
    parser.add_argument("--quick", action="store_true", help="two small cells (a smoke run)")
    args = parser.parse_args()
    command = " ".join(["python benchmarks/explainer_cost.py", *sys.argv[1:]])
    if not args.refit:
        cells = GRID[:2] if args.quick else GRID
        start = time.perf_counter()
        table = pd.DataFrame(measure(cells, args.explainers, args.sample, args.shap_max_features))
        print(f"measured in {time.perf_counter() - start:.0f} s", flush=True)
        if RESULTS.exists() and not args.quick:
            old = pd.read_csv(RESULTS)
            table = pd.concat([old[~old["explainer"].isin(args.explainers)], table])
        if not args.quick:
            RESULTS.parent.mkdir(exist_ok=True)
            table.to_csv(RESULTS, index=False)
    else:
        table = pd.read_csv(RESULTS)
    print(table.to_string(index=False))
    machine = f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    if args.quick:
        return
    models = fit_cost_model(table)
    advice = load_advice_data()
    advice["cost"] = {
        "source": (
            f"benchmarks/explainer_cost.py (last run: {command}) on {machine}; "
            f"{len(table)} measurements, synthetic cohorts, gcn_fusion, kNN k=10, default "
            "explainer parameters"
        ),
        "explainers": models,
    }
    if not args.quick:
        ADVICE_FILE.write_text(json.dumps(advice, indent=2) + "\n")
    print(
        "\n| explainer | a | b (patients) | c (features) | d (modalities) | LOO median rel. error |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for name, c in models.items():
        print(
            f"| {name} | {c['intercept']:.2f} | {c['patients']:.2f} | {c['features']:.2f} | "
            f"{c['modalities']:.2f} | {c['loo_median_relative_error']:.0%} |"
        )


if __name__ == "__main__":
    main()
