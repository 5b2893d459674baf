"""The peers' side of ``benchmarks/cohorts.py``: the task folder it writes, read by the runner.

The runner normally runs in the benchmark's own virtual environment; here the scikit-learn
peers run under this interpreter on a tiny task (MOGONET's package is not a dependency).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def test_runner_predicts_the_test_patients_of_the_split_it_is_given(tmp_path):
    rng = np.random.default_rng(0)
    n = 40
    y = np.array([0, 1, 2, 3] * (n // 4))
    patients = [f"P{i:02d}" for i in range(n)]
    split = np.where(np.arange(n) % 5 == 0, "test", "train")  # every class in both splits
    pd.DataFrame({"patient": patients, "split": split, "y": y}).to_csv(
        tmp_path / "split.csv", index=False
    )
    np.save(tmp_path / "rna.npy", rng.normal(size=(n, 5)) + 3 * y[:, None])
    np.save(tmp_path / "mirna.npy", rng.normal(size=(n, 3)))
    task = {
        "peers": ["sk_logistic", "sk_random_forest"],
        "seed": 0,
        "classes": ["a", "b", "c", "d"],
        "threads": 1,
        "modalities": ["rna", "mirna"],
        "settings": {
            "sk_logistic": {"folds": 3, "Cs": 3, "max_iter": 500},
            "sk_random_forest": {"trees": 20},
        },
    }
    (tmp_path / "task.json").write_text(json.dumps(task))
    runner = ROOT / "benchmarks" / "_peers_runner.py"
    subprocess.run(
        [sys.executable, "-W", "error", str(runner), str(tmp_path)], check=True, capture_output=True
    )
    test_ids = [p for p, s in zip(patients, split, strict=True) if s == "test"]
    for peer in task["peers"]:
        pred = pd.read_csv(tmp_path / f"pred_{peer}.csv", index_col="patient")
        assert pred.index.tolist() == test_ids
        assert pred.columns.tolist() == task["classes"]
        np.testing.assert_allclose(pred.sum(axis=1), 1.0, atol=1e-6)
        # the signal in rna is strong: most test patients are classified right
        assert (pred.to_numpy().argmax(axis=1) == y[split == "test"]).mean() >= 0.6
        info = json.loads((tmp_path / f"pred_{peer}.json").read_text())
        assert info["seconds"] > 0
