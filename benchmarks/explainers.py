"""Seconds of the gradient and perturbation explainers for all patients, N = 350 to 5,000.

Run: ``python benchmarks/explainers.py`` (``--sizes 350`` for a subset; ``--others first``
(default) also times every other registered explainer — shap, masking — with its default
parameters at the smallest size, ``--others all`` at every size, ``--others none`` not at
all). For each size: a synthetic cohort (``make_synthetic_cohort``, 330 genes, 165
methylation probes, 100 regions, clinical: ~604 features after preprocessing), a kNN graph
(k = 10, inductive), ``gcn_fusion`` trained for 5 epochs; then, for every patient,

- ``saliency`` (gradient x input), ``integrated gradients`` (32 Gauss-Legendre steps,
  training-mean baseline) and ``sensitivity`` (every single feature replaced by the
  training mean), each exact per patient;
- the perturbation engine's throughput in (patient, rows) pairs per second: rows of all
  modalities replaced (as SHAP does) and a single feature replaced (as sensitivity does),
  and, at the smallest size, the reference loop (one full forward pass per pair).

Prints a markdown table and writes ``benchmarks/results/explainers.md``. The exact-Shapley
check (batched SHAP and ``shap.KernelExplainer`` against enumeration) is
``benchmarks/shap_exact.py``.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import graphfuse  # noqa: F401 - applies the thread policy before torch is imported

# isort: split
import numpy as np
import torch

from graphfuse.data import Preprocessor, make_synthetic_cohort
from graphfuse.experiment import annotate_graph
from graphfuse.explain import EXPLAINERS, explain, perturbation_engine, perturbed_outputs
from graphfuse.explain._base import ExplainContext, _target
from graphfuse.explain._perturb import _reference_outputs
from graphfuse.explain._saliency import SALIENCY_KINDS
from graphfuse.graphs import PATIENT, KNNBuilder, build_patient_graph
from graphfuse.models import build_model
from graphfuse.train import stratified_split, train_model

RUNS = {
    "saliency": ("saliency", {"kind": "gradient_x_input"}),
    "integrated gradients": ("saliency", {"kind": "integrated_gradients", "steps": 32}),
    "sensitivity": ("sensitivity", {}),
}


def setup(n: int, seed: int = 0):
    cohort = make_synthetic_cohort(n, n_genes=330, n_pathways=40, n_regions=100, seed=seed)
    splits = stratified_split(cohort.y, val_fraction=0.2, test_fraction=0.2, seed=seed)
    matrices = Preprocessor().fit(cohort, splits["train"]).transform(cohort)
    data = build_patient_graph(matrices, cohort.y, splits, KNNBuilder(k=10))
    annotate_graph(data, cohort)
    torch.manual_seed(seed)
    model = build_model("gcn_fusion", data, len(cohort.classes))
    train_model(model, data, epochs=5, lr=1e-2, weight_decay=1e-3, patience=5, progress=False)
    return model.eval(), data


def throughput(model, data, reference: bool) -> dict[str, float]:
    """Pairs per second of the engine (and of the reference loop)."""
    n = int(data[PATIENT].num_nodes)
    with torch.no_grad():
        logits = model(data)
    ctx = ExplainContext(model, data, np.arange(n), _target(None, logits, data), 0)
    perturbation_engine(ctx)
    gen = torch.Generator().manual_seed(0)
    feats = ctx.features()
    out = {}
    b = 20000
    owners = torch.randint(0, n, (b,), generator=gen)
    rows = {m: x[torch.randint(0, n, (b,), generator=gen)] for m, x in feats.items()}
    t = time.perf_counter()
    perturbed_outputs(ctx, owners, rows)
    out["all rows"] = b / (time.perf_counter() - t)
    m = ctx.modalities[0]
    one = feats[m][owners].clone()
    one[torch.arange(b), torch.randint(0, one.shape[1], (b,), generator=gen)] = 0.0
    t = time.perf_counter()
    perturbed_outputs(ctx, owners, {m: one})
    out["one feature"] = b / (time.perf_counter() - t)
    if reference:
        k = 40
        t = time.perf_counter()
        _reference_outputs(ctx, owners[:k], {q: r[:k] for q, r in rows.items()})
        out["reference"] = k / (time.perf_counter() - t)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[350, 1000, 5000])
    parser.add_argument(
        "--others",
        choices=["first", "all", "none"],
        default="first",
        help="time the other registered explainers at the first size, every size or none",
    )
    args = parser.parse_args()
    lines = [
        "| patients | features | explainer | seconds | per patient (ms) |",
        "|---:|---:|---|---:|---:|",
    ]
    rates = ["| patients | engine | all rows (pairs/s) | one feature (pairs/s) | reference |"]
    rates.append("|---:|---|---:|---:|---:|")
    for i, n in enumerate(args.sizes):
        t = time.perf_counter()
        model, data = setup(n)
        n_features = sum(len(v) for v in data.feature_names.values())
        print(f"N={n}: cohort, graph and 5 epochs in {time.perf_counter() - t:.1f} s", flush=True)
        runs = dict(RUNS)
        if args.others == "all" or (args.others == "first" and i == 0):
            for name in EXPLAINERS.names():
                if name not in {"saliency", "sensitivity", *SALIENCY_KINDS}:
                    runs[name] = (name, {})
        total = 0.0
        for label, (method, params) in runs.items():
            attr = explain(model, data, method, **params)
            total += attr.seconds
            row = (
                f"| {n:,} | {n_features} | {label} | {attr.seconds:.1f} | "
                f"{1000 * attr.seconds / n:.1f} |"
            )
            lines.append(row)
            print(row, flush=True)
        lines.append(f"| {n:,} | {n_features} | **total** | {total:.1f} | |")
        rate = throughput(model, data, reference=i == 0)
        with torch.no_grad():
            logits = model(data)
        ctx = ExplainContext(model, data, np.arange(n), _target(None, logits, data), 0)
        ref = f"{rate['reference']:.0f}" if "reference" in rate else ""
        rates.append(
            f"| {n:,} | {perturbation_engine(ctx).name} | {rate['all rows']:,.0f} | "
            f"{rate['one feature']:,.0f} | {ref} |"
        )
        print(rates[-1], flush=True)
    table = "\n".join(lines) + "\n\n" + "\n".join(rates)
    print(table)
    machine = f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    results = Path(__file__).parent / "results"
    results.mkdir(exist_ok=True)
    (results / "explainers.md").write_text(
        "# Explainer speed (gcn_fusion, synthetic cohort, kNN k=10)\n\n"
        f"`python benchmarks/explainers.py --others {args.others} --sizes "
        f"{' '.join(map(str, args.sizes))}` on {machine}\n\n" + table + "\n"
    )


if __name__ == "__main__":
    main()
