"""The peers of ``benchmarks/cohorts.py``, run in the benchmark's own virtual environment.

Run by ``cohorts.py`` as ``<peers venv>/bin/python benchmarks/_peers_runner.py TASK_FOLDER``;
never imports graphfuse (its environment holds only the peers' packages: ``mogonet``,
``torch``, ``numpy``, ``scikit-learn``). The task folder, written by ``cohorts.py``, holds

- ``task.json``: ``peers`` to run, ``seed``, ``classes``, ``threads``, ``modalities`` (the
  views every patient has) and each peer's settings;
- ``split.csv``: ``patient,split,y`` (``train`` or ``test``; ``y`` the class code);
- ``<modality>.npy``: patients x features in ``split.csv``'s row order, the cohort's values.

For each peer it writes ``pred_<peer>.csv`` (``patient`` and one probability column per
class, test patients only) and ``pred_<peer>.json`` (``seconds``: fitting and predicting,
without reading the files; ``settings``). Nothing is chosen on test patients.

Peers:

- ``mogonet``: MOGONET (Wang et al., Nat. Commun. 12:3445, 2021) through the PyPI package
  ``mogonet==2.0.1``, with the paper's protocol: per-view GCN encoders (hidden widths
  ``hidden``) on cosine graphs with ``adj_parameter`` edges per patient (test patients attach
  to training patients, the package's ``gen_trte_adj_mat``), 500 pretraining epochs of the
  encoders, then ``epochs`` epochs with the VCDN (learning rates 1e-3 / 5e-4 / 1e-3); the last
  epoch's model predicts. Inputs: the values as published (``scale: none``) or min-max scaled
  on training patients (``scale: minmax``, MOGONET's preprocessing of its published data).
- ``sk_logistic``: L2 logistic regression, C by 5-fold stratified CV on training patients
  (log-loss), on features standardised on training patients (per view, concatenated).
- ``sk_random_forest``: 500 trees on the same standardised features.
"""

from __future__ import annotations

import csv
import inspect
import json
import sys
import time
from pathlib import Path

import numpy as np


def _read_split(folder: Path) -> tuple[list[str], np.ndarray, np.ndarray]:
    with open(folder / "split.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    patients = [r["patient"] for r in rows]
    train = np.array([r["split"] == "train" for r in rows])
    y = np.array([int(r["y"]) for r in rows])
    return patients, train, y


def _standardised(views: list[np.ndarray], train: np.ndarray) -> np.ndarray:
    from sklearn.preprocessing import StandardScaler

    return np.concatenate([StandardScaler().fit(v[train]).transform(v) for v in views], axis=1)


def run_logistic(views, train, y, task, settings):
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.model_selection import StratifiedKFold

    x = _standardised(views, train)
    folds = StratifiedKFold(n_splits=settings["folds"], shuffle=True, random_state=task["seed"])
    # L2 only, and the newer attribute layout, where this scikit-learn has the options
    # (they silence its deprecation warnings; older versions are L2 by default)
    known = inspect.signature(LogisticRegressionCV).parameters
    extra = {
        k: v for k, v in (("l1_ratios", (0.0,)), ("use_legacy_attributes", False)) if k in known
    }
    model = LogisticRegressionCV(
        Cs=settings["Cs"],
        cv=folds,
        scoring="neg_log_loss",
        max_iter=settings["max_iter"],
        **extra,
    )
    model.fit(x[train], y[train])
    return model.predict_proba(x[~train]), {"C": float(np.ravel(model.C_)[0])}


def run_random_forest(views, train, y, task, settings):
    from sklearn.ensemble import RandomForestClassifier

    x = _standardised(views, train)
    model = RandomForestClassifier(
        n_estimators=settings["trees"], random_state=task["seed"], n_jobs=task["threads"]
    )
    model.fit(x[train], y[train])
    return model.predict_proba(x[~train]), {}


def run_mogonet(views, train, y, task, settings):
    import torch
    import torch.nn.functional as F
    from mogonet.models import init_model_dict, init_optim
    from mogonet.train_mogonet import gen_trte_adj_mat, train_epoch
    from mogonet.utils import cal_sample_weight, one_hot_tensor

    torch.manual_seed(task["seed"])  # the package draws from torch only (init, dropout)
    n_class = len(task["classes"])
    order = np.concatenate([np.flatnonzero(train), np.flatnonzero(~train)])
    n_tr = int(train.sum())
    data = []
    for v in views:
        v = v.astype(np.float64)
        if settings["scale"] == "minmax":
            low, high = v[train].min(axis=0), v[train].max(axis=0)
            v = (v - low) / np.where(high > low, high - low, 1.0)
        data.append(torch.FloatTensor(v[order]))
    data_tr = [d[:n_tr].clone() for d in data]
    idx = {"tr": list(range(n_tr)), "te": list(range(n_tr, len(order)))}
    y_tr = y[order][:n_tr]
    labels = torch.LongTensor(y_tr)
    onehot = one_hot_tensor(labels, n_class)
    weight = torch.FloatTensor(cal_sample_weight(y_tr, n_class))
    adj_tr, adj_te = gen_trte_adj_mat(data_tr, data, idx, settings["adj_parameter"])
    n_view = len(views)
    models = init_model_dict(
        n_view, n_class, [d.shape[1] for d in data], settings["hidden"], n_class**n_view
    )
    optim = init_optim(n_view, models, settings["lr_e_pretrain"], settings["lr_c"])
    for _ in range(settings["epochs_pretrain"]):
        train_epoch(data_tr, adj_tr, labels, onehot, weight, models, optim, train_VCDN=False)
    optim = init_optim(n_view, models, settings["lr_e"], settings["lr_c"])
    for _ in range(settings["epochs"] + 1):
        train_epoch(data_tr, adj_tr, labels, onehot, weight, models, optim)
    for m in models.values():
        m.eval()
    with torch.no_grad():
        per_view = [
            models[f"C{i + 1}"](models[f"E{i + 1}"](data[i], adj_te[i])) for i in range(n_view)
        ]
        logits = models["C"](per_view) if n_view >= 2 else per_view[0]
    # rows n_tr: are the test patients in split.csv's order
    return F.softmax(logits[n_tr:], dim=1).numpy(), {}


PEERS = {"mogonet": run_mogonet, "sk_logistic": run_logistic, "sk_random_forest": run_random_forest}


def main(folder: Path) -> None:
    task = json.loads((folder / "task.json").read_text())
    patients, train, y = _read_split(folder)
    views = [np.load(folder / f"{m}.npy", allow_pickle=False) for m in task["modalities"]]
    test_ids = [p for p, t in zip(patients, train, strict=True) if not t]
    for name in task["peers"]:
        settings = task["settings"][name]
        if name == "mogonet":
            import torch

            torch.set_num_threads(task["threads"])
        start = time.perf_counter()
        proba, chosen = PEERS[name](views, train, y, task, settings)
        seconds = time.perf_counter() - start
        with open(folder / f"pred_{name}.csv", "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["patient", *task["classes"]])
            for pid, row in zip(test_ids, proba, strict=True):
                writer.writerow([pid, *(f"{p:.10g}" for p in row)])
        info = {"seconds": seconds, "settings": settings | chosen}
        (folder / f"pred_{name}.json").write_text(json.dumps(info))
        print(f"{name}: {seconds:.1f} s", flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
