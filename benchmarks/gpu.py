"""Seconds of ``fit`` and of saliency on the CPU and on a CUDA GPU, and how far they differ.

Run: ``python benchmarks/gpu.py`` (``--patients 600`` for a quick check; ``--devices cpu``
for one device). For each device: ``fit`` of ``configs/ad.yaml`` on its synthetic cohort
with ``data.synthetic.n_patients`` set to ``--patients`` (tracking off, ``train.device``
set to the device; every other setting is the config's, ``--set KEY=VALUE`` overrides
more), then ``saliency`` (gradient x input, exact per patient) of every patient on the same
device. Prints the seconds of every stage of the fit (``graphfuse.experiment.FitResult.
timings``), of the explanation and in all, the test ROC AUC, and the largest absolute
difference between the devices of the predicted probabilities and of the saliency scores.

A device the machine does not have is skipped with a message saying why. A device is
warmed up (one small tensor operation) before it is timed, so CUDA's start-up is not
counted. The data and graph stages run on the CPU on every device (only training, scoring
and explaining move); their seconds are listed to show the whole fit.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import graphfuse  # noqa: F401 - applies the thread policy before torch is imported

# isort: split
import numpy as np
import torch

from graphfuse._device import available_devices, resolve_device
from graphfuse.config import load_config
from graphfuse.errors import ConfigError
from graphfuse.experiment import fit
from graphfuse.explain import explain
from graphfuse.graphs import PATIENT

ROOT = Path(__file__).resolve().parents[1]


def run_device(config_path: Path, device: str, patients: int, extra: list[str]) -> dict:
    """One device's fit and saliency: seconds per stage, predictions and scores."""
    overrides = [
        "tracking.enabled=false",
        f"data.synthetic.n_patients={patients}",
        f"train.device={device}",
        *extra,
    ]
    config = load_config(config_path, overrides)
    where = resolve_device(config.train.device)
    torch.ones(8, device=where).sum().item()  # warm-up: CUDA's context is not timed
    result = fit(config)
    started = time.perf_counter()
    attribution = explain(result.model, result.data, "saliency", device=where)
    explain_seconds = time.perf_counter() - started
    scores = np.concatenate([attribution.scores[m].to_numpy() for m in attribution.modalities], 1)
    return {
        "device": str(where),
        "timings": dict(result.timings),
        "fit": result.seconds,
        "explain": explain_seconds,
        "auc": result.metrics["test"].get("roc_auc", float("nan")),
        "epochs": result.history.stopped_epoch,
        "proba": result.proba,
        "scores": scores,
        "patients": int(result.data[PATIENT].num_nodes),
    }


def _table(runs: list[dict]) -> str:
    stages = list(dict.fromkeys(s for r in runs for s in r["timings"]))
    head = ["device", *[f"{s} s" for s in stages], "fit s", "saliency s", "epochs", "test AUC"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in runs:
        cells = [r["device"], *[f"{r['timings'].get(s, float('nan')):.2f}" for s in stages]]
        cells += [f"{r['fit']:.2f}", f"{r['explain']:.2f}", str(r["epochs"]), f"{r['auc']:.3f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _nan_max_abs(a: np.ndarray, b: np.ndarray) -> float:
    diff = np.abs(a - b)
    return float(np.nanmax(diff)) if np.isfinite(diff).any() else float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "ad.yaml")
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--devices", default="cpu,cuda", help="comma-separated, e.g. cpu,cuda:1")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="more config overrides (e.g. train.epochs=50)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    print(
        f"graphfuse benchmarks/gpu.py: {args.config.name}, {args.patients} patients; "
        f"torch {torch.__version__} (CUDA build: {torch.version.cuda or 'none'}), "
        f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads; "
        f"devices here: {', '.join(available_devices())}"
    )
    runs = []
    for device in [d.strip() for d in args.devices.split(",") if d.strip()]:
        try:
            resolve_device(device)
        except ConfigError as exc:
            print(f"{device}: skipped — {exc}")
            continue
        runs.append(run_device(args.config, device, args.patients, args.overrides))
        print(f"{device}: done in {runs[-1]['fit'] + runs[-1]['explain']:.1f} s", flush=True)
    if not runs:
        print("nothing ran")
        return 1
    print()
    print(_table(runs))
    first = runs[0]
    for other in runs[1:]:
        print(
            f"\n{other['device']} vs {first['device']}: largest |difference| of predicted "
            f"probabilities {_nan_max_abs(other['proba'], first['proba']):.3g}, of saliency "
            f"scores {_nan_max_abs(other['scores'], first['scores']):.3g} "
            f"(largest |score| {np.nanmax(np.abs(first['scores'])):.3g})"
        )
    if len(runs) == 1:
        print("\none device only: no difference between devices to report")
    return 0


if __name__ == "__main__":
    sys.exit(main())
