"""Batched SHAP against exact Shapley values and against ``shap.KernelExplainer``.

Run: ``python benchmarks/shap_exact.py`` (a few minutes on 2 cores; ``--quick`` for a
smoke run). Prints two tables:

1. ``small``: a 12-feature problem (4 expression, 4 methylation, 4 imaging features of a
   351-patient synthetic cohort, the planted ones first; ``gcn_fusion`` trained on it).
   For each of ``--small-patients`` patients having all three modalities: exact Shapley
   values by enumerating all 4,096 coalitions (:func:`graphfuse.explain.exact_shapley` on
   :func:`graphfuse.explain.patient_game`), the batched route (``explain(..., "shap")``)
   at several ``n_permutations``, and ``shap.KernelExplainer`` (``nsamples="auto"`` =
   2 * 12 + 2048, ``l1_reg=0``: plain KernelSHAP; shap's default ``num_features(10)``
   would zero two of the twelve). Spearman rank correlation with the exact values (mean
   and minimum over patients), the largest absolute error relative to the patient's
   largest exact value, and seconds.
2. ``cohort``: a ROSMAP-sized problem — 351 synthetic patients x 600 features in three
   modalities (300 expression, 150 methylation, 150 imaging; 20 % lack imaging, 15 %
   methylation), ``gcn_fusion`` trained on it. Seconds of the batched route for all
   patients at each of ``--cohort-permutations``; exact values are out of reach at 600
   players, so agreement is measured against the batched route at 100 permutations
   (another seed) on 10 patients. ``shap.KernelExplainer`` (``nsamples="auto"`` =
   2 * 600 + 2048, ``l1_reg=0``) is timed on a few patients and **extrapolated** x 351,
   with two model functions: the one a user would write — one forward pass of the graph
   per masked row (``--naive-patients``; the issue measured ≈ 21 s per patient this way)
   — and, fairer to it, graphfuse's batched perturbation engine (``--kernel-patients``;
   the same engine the batched route uses), so the ratios separate the sampling scheme
   from the engine.

Both routes explain the same game: the patient's own features, the graph held fixed,
absent features at the training patients' mean, output = log-odds of the positive class.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import time
import warnings

import graphfuse  # noqa: F401 - applies the thread policy before torch is imported

# isort: split
import numpy as np
import torch
from scipy.stats import spearmanr

from graphfuse.data import Preprocessor, make_synthetic_cohort
from graphfuse.experiment import annotate_graph
from graphfuse.explain import ExplainContext, exact_shapley, explain, patient_game
from graphfuse.explain._perturb import perturbed_outputs
from graphfuse.graphs import KNNBuilder, build_patient_graph
from graphfuse.models import build_model
from graphfuse.train import stratified_split, train_model

N_PATIENTS = 351


def _shap():
    with warnings.catch_warnings():  # shap's plotting import trips a matplotlib warning
        warnings.simplefilter("ignore")
        import shap
    return shap


def _problem(sizes: dict[str, int] | None, seed: int = 0):
    """Synthetic cohort -> (trained gcn_fusion, annotated graph)."""
    cohort = make_synthetic_cohort(
        N_PATIENTS, n_genes=300, n_pathways=30, n_regions=150, probes_per_gene=0.5, seed=seed
    )
    splits = stratified_split(cohort.y, val_fraction=0.2, test_fraction=0.2, seed=seed)
    mats = Preprocessor().fit(cohort, splits["train"]).transform(cohort)
    if sizes is None:
        mats = {m: mats[m] for m in ("expression", "methylation", "imaging")}
    else:
        planted = {
            "expression": cohort.truth["genes"],
            "methylation": cohort.truth["probes"],
            "imaging": cohort.truth["imaging_regions"],
        }
        mats = {m: _first(mats[m], planted[m], n) for m, n in sizes.items()}
    graph = build_patient_graph(mats, cohort.y, splits, KNNBuilder(k=10))
    annotate_graph(graph, cohort)
    torch.manual_seed(seed)
    model = build_model("gcn_fusion", graph, len(cohort.classes))
    train_model(model, graph, epochs=100, lr=1e-2, weight_decay=1e-3, patience=20, progress=False)
    return model.eval(), graph


def _first(mat, preferred, n):
    idx = [mat.features.index(f) for f in preferred if f in mat.features][:n]
    idx += [i for i in range(len(mat.features)) if i not in idx][: n - len(idx)]
    return dataclasses.replace(mat, x=mat.x[:, idx], features=[mat.features[i] for i in idx])


class _KernelModel:
    """``X (k, features) -> (k,)`` outputs of one patient for KernelExplainer."""

    def __init__(self, model, graph, patient: int, engine: bool) -> None:
        n = int(graph["patient"].num_nodes)
        self.ctx = ExplainContext(
            model, graph, np.array([patient]), torch.ones(n, dtype=torch.long), 0
        )
        self.patient = patient
        self.engine = engine
        self.mods = [m for i, m in enumerate(self.ctx.modalities) if self.ctx.available[patient, i]]
        self.sizes = [len(graph.feature_names[m]) for m in self.mods]

    def own_and_base(self) -> tuple[np.ndarray, np.ndarray]:
        feats, mean = self.ctx.features(), self.ctx.train_mean()
        own = torch.cat([feats[m][self.patient] for m in self.mods])
        return own.double().numpy(), torch.cat([mean[m] for m in self.mods]).double().numpy()

    def __call__(self, x: np.ndarray) -> np.ndarray:
        parts = torch.split(torch.as_tensor(x, dtype=torch.float32), self.sizes, dim=1)
        rows = dict(zip(self.mods, parts, strict=True))
        if self.engine:
            owners = torch.full((len(x),), self.patient, dtype=torch.long)
            return perturbed_outputs(self.ctx, owners, rows).numpy()
        base = self.ctx.features()
        out = np.empty(len(x))
        with torch.no_grad():
            for b in range(len(x)):  # what a user would write: one graph forward per row
                feats = dict(base)
                for m, r in rows.items():
                    feats[m] = base[m].clone()
                    feats[m][self.patient] = r[b]
                out[b] = float(self.ctx.output(self.ctx.forward(feats))[self.patient])
        return out


def _kernel(model, graph, patient: int, engine: bool, nsamples="auto") -> np.ndarray:
    shap = _shap()
    f = _KernelModel(model, graph, patient, engine)
    own, base = f.own_and_base()
    explainer = shap.KernelExplainer(f, base[None])
    phi = explainer.shap_values(own[None], nsamples=nsamples, l1_reg=0, silent=True)
    return np.asarray(phi).reshape(-1)


def small(args) -> None:
    model, graph = _problem({"expression": 4, "methylation": 4, "imaging": 4})
    full = np.flatnonzero(graph["patient"].available.all(dim=1).numpy())[: args.small_patients]
    print(f"\n## small: 12 features, {len(full)} patients with all modalities\n")
    started = time.perf_counter()
    exact = []
    for p in full:
        game = patient_game(model, graph, int(p))
        exact.append(exact_shapley(game, game.n_players))
    exact_s = time.perf_counter() - started
    exact = np.array(exact)
    rows = [("exact (4,096 coalitions)", 1.0, 1.0, 0.0, exact_s)]
    for n in args.permutations:
        started = time.perf_counter()
        att = explain(model, graph, "shap", patients=full, n_permutations=n, seed=0)
        seconds = time.perf_counter() - started
        rows.append(
            (f"batched, n_permutations={n}", *_agree(att.table().to_numpy(), exact), seconds)
        )
    started = time.perf_counter()
    kern = np.array([_kernel(model, graph, int(p), engine=True) for p in full])
    rows.append(
        ("KernelExplainer (auto, engine)", *_agree(kern, exact), time.perf_counter() - started)
    )
    print("| route | spearman mean | spearman min | max abs err / max abs | seconds |")
    print("|---|---|---|---|---|")
    for name, mean, low, err, sec in rows:
        print(f"| {name} | {mean:.4f} | {low:.4f} | {err:.2e} | {sec:.2f} |")


def _agree(est: np.ndarray, exact: np.ndarray) -> tuple[float, float, float]:
    rho = [spearmanr(e, x)[0] for e, x in zip(est, exact, strict=True)]
    err = np.abs(est - exact).max(axis=1) / np.abs(exact).max(axis=1)
    return float(np.mean(rho)), float(np.min(rho)), float(err.max())


def cohort(args) -> None:
    model, graph = _problem(None)
    n_feat = sum(len(v) for v in graph.feature_names.values())
    n = int(graph["patient"].num_nodes)
    full = np.flatnonzero(graph["patient"].available.all(dim=1).numpy())[:10]
    print(f"\n## cohort: {n} patients x {n_feat} features, gcn_fusion\n")
    explain(model, graph, "shap", patients=[0], n_permutations=2)  # warm-up
    # exact values are out of reach at 600 features: 10 patients at 100 permutations
    started = time.perf_counter()
    reference = explain(model, graph, "shap", patients=full, n_permutations=100, seed=99)
    ref_s = time.perf_counter() - started
    ref = reference.table().to_numpy()
    batched = {}
    print("| route | patients timed | seconds timed | seconds for 351 | spearman vs reference |")
    print("|---|---|---|---|---|")
    for k in args.cohort_permutations:
        started = time.perf_counter()
        att = explain(model, graph, "shap", n_permutations=k, seed=0)
        batched[k] = seconds = time.perf_counter() - started
        rho, low = _rho(att.table().to_numpy()[full], ref)
        print(
            f"| batched, n_permutations={k} ({k * (n_feat - 1) + 2} evaluations/patient) | {n} "
            f"| {seconds:.1f} | {seconds:.1f} | mean {rho:.4f}, min {low:.4f} |"
        )
    print(
        f"| (reference: batched, n_permutations=100, 10 patients) | 10 | {ref_s:.1f} | "
        f"{ref_s * n / 10:.0f} (extrapolated) | - |"
    )
    kernel = {}
    for engine, count in ((True, args.kernel_patients), (False, args.naive_patients)):
        if count <= 0:
            continue
        started = time.perf_counter()
        phis = np.array([_kernel(model, graph, int(p), engine=engine) for p in full[:count]])
        per = (time.perf_counter() - started) / count
        kernel[engine] = per
        rho, low = _rho(phis, ref[:count])
        name = "engine as model fn" if engine else "one graph forward per row"
        print(
            f"| KernelExplainer, nsamples auto = {2 * n_feat + 2048} ({name}) | {count} | "
            f"{per * count:.1f} | {per * n:.0f} (extrapolated: {per:.2f} s/patient x {n}) | "
            f"mean {rho:.4f}, min {low:.4f} |"
        )
    if kernel:
        print("\nspeed-up of the batched route (all patients) over KernelExplainer x 351:\n")
        print(
            "| n_permutations | "
            + " | ".join(
                "vs KernelExplainer, " + ("engine" if e else "one forward per row") for e in kernel
            )
            + " |"
        )
        print("|---|" + "---|" * len(kernel))
        for k, seconds in batched.items():
            cells = " | ".join(f"{per * n / seconds:.0f}x" for per in kernel.values())
            print(f"| {k} | {cells} |")
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")


def _rho(est: np.ndarray, ref: np.ndarray) -> tuple[float, float]:
    rho = [spearmanr(e, r, nan_policy="omit")[0] for e, r in zip(est, ref, strict=True)]
    return float(np.mean(rho)), float(np.min(rho))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["small", "cohort"])
    parser.add_argument("--quick", action="store_true", help="smoke run: fewer patients")
    parser.add_argument("--small-patients", type=int, default=20)
    parser.add_argument("--permutations", type=int, nargs="+", default=[2, 4, 10, 50])
    parser.add_argument("--cohort-permutations", type=int, nargs="+", default=[2, 4, 10])
    parser.add_argument("--kernel-patients", type=int, default=3)
    parser.add_argument("--naive-patients", type=int, default=2)
    args = parser.parse_args()
    if args.quick:
        args.small_patients, args.kernel_patients, args.naive_patients = 3, 1, 0
        args.cohort_permutations = [2]
    print(
        f"# shap_exact — {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, torch {torch.__version__}, threads {torch.get_num_threads()}, "
        f"load {os.getloadavg()[0]:.1f}"
    )
    if args.only in (None, "small"):
        small(args)
    if args.only in (None, "cohort"):
        cohort(args)


if __name__ == "__main__":
    main()
