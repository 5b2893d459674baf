"""Enrichment speed: ORA and 10,000-permutation tests against Reactome, GO BP and 10k sets.

Run: ``python benchmarks/enrichment.py`` (``--permutations``). Loads Reactome and GO BP
with ``load_gene_sets`` (the data root's copies, ``GRAPHFUSE_DATA`` or ``../shared/data``,
else the cache or a download). A top-100 list is drawn at random from
the background (every gene of the collection). Printed, and written to
``benchmarks/results/enrichment.md``:

- ORA of one list against GO BP with graphfuse, and with a per-set ``scipy.stats.hypergeom``
  loop (the straightforward way) against the 10k-set collection;
- 10,000 permutations of the list against all Reactome sets, and against 10,000 sets.
Goals: ORA < 0.5 s; permutations < 10 s (Reactome) and < 30 s (10k sets), on 2 cores.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from scipy import stats

import graphfuse  # noqa: F401
from graphfuse.data import GeneSets, load_gene_sets
from graphfuse.enrich import Universe, ora, permutation_test

ROOT = Path(__file__).resolve().parents[1]


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--permutations", type=int, default=10_000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    reactome = load_gene_sets("reactome")  # the data root's copy, else cached / downloaded
    gobp = load_gene_sets("go_bp")
    sets = {f"GO:{k}": v for k, v in gobp.items()} | {f"R:{k}": v for k, v in reactome.items()}
    pool = sorted(set(gobp.genes) | set(reactome.genes))
    while len(sets) < 10_000:  # pad with random sets shaped like GO BP's sizes
        size = int(rng.choice(gobp.sizes.to_numpy()))
        sets[f"RANDOM:{len(sets)}"] = list(rng.choice(pool, size, replace=False))
    big = GeneSets(sets, name="10k sets")
    rows = []

    bg = gobp.genes
    genes = list(rng.choice(bg, 100, replace=False))
    res, sec = timed(lambda: ora(genes, gobp, background=bg, min_size=1, max_size=None))
    rows.append(("ORA, 1 list x GO BP", len(res), sec, "< 0.5 s"))

    bg_big = big.genes
    genes_big = list(rng.choice(bg_big, 100, replace=False))
    res, sec = timed(lambda: ora(genes_big, big, background=bg_big, min_size=1, max_size=None))
    rows.append(("ORA, 1 list x 10k sets (graphfuse)", len(res), sec, ""))

    def scipy_loop() -> list[float]:
        chosen, n_bg = set(genes_big), len(bg_big)
        return [
            stats.hypergeom.sf(len(chosen & set(m)) - 1, n_bg, len(m), len(chosen))
            for _, m in big.items()
        ]

    _, sec = timed(scipy_loop)
    rows.append(("ORA, 1 list x 10k sets (per-set scipy loop)", len(big), sec, ""))
    loop_seconds = sec

    for name, collection in (("Reactome", reactome), ("10k sets", big)):
        universe = Universe(collection, collection.genes, min_size=1, max_size=None)
        lst = list(rng.choice(universe.genes, 100, replace=False))
        res, sec = timed(
            lambda u=universe, g=lst: permutation_test(g, u, n_permutations=args.permutations)
        )
        goal = "< 10 s" if name == "Reactome" else "< 30 s"
        rows.append(
            (f"{args.permutations:,} permutations, top-100 x {name}", len(res.table), sec, goal)
        )
    est = loop_seconds * args.permutations / 3600
    lines = ["| task | sets | seconds | goal |", "|---|---:|---:|---|"]
    lines += [f"| {t} | {n:,} | {s:.2f} | {g} |" for t, n, s, g in rows]
    note = (
        f"A per-set scipy loop would need about {est:.1f} h for {args.permutations:,} permutations."
    )
    table = "\n".join(lines)
    print(table)
    print(note)
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    (out / "enrichment.md").write_text(
        f"# Enrichment speed\n\n`python benchmarks/enrichment.py`\n\n{table}\n\n{note}\n"
    )


if __name__ == "__main__":
    main()
