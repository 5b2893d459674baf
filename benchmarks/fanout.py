"""Fan-out on Dask: ``graphfuse cv --folds 5`` on a 2-worker LocalCluster vs serially, and
the overhead of one Dask task vs a direct call.

    PYTHONPATH=$PWD python benchmarks/fanout.py [--config configs/ad_quick.yaml] [--epochs 30]

Prints the wall times, their ratio, whether the folds' metrics are identical, and the
overhead per task (the task: one saliency explanation of a fitted tiny model).
"""

from __future__ import annotations

import argparse
import time

import graphfuse  # noqa: F401 - the thread policy before torch
from graphfuse.config import load_config
from graphfuse.experiment import FanOut, cross_validate, fit


def _explain(task):
    """One explainer run on a fitted model (the task of the overhead figure)."""
    from graphfuse.explain import explain

    model, data = task
    return explain(model, data, "saliency")


def _overhead(cfg, repeats: int = 10) -> tuple[float, float, float]:
    """Seconds of a direct explainer call, of the same call as a Dask task on a running
    1-worker LocalCluster (submitted and awaited one at a time, as FanOut sends it), and
    of starting and stopping a 2-worker cluster."""
    import pickle

    from distributed import Client, LocalCluster

    from graphfuse._fanout import _call_pickled

    fitted = fit(cfg)
    task = (fitted.model, fitted.data)
    _explain(task)
    t = time.perf_counter()
    for _ in range(repeats):
        _explain(task)
    direct = (time.perf_counter() - t) / repeats
    with LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=None) as cluster:
        with Client(cluster) as client:
            payload = pickle.dumps((_explain, task))
            client.submit(_call_pickled, payload, 1, pure=False).result()  # warm the worker
            t = time.perf_counter()
            for _ in range(repeats):
                client.submit(_call_pickled, pickle.dumps((_explain, task)), 1, pure=False).result()
            on_dask = (time.perf_counter() - t) / repeats
    t = time.perf_counter()
    FanOut(workers=2).map(abs, [0])
    start = time.perf_counter() - t
    return direct, on_dask, start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", default="configs/ad_quick.yaml")
    parser.add_argument("--epochs", type=int, default=30)
    args = parser.parse_args()
    cfg = load_config(args.config, ["tracking.enabled=false", f"train.epochs={args.epochs}"])

    t = time.perf_counter()
    serial = cross_validate(cfg, folds=5)
    t_serial = time.perf_counter() - t
    t = time.perf_counter()
    dask = cross_validate(cfg, folds=5, fanout=FanOut(workers=2))
    t_dask = time.perf_counter() - t
    cols = [c for c in serial.folds.columns if c != "seconds"]
    same = serial.folds[cols].equals(dask.folds[cols])
    print(f"cv --folds 5, serial:            {t_serial:7.2f} s")
    print(f"cv --folds 5, 2-worker cluster:  {t_dask:7.2f} s (incl. cluster start)")
    print(f"ratio dask/serial:               {t_dask / t_serial:7.2f}")
    print(f"identical fold metrics:          {same}")
    direct, on_dask, start = _overhead(cfg)
    print(f"saliency, direct call:           {direct * 1000:7.1f} ms")
    print(f"saliency, as one Dask task:      {on_dask * 1000:7.1f} ms")
    print(f"overhead per task:               {(on_dask - direct) * 1000:7.1f} ms")
    print(f"start + stop a 2-worker cluster: {start:7.2f} s")


if __name__ == "__main__":
    main()
