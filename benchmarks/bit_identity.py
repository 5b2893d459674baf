"""Bit-identity check for refactors: predictions and explainer outputs on ``ad_quick``.

Fits ``configs/ad_quick.yaml`` once per model (and a few model settings that take other
code paths: root weights, stand-ins for absent modalities, the knowledge-graph model),
runs every explainer on each, and writes one ``.npz`` per case: the class probabilities of
every patient and every explainer's scores. Run it before a change and after, into two
folders, then compare::

    python benchmarks/bit_identity.py --out /tmp/before        # on the old commit
    python benchmarks/bit_identity.py --out /tmp/after         # on the new one
    python benchmarks/bit_identity.py --compare /tmp/before /tmp/after

``--compare`` prints, per case and array, whether the two are bit-identical (and the
largest absolute difference where they are not) and exits 1 if any differs.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

#: case -> config overrides on top of configs/ad_quick.yaml
CASES: dict[str, dict[str, object]] = {
    "gcn_fusion": {"model": {"name": "gcn_fusion", "hidden": 16}},
    "gcn_fusion_root_learned": {
        "model": {"name": "gcn_fusion", "hidden": 16, "root": True, "missing": "learned"}
    },
    "gcn_fusion_neighbors": {
        "model": {"name": "gcn_fusion", "hidden": 16, "missing": "neighbors", "layers": 1}
    },
    "attention": {"model": {"name": "attention", "hidden": 16}},
    "mogonet": {"model": {"name": "mogonet", "hidden": [16, 8], "pretrain_epochs": 3}},
    "mogonet_detached": {
        "model": {
            "name": "mogonet",
            "hidden": [16, 8],
            "fusion_gradient": False,
            "view_probability": "sigmoid",
            "vcdn_lr_ratio": 2.0,
        }
    },
    "early_mlp": {"model": {"name": "early_mlp"}},
    "late_mlp": {"model": {"name": "late_mlp"}},
    "logistic": {"model": {"name": "logistic"}},
    "random_forest": {"model": {"name": "random_forest"}},
    "hetero": {
        # perturbations of a knowledge graph's training patients take one forward pass
        # each: only the explainers with few of them
        "explainers": ["gradient", "integrated_gradients", "sensitivity_modalities", "masking"],
        "model": {"name": "hetero", "hidden": 16},
        "graph.knowledge": {"gene_sets": {"pathway": "synthetic"}, "top_genes": 10},
    },
}

#: explainer label -> (method, params)
EXPLAINERS: dict[str, tuple[str, dict[str, object]]] = {
    "saliency": ("saliency", {}),
    "gradient": ("saliency", {"kind": "gradient"}),
    "integrated_gradients": ("saliency", {"kind": "integrated_gradients"}),
    "sensitivity": ("sensitivity", {}),
    "sensitivity_zeros": ("sensitivity", {"baseline": "zeros"}),
    "sensitivity_modalities": ("sensitivity", {"groups": "modalities"}),
    "shap": ("shap", {"n_permutations": 4}),
    "shap_modalities": ("shap", {"n_permutations": 4, "groups": "modalities"}),
    "masking": ("masking", {"epochs": 20}),
}


def run(out: Path, cases: list[str]) -> None:
    from graphfuse.config import load_config
    from graphfuse.experiment import fit
    from graphfuse.explain import explain

    out.mkdir(parents=True, exist_ok=True)
    for case in cases:
        overrides = {"tracking.enabled": False, **CASES[case]}
        labels = overrides.pop("explainers", list(EXPLAINERS))
        config = load_config(ROOT / "configs" / "ad_quick.yaml", overrides)
        result = fit(config)
        arrays: dict[str, np.ndarray] = {"proba": np.asarray(result.proba)}
        model = result.model
        for label in labels:
            method, params = EXPLAINERS[label]
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    attribution = explain(model, result.data, method, seed=0, **params)
            except Exception as exc:  # unsupported (e.g. gradients of a forest): recorded
                refused = f"{type(exc).__name__}: {exc}".encode()
                arrays[f"{label}/refused"] = np.frombuffer(refused, np.uint8)
                continue
            tables = {
                **{f"scores/{m}": f for m, f in attribution.scores.items()},
                **{f"groups/{m}": f for m, f in attribution.groups.items()},
                **{f"edges/{m}": f for m, f in attribution.edge_scores.items()},
            }
            for name, frame in tables.items():
                arrays[f"{label}/{name}"] = frame.select_dtypes("number").to_numpy()
            prediction = attribution.prediction.select_dtypes("number")
            arrays[f"{label}/prediction"] = prediction.to_numpy()
        np.savez(out / f"{case}.npz", **arrays)
        print(f"{case}: {len(arrays)} arrays", flush=True)


def compare(before: Path, after: Path) -> int:
    failed = 0
    for path in sorted(before.glob("*.npz")):
        other = after / path.name
        if not other.exists():
            print(f"{path.stem}: missing in {after}")
            failed += 1
            continue
        a, b = np.load(path), np.load(other)
        for key in sorted(set(a.files) | set(b.files)):
            if key not in a.files or key not in b.files:
                print(f"{path.stem} {key}: only in one")
                failed += 1
            elif a[key].shape != b[key].shape:
                print(f"{path.stem} {key}: shape {a[key].shape} vs {b[key].shape}")
                failed += 1
            elif not np.array_equal(a[key], b[key], equal_nan=a[key].dtype.kind == "f"):
                diff = np.nanmax(np.abs(a[key].astype(float) - b[key].astype(float)))
                print(f"{path.stem} {key}: DIFFERS (max |diff| {diff:.3g})")
                failed += 1
        print(f"{path.stem}: {len(a.files)} arrays compared")
    print("bit-identical" if failed == 0 else f"{failed} arrays differ")
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path)
    parser.add_argument("--case", action="append", choices=sorted(CASES))
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("BEFORE", "AFTER"))
    args = parser.parse_args()
    if args.compare:
        return compare(*args.compare)
    if args.out is None:
        parser.error("--out or --compare is required")
    run(args.out, args.case or list(CASES))
    return 0


if __name__ == "__main__":
    sys.exit(main())
