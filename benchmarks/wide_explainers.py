"""Speed and recovery of the explainers at genome-wide width (GSE1992 breast, ER status).

Run: ``nice -n 10 python benchmarks/wide_explainers.py --seed 0`` (needs SurvSet, as
``configs/brca_er.yaml`` does). Fits the cohort (122 patients x 15,527 genes + clinical,
ER status without ESR1; tracking off), then times each explainer with its default
parameters on all patients, on the threads ``graphfuse.explain.run`` is given
(``--threads``, default 2), and prints for each:

- seconds (and the total of all of them, the issue's budget being 5 minutes on 2 cores);
- the recovery of the Hallmark estrogen response by its top-100 genes: the overlap with
  ``HALLMARK_ESTROGEN_RESPONSE_EARLY`` and ``_LATE`` and the one-sided ORA p-value
  (:func:`graphfuse.enrich.ora`), against the background of the genes the model saw;
- the overlap of the top-100 genes between every pair of explainers.

``--explainers`` picks a subset; ``--set shap.groups=pathways`` style options
(``--params '{"shap": {...}}'``) time non-default parameters; ``--patients N`` explains the
first N patients only (the per-patient cost of SHAP is about constant); ``--rows`` makes
SHAP evaluate every coalition's rows instead of walking the propagation engine's paths
(the speed before). The load average is printed before and after: the machine may be
shared.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import graphfuse  # noqa: F401 - applies the thread policy before torch is imported

# isort: split
import numpy as np

from graphfuse.config import load_config
from graphfuse.data import load_gene_sets
from graphfuse.enrich import Universe, ora
from graphfuse.experiment import fit
from graphfuse.explain import run
from graphfuse.explain._engines import Engine
from graphfuse.explain._groups import graph_feature_genes
from graphfuse.explain._perturb_gcn import GCNFusionEngine

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "brca_er.yaml"
METHODS = ("saliency", "masking", "sensitivity", "shap")
SETS = ("HALLMARK_ESTROGEN_RESPONSE_EARLY", "HALLMARK_ESTROGEN_RESPONSE_LATE")
TOP = 100


def _load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0, help="training and explanation seed")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--explainers", nargs="+", default=list(METHODS))
    parser.add_argument("--params", default="{}", help='JSON: {"shap": {"groups": ...}}')
    parser.add_argument("--patients", type=int, default=None, help="explain the first N only")
    parser.add_argument(
        "--rows",
        action="store_true",
        help="evaluate every coalition's rows (SHAP as before the engine walked paths)",
    )
    args = parser.parse_args()
    if args.rows:
        GCNFusionEngine.paths = Engine.paths  # type: ignore[method-assign]
    params = json.loads(args.params)

    print(f"load average before: {_load()}")
    config = load_config(CONFIG, {"seed": args.seed, "tracking.enabled": False})
    t = time.perf_counter()
    fitted = fit(config)
    n_features = sum(len(v) for v in fitted.data.feature_names.values())
    print(
        f"fit: {time.perf_counter() - t:.1f} s; {fitted.cohort.n_patients} patients, "
        f"{n_features} features; test {fitted.metrics['test']}"
    )
    genes = graph_feature_genes(fitted.data)
    background = sorted({g for mapping in genes.values() for g in mapping.values()})
    hallmark = load_gene_sets("hallmark")
    for name, value in params.get("shap", {}).items():
        if name == "gene_sets" and value == "hallmark":
            params["shap"]["gene_sets"] = hallmark
    universe = Universe(hallmark, background)
    patients = None if args.patients is None else np.arange(args.patients)

    tops: dict[str, list[str]] = {}
    rows = []
    total = 0.0
    for method in args.explainers:
        attr = run(
            fitted.model,
            fitted.data,
            [method],
            patients=patients,
            seed=args.seed,
            params=params,
            threads=args.threads,
        )[method]
        total += attr.seconds
        tops[method] = attr.gene_ranking()[:TOP]
        res = ora(tops[method], universe).set_index("set")
        hits = [
            f"{int(res.loc[s, 'overlap'])} (p={res.loc[s, 'p']:.1e})" if s in res.index else "-"
            for s in SETS
        ]
        rows.append((method, attr.seconds, *hits))
        print(f"  {method}: {attr.seconds:.1f} s (load {_load()})", flush=True)

    print(f"\n| explainer | seconds | top-{TOP} in ER EARLY | top-{TOP} in ER LATE |")
    print("|---|---:|---|---|")
    for method, sec, early, late in rows:
        print(f"| {method} | {sec:.1f} | {early} | {late} |")
    print(f"| **total** | {total:.1f} | | |")
    sizes = [len(universe.sets[s]) for s in SETS]
    print(
        f"(set sizes in the {len(background)}-gene background: EARLY {sizes[0]}, LATE {sizes[1]})"
    )
    print(f"\ntop-{TOP} gene overlap between explainers")
    names = list(tops)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            print(f"  {a} / {b}: {len(set(tops[a]) & set(tops[b]))}")
    print(f"load average after: {_load()}")


if __name__ == "__main__":
    main()
