"""Patient-similarity graph builders at scale: kNN (exact vs HNSW), threshold, SNF.

Run: ``python benchmarks/graphs.py`` (about 6 minutes on 2 cores); add ``--million`` for
the approximate kNN graph of 1,000,000 patients (about 10 more minutes), ``--libraries`` to
compare ANN libraries at 100,000 patients (a few minutes; hnswlib and pynndescent are used
where installed), ``--snfpy-5k`` to also time snfpy at 5,000 patients (minutes). Writes
``benchmarks/results/graphs.md`` (``graphs_<sections>.md`` with ``--only``).

Every measurement runs in a fresh subprocess, so "peak RSS" is that process's high-water
mark (Python, torch, faiss and graphfuse's imports: ~0.5 GB before any data). Patients are
synthetic, 200 features: 12 subtypes as cluster centres in a 20-dimensional latent space,
mapped linearly to the features, plus noise (patient data is low-rank and clustered; on
pure isotropic noise any approximate index loses recall and kNN graphs mean little).

Sections:

1. ``knn``: :class:`graphfuse.graphs.KNNBuilder` (k = 10, directed, all patients fitted),
   ``index: exact`` and ``index: approximate`` (faiss HNSW, M = 32, efConstruction = 200,
   efSearch = 64); recall@10 of the approximate graph against exact search on 1,000
   sampled patients.
2. ``threshold``: MOGONET's dense computation (its ``utils.py`` rewritten: an N x N cosine
   distance matrix, a sort of all N**2 entries, dense adjacency matrices), run under a
   memory cap (``resource.setrlimit(RLIMIT_AS)``) to show where it breaks, against
   :class:`graphfuse.graphs.ThresholdBuilder` (k = 9, i.e. MOGONET's adj_parameter = 10);
   80 % of patients are training patients, the rest are attached.
3. ``snf``: :class:`graphfuse.graphs.SNFBuilder` on 2 modalities (200 and 100 features),
   all patients fitted, against snfpy (if installed: ``pip install snfpy``, comparison
   only; it needs a shim for scikit-learn >= 1.8): time, memory, and agreement of the
   fused graphs (top-10 neighbour overlap, Spearman correlation of fused similarities).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

K = 10
FEATURES = 200
DENSE_CAP_GB = 8.0  # address-space cap of the MOGONET dense subprocess

# --------------------------------------------------------------------------- child side


def make_patients(n: int, d: int = FEATURES, seed: int = 0) -> Any:
    """``n`` x ``d`` float32 patients: 12 subtypes in a 20-d latent space, plus noise."""
    import numpy as np

    rng = np.random.default_rng(seed)
    latent = 20
    centres = rng.normal(size=(12, latent)) * 2.0
    w = (rng.normal(size=(latent, d)) / np.sqrt(latent)).astype(np.float32)
    x = np.empty((n, d), dtype=np.float32)
    for start in range(0, n, 65_536):
        m = min(65_536, n - start)
        z = centres[rng.integers(12, size=m)] + rng.normal(size=(m, latent))
        x[start : start + m] = z.astype(np.float32) @ w
        x[start : start + m] += rng.normal(scale=0.5, size=(m, d)).astype(np.float32)
    return x


def _rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def child_knn(n: int, index: str) -> dict[str, Any]:
    import numpy as np

    import graphfuse  # noqa: F401 - thread policy before torch
    from graphfuse.graphs import KNNBuilder
    from graphfuse.graphs._search import exact_search, prepare

    x = make_patients(n)
    base = _rss_mb()
    t, c = time.perf_counter(), _cpu()
    ei, _ = KNNBuilder(k=K, index=index, symmetric=False).edges(x, np.arange(n))
    seconds, cpu = time.perf_counter() - t, _cpu() - c
    peak = _rss_mb()
    out = {"n": n, "index": index, "seconds": seconds, "cpu_s": cpu, "peak_mb": peak}
    out["base_mb"] = base
    if index != "exact":  # recall@10 against exact search, 1,000 sampled patients
        rng = np.random.default_rng(1)
        sample = np.sort(rng.choice(n, size=min(1000, n), replace=False))
        ref = prepare(x, "cosine")
        truth, _ = exact_search(ref[sample], ref, K, "cosine", exclude=sample)
        order = np.argsort(ei[1], kind="stable")  # incoming edges grouped by patient
        found = ei[0][order].reshape(n, K)[sample]
        hits = [len(set(a) & set(b)) for a, b in zip(found, truth, strict=True)]
        out["recall"] = float(np.mean(hits)) / K
    return out


def child_dense_threshold(n: int) -> dict[str, Any]:
    """MOGONET's dense threshold graph (its utils.py, rewritten) under a memory cap."""
    import resource

    cap = int(DENSE_CAP_GB * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    import graphfuse  # noqa: F401, I001 - thread policy before torch
    import torch

    x = torch.from_numpy(make_patients(n))
    n_tr = int(0.8 * n)
    tr, te = x[:n_tr], x[n_tr:]
    adj_parameter = K  # MOGONET counts the self-loop: graphfuse's k = K - 1
    t = time.perf_counter()
    try:

        def cos_dist(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            na, nb = a.norm(dim=1, keepdim=True), b.norm(dim=1, keepdim=True)
            return 1 - (a @ b.T) / (na * nb.T).clamp(min=1e-8)

        # cal_adj_mat_parameter: sort every training pair's distance
        dist = cos_dist(tr, tr)
        parameter = torch.sort(dist.reshape(-1)).values[adj_parameter * n_tr].item()
        # gen_adj_mat_tensor: dense training adjacency, symmetrised, row-normalised
        g = (dist <= parameter).float()
        g.fill_diagonal_(0)
        adj = (1 - dist) * g
        adj_t = adj.T
        adj = adj + adj_t * (adj_t > adj).float() - adj * (adj_t > adj).float()
        adj = torch.nn.functional.normalize(adj + torch.eye(n_tr), p=1)
        train_edges = int((adj > 0).sum()) - n_tr
        del dist, g, adj, adj_t
        # gen_test_adj_mat_tensor: an all-patients dense matrix with the train-test blocks
        full = torch.zeros(n, n)
        d_tt = cos_dist(tr, te)
        full[:n_tr, n_tr:] = (1 - d_tt) * (d_tt <= parameter).float()
        full[n_tr:, :n_tr] = full[:n_tr, n_tr:].T
        full = torch.nn.functional.normalize(full + torch.eye(n), p=1)
        test_edges = int((full[:n_tr, n_tr:] > 0).sum())
        status = "ok"
    except (RuntimeError, MemoryError) as exc:
        status = "out of memory" if "memory" in str(exc).lower() else f"failed: {exc}"[:80]
        parameter, train_edges, test_edges = float("nan"), 0, 0
    seconds = time.perf_counter() - t
    return {
        "n": n,
        "method": "MOGONET dense",
        "seconds": seconds,
        "peak_mb": _rss_mb(),
        "status": status,
        "threshold": 1 - parameter if status == "ok" else None,
        "train_edges_per_patient": train_edges / n_tr,
        "test_edges": test_edges,
    }


def child_threshold(n: int, index: str) -> dict[str, Any]:
    import numpy as np

    import graphfuse  # noqa: F401
    from graphfuse.graphs import ThresholdBuilder

    x = make_patients(n)
    n_tr = int(0.8 * n)
    builder = ThresholdBuilder(k=K - 1, index=index, min_neighbours=0)
    t = time.perf_counter()
    ei, _ = builder.edges(x, np.arange(n_tr))
    seconds = time.perf_counter() - t
    train = ei[1] < n_tr
    return {
        "n": n,
        "method": f"graphfuse threshold ({index})",
        "seconds": seconds,
        "peak_mb": _rss_mb(),
        "status": "ok",
        "threshold": builder.threshold_,
        "train_edges_per_patient": float(train.sum()) / n_tr,
        "test_edges": int((~train).sum()),
        "searched": builder.searched_,
    }


def _snf_views(n: int) -> tuple[Any, Any]:
    return make_patients(n, 200, seed=0), make_patients(n, 100, seed=1)[:, ::-1].copy()


def _summarise_fused(fused: Any, out: Path) -> None:
    """Save each patient's top-10 neighbours and the values of 20,000 fixed pairs."""
    import numpy as np

    f = np.array(fused, dtype=np.float64)
    np.fill_diagonal(f, -np.inf)
    top = np.argsort(-f, axis=1)[:, :K]
    rng = np.random.default_rng(2)
    i, j = rng.integers(len(f), size=(2, 20_000))
    keep = i != j
    np.savez(out, top=top, pairs=f[i[keep], j[keep]])


def child_snf(n: int, out: str) -> dict[str, Any]:
    import numpy as np

    import graphfuse  # noqa: F401
    from graphfuse.graphs import SNFBuilder

    a, b = _snf_views(n)
    xs = {"a": a, "b": b}
    avail = np.ones((n, 2), dtype=bool)
    builder = SNFBuilder(k=K, local_k=20, mu=0.5, iterations=20)
    t = time.perf_counter()
    builder.fuse(xs, avail, np.arange(n))
    seconds = time.perf_counter() - t
    peak = _rss_mb()
    _summarise_fused(builder.similarity(xs, avail, np.arange(n)), Path(out))
    return {"n": n, "method": "graphfuse snf", "seconds": seconds, "peak_mb": peak}


def child_snfpy(n: int, out: str) -> dict[str, Any]:
    try:
        import snf
    except ImportError:
        return {"n": n, "method": "snfpy", "status": "not installed"}
    from sklearn.utils import validation

    def check_array(array: Any, **kwargs: Any) -> Any:  # scikit-learn >= 1.8 renamed it
        if "force_all_finite" in kwargs:
            kwargs["ensure_all_finite"] = kwargs.pop("force_all_finite")
        return validation.check_array(array, **kwargs)

    snf.compute.check_array = check_array
    a, b = _snf_views(n)
    t = time.perf_counter()
    affs = snf.make_affinity(a, b, metric="euclidean", K=20, mu=0.5, normalize=False)
    fused = snf.snf(affs, K=20, t=20)
    seconds = time.perf_counter() - t
    peak = _rss_mb()
    _summarise_fused(fused, Path(out))
    return {"n": n, "method": "snfpy", "seconds": seconds, "peak_mb": peak, "status": "ok"}


def child_library(n: int, lib: str) -> dict[str, Any]:
    """A 10-NN graph of ``n`` patients with one ANN library, cosine, for choosing one."""
    import numpy as np

    import graphfuse  # noqa: F401
    from graphfuse.graphs._search import exact_search, prepare

    x = make_patients(n)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    t, c = time.perf_counter(), _cpu()
    try:
        if lib == "faiss-hnsw":
            import faiss

            index = faiss.IndexHNSWFlat(x.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = 200
            index.add(x)
            index.hnsw.efSearch = 64
            _, nbr = index.search(x, K + 1)
        elif lib == "faiss-ivf":
            import faiss

            nlist = int(4 * np.sqrt(n))
            index = faiss.IndexIVFFlat(faiss.IndexFlatIP(x.shape[1]), x.shape[1], nlist, 0)
            index.train(x[np.random.default_rng(0).choice(n, min(n, 50 * nlist), False)])
            index.add(x)
            index.nprobe = 16
            _, nbr = index.search(x, K + 1)
        elif lib == "hnswlib":
            import hnswlib

            index = hnswlib.Index(space="ip", dim=x.shape[1])
            index.init_index(max_elements=n, M=32, ef_construction=200, random_seed=0)
            index.add_items(x)
            index.set_ef(64)
            nbr, _ = index.knn_query(x, k=K + 1)
        elif lib == "pynndescent":
            import pynndescent

            nbr, _ = pynndescent.NNDescent(x, metric="dot", random_state=0).neighbor_graph
        else:
            raise ValueError(lib)
    except ImportError:
        return {"n": n, "library": lib, "status": "not installed"}
    seconds, cpu = time.perf_counter() - t, _cpu() - c
    peak = _rss_mb()
    nbr = np.asarray(nbr)
    rng = np.random.default_rng(1)
    sample = np.sort(rng.choice(n, size=min(1000, n), replace=False))
    ref = prepare(x, "cosine")
    truth, _ = exact_search(ref[sample], ref, K, "cosine", exclude=sample)
    hits = [
        len(set([j for j in nbr[i] if j != i][:K]) & set(t_))
        for i, t_ in zip(sample, truth, strict=True)
    ]
    return {
        "n": n,
        "library": lib,
        "seconds": seconds,
        "cpu_s": cpu,
        "peak_mb": peak,
        "recall": float(np.mean(hits)) / K,
        "status": "ok",
    }


CHILDREN = {
    "knn": child_knn,
    "dense_threshold": child_dense_threshold,
    "threshold": child_threshold,
    "snf": child_snf,
    "snfpy": child_snfpy,
    "library": child_library,
}

# --------------------------------------------------------------------------- parent side


def run(task: str, *args: Any, timeout: float = 1800) -> dict[str, Any]:
    spec = json.dumps({"task": task, "args": list(args)})
    proc = subprocess.run(
        [sys.executable, __file__, "--child", spec],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["?"]
        return {"task": task, "args": list(args), "status": f"crashed: {tail[0][:100]}"}
    row = json.loads(lines[-1])
    print(row, flush=True)
    return row


def knn_section(million: bool) -> tuple[str, list[dict[str, Any]]]:
    sizes = [10_000, 20_000, 50_000, 100_000]
    rows = []
    for n in sizes:
        rows.append(run("knn", n, "exact"))
        rows.append(run("knn", n, "approximate"))
    if million:
        rows.append(run("knn", 1_000_000, "approximate"))
    lines = [
        "| patients | index | build (s) | CPU (s) | peak RSS (MB) | data + libs (MB) | recall@10 |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        if "seconds" not in r:
            lines.append(f"| {r['args'][0]:,} | {r['args'][1]} | {r['status']} | | | | |")
            continue
        recall = f"{r['recall']:.4f}" if "recall" in r else "1 (exact)"
        lines.append(
            f"| {r['n']:,} | {r['index']} | {r['seconds']:.2f} | {r['cpu_s']:.1f} "
            f"| {r['peak_mb']:.0f} | {r['base_mb']:.0f} | {recall} |"
        )
    if million:
        exact_100k = next(r for r in rows if r.get("n") == 100_000 and r["index"] == "exact")
        est = exact_100k["seconds"] * 100 / 60
        lines.append(
            f"| 1,000,000 | exact | not run: ~{est:.0f} min (100 x the 100,000 time) | | | | |"
        )
    return "\n".join(lines), rows


def threshold_section() -> tuple[str, list[dict[str, Any]]]:
    rows = []
    for n in (10_000, 20_000, 30_000):
        rows.append(run("dense_threshold", n))
        rows.append(run("threshold", n, "exact"))
    rows.append(run("threshold", 100_000, "auto"))
    lines = [
        "| patients | method | status | time (s) | peak RSS (MB) | threshold "
        "| edges per training patient |",
        "|---:|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        if "seconds" not in r:
            lines.append(f"| {r['args'][0]:,} | {r['task']} | {r['status']} | | | | |")
            continue
        t = f"{r['threshold']:.5f}" if r.get("threshold") is not None else "—"
        lines.append(
            f"| {r['n']:,} | {r['method']} | {r['status']} | {r['seconds']:.2f} "
            f"| {r['peak_mb']:.0f} | {t} | {r['train_edges_per_patient']:.2f} |"
        )
    return "\n".join(lines), rows


def snf_section(snfpy_5k: bool) -> tuple[str, list[dict[str, Any]]]:
    import numpy as np
    from scipy.stats import spearmanr

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in (1_000, 2_000, 5_000):
            ours = Path(tmp) / f"ours_{n}.npz"
            theirs = Path(tmp) / f"snfpy_{n}.npz"
            row = run("snf", n, str(ours))
            if n < 5_000 or snfpy_5k:
                other = run("snfpy", n, str(theirs))
            else:
                other = {"n": n, "method": "snfpy", "status": "not run (--snfpy-5k)"}
            if ours.exists() and theirs.exists():
                a, b = np.load(ours), np.load(theirs)
                overlap = np.mean(
                    [len(set(p) & set(q)) / K for p, q in zip(a["top"], b["top"], strict=True)]
                )
                row["overlap"] = float(overlap)
                row["spearman"] = float(spearmanr(a["pairs"], b["pairs"]).statistic)
            rows += [row, other]
    lines = [
        "| patients | method | time (s) | peak RSS (MB) | top-10 overlap with snfpy "
        "| Spearman with snfpy |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        if "seconds" not in r:
            lines.append(f"| {r['n']:,} | {r['method']} | {r.get('status', '')} | | | |")
            continue
        ov = f"{r['overlap']:.3f}" if "overlap" in r else ""
        sp = f"{r['spearman']:.3f}" if "spearman" in r else ""
        lines.append(
            f"| {r['n']:,} | {r['method']} | {r['seconds']:.2f} | {r['peak_mb']:.0f} "
            f"| {ov} | {sp} |"
        )
    return "\n".join(lines), rows


def library_section() -> tuple[str, list[dict[str, Any]]]:
    rows = [
        run("library", 100_000, lib)
        for lib in ("faiss-hnsw", "hnswlib", "pynndescent", "faiss-ivf")
    ]
    lines = [
        "| library | parameters | time (s) | CPU (s) | peak RSS (MB) | recall@10 |",
        "|---|---|---:|---:|---:|---:|",
    ]
    params = {
        "faiss-hnsw": "HNSW, M 32, efConstruction 200, efSearch 64",
        "hnswlib": "HNSW, M 32, ef_construction 200, ef 64",
        "pynndescent": "defaults (n_neighbors 30)",
        "faiss-ivf": "IVF-Flat, 4 sqrt(N) lists, nprobe 16",
    }
    for r in rows:
        lib = r.get("library", r.get("args", ["", "?"])[1])
        if "seconds" not in r:
            lines.append(f"| {lib} | {params.get(lib, '')} | {r.get('status')} | | | |")
            continue
        lines.append(
            f"| {lib} | {params[lib]} | {r['seconds']:.1f} | {r['cpu_s']:.1f} "
            f"| {r['peak_mb']:.0f} | {r['recall']:.4f} |"
        )
    return "\n".join(lines), rows


def goals(knn: list[dict[str, Any]], snf: list[dict[str, Any]]) -> str:
    """The issue's targets against this run's measurements."""

    def find(rows: list[dict[str, Any]], **match: Any) -> dict[str, Any] | None:
        for r in rows:
            if "seconds" in r and all(r.get(k) == v for k, v in match.items()):
                return r
        return None

    lines = ["| goal | measured | met |", "|---|---|:-:|"]

    def add(goal: str, row: dict[str, Any] | None, ok: Any, measured: Any) -> None:
        if row is None:
            lines.append(f"| {goal} | not run | |")
        else:
            lines.append(f"| {goal} | {measured(row)} | {'yes' if ok(row) else 'NO'} |")

    add(
        "10,000 x 200, exact, under 1 s",
        find(knn, n=10_000, index="exact"),
        lambda r: r["seconds"] < 1,
        lambda r: f"{r['seconds']:.2f} s",
    )
    for n, limit_s, limit_gb, recall in ((100_000, 30, 1, 0.99), (1_000_000, 900, 4, 0.95)):
        add(
            f"{n:,} x 200, recall@10 >= {recall}, under {limit_s} s and {limit_gb} GB",
            find(knn, n=n, index="approximate"),
            lambda r, a=limit_s, b=limit_gb, c=recall: (
                r["seconds"] < a and r["peak_mb"] < b * 1024 and r["recall"] >= c
            ),
            lambda r: f"{r['seconds']:.0f} s, {r['peak_mb'] / 1024:.2f} GB, {r['recall']:.4f}",
        )
    add(
        "SNF, 5,000 patients x 2 modalities, under 60 s",
        find(snf, n=5_000, method="graphfuse snf"),
        lambda r: r["seconds"] < 60,
        lambda r: f"{r['seconds']:.1f} s",
    )
    return "\n".join(lines)


NOTES = """## Reading the tables

- *peak RSS* is the whole subprocess's high-water mark; *data + libs* is its resident memory
  after the imports and the generated data, before the graph is built.
- kNN: `exact` scores each query block against every patient (64 MB of scores at a time), so
  it costs O(N^2) time but flat memory; `approximate` is faiss' HNSW index built on the
  fitted patients. `index: auto` switches to it above 50,000 fitted patients, where exact
  search starts to cost tens of seconds on 2 cores.
- Threshold: MOGONET's code sorts all N^2 pairwise distances and builds dense N x N
  adjacency matrices; graphfuse searches each patient's 3k best candidates, widening the
  search for patients whose candidates all pass the threshold, and finds the same
  threshold and edge counts.
- SNF: both fit on all patients. snfpy computes the same affinity matrices but follows the
  authors' MATLAB release in its normalisations (row sums, `+ I` each iteration), while
  graphfuse follows SNFtool's equation-2 normalisation (checked against a dense
  implementation of the paper's equations in `tests/graphs/test_snf.py`); hence the
  overlap below 1.
"""


def machine() -> str:
    import numpy as np
    import torch

    try:
        import faiss

        faiss_version = faiss.__version__
    except ImportError:
        faiss_version = "not installed"
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, "
        f"torch {torch.__version__}, numpy {np.__version__}, faiss-cpu {faiss_version}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--million", action="store_true", help="approximate kNN of 1M patients")
    parser.add_argument("--snfpy-5k", action="store_true", help="also time snfpy at 5,000")
    parser.add_argument(
        "--libraries", action="store_true", help="compare ANN libraries at 100,000 patients"
    )
    parser.add_argument("--only", choices=["knn", "threshold", "snf", "libraries"], nargs="+")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        spec = json.loads(args.child)
        print(json.dumps(CHILDREN[spec["task"]](*spec["args"])), flush=True)
        return
    only = set(args.only or ["knn", "threshold", "snf"] + (["libraries"] if args.libraries else []))
    started = time.perf_counter()
    load_before = os.getloadavg()
    sections = []
    knn_rows: list[dict[str, Any]] = []
    snf_rows: list[dict[str, Any]] = []
    if "knn" in only:
        table, knn_rows = knn_section(args.million)
        sections.append(("kNN graph, k = 10, 200 features, all patients fitted", table))
    if "threshold" in only:
        table, _ = threshold_section()
        sections.append(
            (
                "Threshold graph (MOGONET's rule), k = 9 (adj_parameter 10), 80 % training; "
                f"dense run capped at {DENSE_CAP_GB:.0f} GB of address space",
                table,
            )
        )
    if "libraries" in only:
        table, _ = library_section()
        sections.append(("Choosing the ANN library: 10-NN graph of 100,000 patients", table))
    if "snf" in only:
        table, snf_rows = snf_section(args.snfpy_5k)
        sections.append(("SNF, 2 modalities (200 + 100 features), K = 20, mu = 0.5, t = 20", table))
    minutes = (time.perf_counter() - started) / 60
    load_after = os.getloadavg()
    command = "python benchmarks/graphs.py" + (" --million" if args.million else "")
    command += " --snfpy-5k" if args.snfpy_5k else ""
    command += " --libraries" if args.libraries else ""
    command += f" --only {' '.join(sorted(only))}" if args.only else ""
    text = [
        "# Patient-similarity graph builders at scale",
        "",
        f"`{command}` — {minutes:.1f} min on {machine()}. Load average "
        f"{load_before[0]:.1f} at the start, {load_after[0]:.1f} at the end (the machine is "
        "shared: wall times on a busy machine run long; CPU seconds are steadier).",
        "",
    ]
    sections.insert(0, ("Goals", goals(knn_rows, snf_rows)))
    for title, table in sections:
        text += [f"## {title}", "", table, ""]
        print(f"\n{title}\n{table}")
    text += [NOTES]
    results = Path(__file__).parent / "results"
    results.mkdir(exist_ok=True)
    name = "graphs.md" if not args.only else f"graphs_{'_'.join(sorted(only))}.md"
    (results / name).write_text("\n".join(text))


if __name__ == "__main__":
    main()
