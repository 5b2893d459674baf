"""How fast the built-in synthetic cohort is generated, from 50 to 100,000 patients.

Run: ``python benchmarks/synthetic.py`` (``--sizes 50 1000`` for a subset). Prints seconds
and peak resident memory per size (each size in a fresh subprocess, default cohort shape:
2,000 genes, 1,000 methylation probes, 100 regions, 5 clinical variables) and writes
``benchmarks/results/synthetic.md``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

CHILD = """
import json, resource, sys, time
import graphfuse
from graphfuse.data import make_synthetic_cohort
n = int(sys.argv[1])
t = time.perf_counter()
c = make_synthetic_cohort(n, seed=0)
gen = time.perf_counter() - t
t = time.perf_counter()
c.fingerprint()
fp = time.perf_counter() - t
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"n": n, "seconds": gen, "fingerprint_s": fp, "peak_mb": rss}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 1_000, 10_000, 100_000])
    args = parser.parse_args()
    rows = []
    for n in args.sizes:
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(n)], capture_output=True, text=True, check=True
        )
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(rows[-1], flush=True)
    lines = [
        "| patients | generate (s) | fingerprint (s) | peak RSS (MB) |",
        "|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['n']:,} | {r['seconds']:.2f} | {r['fingerprint_s']:.2f} | {r['peak_mb']:.0f} |"
        for r in rows
    ]
    table = "\n".join(lines)
    print(table)
    results = Path(__file__).parent / "results"
    results.mkdir(exist_ok=True)
    (results / "synthetic.md").write_text(
        "# Synthetic cohort generation\n\n`python benchmarks/synthetic.py`\n\n" + table + "\n"
    )


if __name__ == "__main__":
    main()
