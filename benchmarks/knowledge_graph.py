"""Knowledge-graph build time: 1,000 patients x 5,000 genes with Reactome and STRING.

Run: ``python benchmarks/knowledge_graph.py`` (``--patients``, ``--genes``). The expression
features of a synthetic cohort are renamed to real gene symbols (the first ``--genes``
symbols of Reactome, sorted) so that Reactome pathways and STRING interactions attach to
them. Prints the seconds of each step and the graph's size; writes
``benchmarks/results/knowledge_graph.md``. Needs the shared data (``GRAPHFUSE_DATA`` or
``../shared/data``).
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import graphfuse  # noqa: F401 - thread policy before torch
from graphfuse.data import (
    GeneSets,
    Preprocessor,
    data_root,
    make_synthetic_cohort,
    read_interactions,
)
from graphfuse.graphs import KNNBuilder, build_knowledge_graph, build_patient_graph
from graphfuse.train import stratified_split

ROOT = Path(__file__).resolve().parents[1]
DATA = data_root()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--genes", type=int, default=5000)
    args = parser.parse_args()
    steps: dict[str, float] = {}

    t = time.perf_counter()
    reactome = GeneSets.read_gmt(DATA / "genesets" / "ReactomePathways_2024-09-18.gmt")
    ppi = read_interactions(
        DATA / "ppi" / "9606.protein.physical.links.v12.0.min900.onlyAB.csv",
        symbol_map=DATA / "ppi" / "gene_symbol_map.csv",
    )
    steps["read Reactome + STRING"] = time.perf_counter() - t

    t = time.perf_counter()
    cohort = make_synthetic_cohort(
        args.patients, n_genes=args.genes, n_pathways=args.genes // 10, seed=0
    )
    symbols = [g for g in reactome.genes if g.isupper()][: args.genes]
    rename = dict(zip(cohort.modality("expression").var_names, symbols, strict=True))
    splits = stratified_split(cohort.y, val_fraction=0.2, test_fraction=0.2, seed=0)
    mats = Preprocessor().fit(cohort, splits["train"]).transform(cohort)
    steps["cohort + preprocessing"] = time.perf_counter() - t

    t = time.perf_counter()
    base = build_patient_graph(mats, cohort.y, splits, KNNBuilder(k=10))
    steps["patient graphs (kNN)"] = time.perf_counter() - t

    meth_var = cohort.modality("methylation").var
    feature_genes = {
        "expression": rename,
        "methylation": {
            p: rename[g] for p, g in zip(meth_var.index, meth_var["gene"], strict=True)
        },
    }
    t = time.perf_counter()
    kg = build_knowledge_graph(
        base,
        feature_genes=feature_genes,
        gene_sets={"pathway": reactome},
        interactions=ppi,
        top_genes=50,
        patients=list(cohort.patients),
    )
    steps["knowledge graph"] = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    lines = ["| step | seconds |", "|---|---:|"]
    lines += [f"| {k} | {v:.2f} |" for k, v in steps.items()]
    nodes = ", ".join(f"{nt} {kg[nt].num_nodes:,}" for nt in kg.node_types)
    edges = sum(kg[et].edge_index.shape[1] for et in kg.edge_types)
    summary = (
        f"{args.patients:,} patients x {args.genes:,} genes: nodes {nodes}; "
        f"{len(kg.edge_types)} edge types, {edges:,} edges; peak RSS {peak:,.0f} MB"
    )
    table = "\n".join(lines)
    print(table)
    print(summary)
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    (out / "knowledge_graph.md").write_text(
        "# Knowledge-graph build\n\n`python benchmarks/knowledge_graph.py`\n\n"
        f"{table}\n\n{summary}\n"
    )


if __name__ == "__main__":
    main()
