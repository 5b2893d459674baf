"""Benchmark torch CPU thread settings for full-batch GCN training.

This script decides graphfuse's CPU thread policy. It checks the claim that
torch's default OpenMP spin-waiting makes a small GCN much slower on a busy
machine than with ``OMP_WAIT_POLICY=PASSIVE`` (set in the environment *before*
torch is imported) or with ``torch.set_num_threads(1)``.

What it measures
----------------
Full-batch training of a 2-layer :class:`torch_geometric.nn.GCNConv` model
(200 input features, hidden 64, 2 classes, ReLU, Adam, cross-entropy on all
nodes) on a random kNN-like graph: every node gets ``k=10`` random neighbours
and every edge is stored in both directions. The figure reported is the
median wall-clock milliseconds per epoch (forward, backward, optimiser step)
over several timed repeats, after warm-up epochs.

Each measurement runs in a fresh Python subprocess, so that environment
variables are in place before torch and its bundled OpenMP runtime (libgomp
in the PyPI wheels, which reads them once, when it is loaded) are imported;
that subprocess measures all graph sizes in turn. Every (condition, setting)
is measured in ``--rounds`` interleaved rounds (the order of the settings is
reversed in every other round) and the repeats of all rounds are pooled,
because the speed of a shared virtual machine drifts over minutes. The
settings are

``default``
    torch as shipped: all cores, OpenMP's default wait policy.
``passive``
    ``OMP_WAIT_POLICY=PASSIVE`` in the environment before torch is imported.
``threads1``
    ``torch.set_num_threads(1)`` right after ``import torch``.
``passive+threads1``
    both of the above.
``spin10k``
    ``GOMP_SPINCOUNT=10000``: libgomp's shorter spin before sleeping
    (opt-in through ``--settings``).

and the conditions are

``idle``
    nothing started by this script. Other work on the machine is not under
    its control, so the CPU time used by other processes during each timing
    is measured (from ``/proc/stat``) and reported in cores; an idle timing
    disturbed by more than ``--idle-noise`` cores is measured once more and
    the quieter run is kept.
``busy``
    one competing CPU-bound process, a Python ``while True: pass`` loop.
``torch``
    one competing torch process doing 256x256 matmuls in a loop with torch's
    default threading, i.e. a second torch job on the same machine.
``busy+torch``
    both of the above (opt-in through ``--conditions``).

Background load processes are always killed, also on errors, Ctrl-C and
SIGTERM. OpenMP-related variables (``OMP_*``, ``GOMP_*``, ``KMP_*``,
``MKL_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``) inherited from the caller are
removed from the environment of every process started here, so that each
setting is what its name says.

How to run
----------
From the repository root, with the project's virtual environment active::

    python benchmarks/threads.py            # N in {350, 5000, 50000}, ~6 min
    python benchmarks/threads.py --quick    # N = 350 only, ~2 min
    python benchmarks/threads.py --sizes 1000 2000 --conditions idle busy

The markdown table (N, condition, setting, ms/epoch, ratio to the best
setting for that N and condition) is printed and written to
``benchmarks/results/threads.md`` (see ``--output``). The script does not
import graphfuse.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"

# name -> (environment variables set before torch is imported, torch.set_num_threads value)
SETTINGS: dict[str, tuple[dict[str, str], int | None]] = {
    "default": ({}, None),
    "passive": ({"OMP_WAIT_POLICY": "PASSIVE"}, None),
    "threads1": ({}, 1),
    "passive+threads1": ({"OMP_WAIT_POLICY": "PASSIVE"}, 1),
    # Opt-in: libgomp's own knob, a short spin (default is 300000 spins) before sleeping.
    "spin10k": ({"GOMP_SPINCOUNT": "10000"}, None),
}
DEFAULT_SETTINGS = ("default", "passive", "threads1", "passive+threads1")
CONDITIONS = ("idle", "busy", "torch", "busy+torch")
DEFAULT_CONDITIONS = ("idle", "busy", "torch")

# Epochs per timed repeat; a repeat is cut short once it exceeds its time share.
EPOCHS: dict[int, int] = {350: 200, 5000: 40, 50000: 5}
WARMUP: dict[int, int] = {350: 20, 5000: 3, 50000: 1}
# Seconds of timed epochs per measurement, all repeats together.
BUDGET_S: dict[int, float] = {350: 2.5, 5000: 4.0, 50000: 6.0}

_STRIP_ENV_PREFIXES = ("OMP_", "GOMP_", "KMP_")
_STRIP_ENV_NAMES = ("MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")

_SPIN_CODE = "while True:\n    pass\n"
_TORCH_LOAD_CODE = (
    "import torch\na = torch.randn(256, 256)\nprint('ready', flush=True)\nwhile True:\n    a @ a\n"
)


# --------------------------------------------------------------------------- helpers


def _cpu_busy_s() -> float | None:
    """CPU seconds spent busy by the whole machine since boot (``/proc/stat``)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return None
    # user nice system idle iowait irq softirq steal ...
    ticks = [int(v) for v in fields]
    busy = ticks[0] + ticks[1] + ticks[2] + ticks[5] + ticks[6] + ticks[7]
    return busy / os.sysconf("SC_CLK_TCK")


def _loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def _clean_env() -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(_STRIP_ENV_PREFIXES) and key not in _STRIP_ENV_NAMES
    }
    env["PYTHONUNBUFFERED"] = "1"
    return env


# --------------------------------------------------------------------------- worker


def _worker(
    sizes: Sequence[int],
    repeats: int,
    threads: int | None,
    budget_scale: float = 1.0,
    k: int = 10,
    n_features: int = 200,
    seed: int = 0,
) -> list[dict[str, object]]:
    """Time GCN training for each size in this process and return the results.

    Runs in a fresh subprocess; torch is imported here, after the parent has
    prepared the environment.
    """
    import torch
    import torch.nn.functional as F
    from torch_geometric.nn import GCNConv
    from torch_geometric.utils import to_undirected

    if threads is not None:
        torch.set_num_threads(threads)

    class GCN(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = GCNConv(n_features, 64)
            self.conv2 = GCNConv(64, 2)

        def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
            h = F.relu(self.conv1(x, edge_index))
            return self.conv2(h, edge_index)

    def train_epoch(
        model: GCN,
        opt: torch.optim.Optimizer,
        x: torch.Tensor,
        edge_index: torch.Tensor,
        y: torch.Tensor,
    ) -> None:
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x, edge_index), y)
        loss.backward()
        opt.step()

    out = []
    for n_nodes in sizes:
        gen = torch.Generator().manual_seed(seed)
        src = torch.arange(n_nodes).repeat_interleave(k)
        # k random neighbours per node, never the node itself.
        offset = torch.randint(1, n_nodes, (n_nodes * k,), generator=gen)
        dst = (src + offset) % n_nodes
        edge_index = to_undirected(torch.stack([src, dst]), num_nodes=n_nodes)
        x = torch.randn(n_nodes, n_features, generator=gen)
        y = torch.randint(0, 2, (n_nodes,), generator=gen)

        torch.manual_seed(seed)
        model = GCN()
        opt = torch.optim.Adam(model.parameters(), lr=0.01)

        state = (model, opt, x, edge_index, y)
        for _ in range(WARMUP.get(n_nodes, 2)):
            train_epoch(*state)

        epochs = EPOCHS.get(n_nodes, 10)
        budget_s = BUDGET_S.get(n_nodes, 4.0) * budget_scale
        per_repeat_s = budget_s / repeats
        ms_per_epoch: list[float] = []
        epochs_done: list[int] = []
        busy0, cpu0, wall0 = _cpu_busy_s(), time.process_time(), time.perf_counter()
        for _ in range(repeats):
            t0 = time.perf_counter()
            done = 0
            while done < epochs:
                train_epoch(*state)
                done += 1
                if time.perf_counter() - t0 > per_repeat_s:
                    break
            ms_per_epoch.append((time.perf_counter() - t0) * 1e3 / done)
            epochs_done.append(done)
            # Very slow cases: stop after 2 repeats once twice the budget is spent.
            if len(ms_per_epoch) >= 2 and time.perf_counter() - wall0 > 2 * budget_s:
                break
        busy1, cpu1, wall1 = _cpu_busy_s(), time.process_time(), time.perf_counter()
        other_cores = None
        if busy0 is not None and busy1 is not None:
            other_cores = max(0.0, (busy1 - busy0) - (cpu1 - cpu0)) / (wall1 - wall0)
        out.append(
            {
                "n_nodes": n_nodes,
                "n_edges": int(edge_index.size(1)),
                "torch_threads": torch.get_num_threads(),
                "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
                "ms_per_epoch": ms_per_epoch,
                "epochs_done": epochs_done,
                "own_cores": (cpu1 - cpu0) / (wall1 - wall0),
                "other_cores": other_cores,
            }
        )
    return out


# --------------------------------------------------------------------------- parent


@dataclass
class Result:
    """One (N, condition, setting) measurement."""

    n_nodes: int
    condition: str
    setting: str
    ms_per_epoch: list[float] = field(default_factory=list)
    epochs_done: list[int] = field(default_factory=list)
    torch_threads: int | None = None
    own_cores: float = float("nan")
    other_cores: float = float("nan")
    error: str | None = None

    def merge(self, other: Result) -> Result:
        """Pool the repeats of two rounds of the same measurement."""
        if self.error is not None or other.error is not None:
            return self if other.error is not None else other
        n_self, n_other = len(self.ms_per_epoch), len(other.ms_per_epoch)
        total = n_self + n_other

        def mean(a: float, b: float) -> float:
            return (a * n_self + b * n_other) / total

        return Result(
            n_nodes=self.n_nodes,
            condition=self.condition,
            setting=self.setting,
            ms_per_epoch=self.ms_per_epoch + other.ms_per_epoch,
            epochs_done=self.epochs_done + other.epochs_done,
            torch_threads=self.torch_threads,
            own_cores=mean(self.own_cores, other.own_cores),
            other_cores=mean(self.other_cores, other.other_cores),
        )

    @property
    def median(self) -> float:
        """Median ms/epoch over repeats (``nan`` if the run failed)."""
        return statistics.median(self.ms_per_epoch) if self.ms_per_epoch else float("nan")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def background_load(condition: str) -> Iterator[list[int]]:
    """Start the competing processes for ``condition``; always kill them on exit."""
    procs: list[subprocess.Popen[bytes]] = []
    try:
        if condition in ("busy", "busy+torch"):
            procs.append(subprocess.Popen([sys.executable, "-c", _SPIN_CODE], env=_clean_env()))
        if condition in ("torch", "busy+torch"):
            torch_proc = subprocess.Popen(
                [sys.executable, "-c", _TORCH_LOAD_CODE],
                stdout=subprocess.PIPE,
                env=_clean_env(),
            )
            procs.append(torch_proc)
            assert torch_proc.stdout is not None
            torch_proc.stdout.readline()  # wait until torch is imported and looping
        if procs:
            time.sleep(1.0)  # let the scheduler settle
        yield [p.pid for p in procs]
    finally:
        for proc in procs:
            _stop(proc)


def run_setting(
    sizes: Sequence[int],
    condition: str,
    setting: str,
    repeats: int,
    budget_scale: float,
    timeout_s: float,
) -> list[Result]:
    """Measure one setting for all sizes in a fresh subprocess."""
    extra_env, threads = SETTINGS[setting]
    env = _clean_env() | extra_env
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        "--sizes",
        *map(str, sizes),
        "--repeats",
        str(repeats),
        "--budget-scale",
        str(budget_scale),
    ]
    if threads is not None:
        cmd += ["--worker-threads", str(threads)]
    try:
        proc = subprocess.run(
            cmd, env=env, capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except subprocess.TimeoutExpired:
        return [Result(n, condition, setting, error=f"timeout ({timeout_s:.0f} s)") for n in sizes]
    if proc.returncode != 0:
        err = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed"
        return [Result(n, condition, setting, error=err) for n in sizes]
    results = []
    for data in json.loads(proc.stdout.strip().splitlines()[-1]):
        other = data["other_cores"]
        results.append(
            Result(
                n_nodes=data["n_nodes"],
                condition=condition,
                setting=setting,
                ms_per_epoch=data["ms_per_epoch"],
                epochs_done=data["epochs_done"],
                torch_threads=data["torch_threads"],
                own_cores=data["own_cores"],
                other_cores=float("nan") if other is None else other,
            )
        )
    return results


def format_table(results: Sequence[Result]) -> str:
    """Render results as a markdown table with ratios to the best setting."""
    best: dict[tuple[int, str], float] = {}
    for r in results:
        if r.error is None:
            key = (r.n_nodes, r.condition)
            best[key] = min(best.get(key, float("inf")), r.median)
    lines = [
        "| N | condition | setting | threads | ms/epoch (median) | min–max | ratio to best "
        "| CPU used (cores) | other load (cores) |",
        "|---:|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in sorted(results, key=lambda r: (r.n_nodes, CONDITIONS.index(r.condition))):
        if r.error is not None:
            lines.append(f"| {r.n_nodes} | {r.condition} | {r.setting} | | {r.error} | | | | |")
            continue
        ratio = r.median / best[(r.n_nodes, r.condition)]
        spread = f"{min(r.ms_per_epoch):.2f}–{max(r.ms_per_epoch):.2f}"
        lines.append(
            f"| {r.n_nodes} | {r.condition} | {r.setting} | {r.torch_threads} "
            f"| {r.median:.2f} | {spread} | **{ratio:.2f}** | {r.own_cores:.2f} "
            f"| {r.other_cores:.2f} |"
        )
    return "\n".join(lines)


def format_summary(results: Sequence[Result]) -> str:
    """Summarise default-vs-best and loaded-vs-idle slowdowns per N."""
    by_key = {(r.n_nodes, r.condition, r.setting): r for r in results if r.error is None}
    lines = []
    for n in sorted({r.n_nodes for r in results}):
        for cond in CONDITIONS:
            default = by_key.get((n, cond, "default"))
            others = [by_key.get((n, cond, s)) for s in SETTINGS if s != "default"]
            others_ok = [o for o in others if o is not None]
            if default is None or not others_ok:
                continue
            best = min(others_ok, key=lambda r: r.median)
            note = ""
            idle = by_key.get((n, "idle", "default"))
            if cond != "idle" and idle is not None:
                note = f"; default under load is {default.median / idle.median:.1f}x idle default"
            lines.append(
                f"- N={n}, {cond}: default {default.median:.2f} ms/epoch, best other setting "
                f"({best.setting}) {best.median:.2f} ms/epoch: default is "
                f"{default.median / best.median:.2f}x{note}"
            )
    return "\n".join(lines)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _machine_info() -> str:
    import importlib.metadata as md

    def version(pkg: str) -> str:
        try:
            return md.version(pkg)
        except md.PackageNotFoundError:
            return "not installed"

    return (
        f"- python {platform.python_version()}, torch {version('torch')}, "
        f"torch-geometric {version('torch_geometric')}\n"
        f"- {platform.platform()}, os.cpu_count()={os.cpu_count()}, "
        f"usable CPUs={len(os.sched_getaffinity(0))}, processor: {_cpu_model()}"
    )


def _sigterm_to_exit(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse command-line arguments."""
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="only N=350")
    p.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=None,
        help="node counts (default: 350 5000 50000; with --quick: 350)",
    )
    p.add_argument(
        "--conditions",
        nargs="+",
        choices=CONDITIONS,
        default=list(DEFAULT_CONDITIONS),
        help="machine conditions (default: %(default)s)",
    )
    p.add_argument(
        "--settings",
        nargs="+",
        choices=list(SETTINGS),
        default=list(DEFAULT_SETTINGS),
        help="thread settings (default: %(default)s; spin10k = GOMP_SPINCOUNT=10000)",
    )
    p.add_argument("--repeats", type=int, default=3, help="timed repeats per measurement and round")
    p.add_argument(
        "--rounds",
        type=int,
        default=2,
        help="measure every (condition, setting) this many times, interleaved; the repeats "
        "of all rounds are pooled (default: %(default)s)",
    )
    p.add_argument(
        "--budget-scale",
        type=float,
        default=1.0,
        help="scale the seconds of timed epochs per measurement, all rounds together "
        f"(1.0 = {', '.join(f'{v:g} s for N={n}' for n, v in BUDGET_S.items())})",
    )
    p.add_argument(
        "--idle-noise",
        type=float,
        default=0.3,
        help="re-measure an idle setting once if other processes used more than this many "
        "cores meanwhile (default: %(default)s)",
    )
    p.add_argument(
        "--timeout", type=float, default=180.0, help="kill a measurement subprocess after this"
    )
    p.add_argument(
        "--output",
        type=Path,
        default=RESULTS_DIR / "threads.md",
        help="markdown file to write (default: benchmarks/results/threads.md)",
    )
    # Internal: measure in this process (used by the parent for each setting).
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--worker-threads", type=int, default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark (or, with ``--worker``, the measurements of one setting)."""
    args = parse_args(argv)
    sizes = args.sizes or ([350] if args.quick else [350, 5000, 50000])
    if args.worker:
        out = _worker(sizes, args.repeats, args.worker_threads, args.budget_scale)
        print(json.dumps(out))
        return 0

    signal.signal(signal.SIGTERM, _sigterm_to_exit)
    t_start = time.perf_counter()
    load_at_start = _loadavg()
    # Each round measures every (condition, setting) once, each with a 1/rounds share of
    # the time budget; later rounds reverse the order of the settings so that slow
    # drifts of the machine's speed do not favour one setting.
    scale = args.budget_scale / args.rounds
    merged: dict[tuple[int, str, str], Result] = {}
    retried = 0
    for round_no in range(args.rounds):
        settings = args.settings if round_no % 2 == 0 else args.settings[::-1]
        for condition in args.conditions:
            with background_load(condition) as pids:
                print(
                    f"== round {round_no + 1}/{args.rounds}, condition {condition} "
                    f"(background pids {pids})",
                    file=sys.stderr,
                )
                for setting in settings:
                    rs = run_setting(sizes, condition, setting, args.repeats, scale, args.timeout)
                    noisy = [
                        r.n_nodes for r in rs if r.error is None and r.other_cores > args.idle_noise
                    ]
                    if condition == "idle" and noisy:
                        retried += len(noisy)
                        again = run_setting(
                            noisy, condition, setting, args.repeats, scale, args.timeout
                        )
                        quieter = {a.n_nodes: a for a in again if a.error is None}
                        rs = [
                            quieter[r.n_nodes]
                            if r.n_nodes in quieter
                            and quieter[r.n_nodes].other_cores < r.other_cores
                            else r
                            for r in rs
                        ]
                    for r in rs:
                        msg = r.error or (
                            f"{r.median:8.2f} ms/epoch  own {r.own_cores:.2f} cores, "
                            f"other {r.other_cores:.2f} cores, epochs/repeat {r.epochs_done}"
                        )
                        print(f"   N={r.n_nodes:>6} {setting:<17} {msg}", file=sys.stderr)
                        key = (r.n_nodes, r.condition, r.setting)
                        merged[key] = merged[key].merge(r) if key in merged else r
    results = list(merged.values())
    elapsed = time.perf_counter() - t_start

    command = "python benchmarks/threads.py " + " ".join(argv if argv is not None else sys.argv[1:])
    report = (
        "# GCN training on CPU: thread settings\n\n"
        f"Command: `{command.strip()}`\n\n"
        f"{_machine_info()}\n"
        f"- load average at start: {load_at_start}; total runtime {elapsed:.0f} s; "
        f"idle measurements re-taken because of outside load: {retried}\n"
        "- 2-layer GCNConv (200 -> 64 -> 2), Adam, full batch, kNN-like graph "
        f"(k=10 random neighbours, both directions); median of {args.rounds} interleaved "
        f"rounds x {args.repeats} timed repeats after warm-up; each (condition, setting, "
        "round) in a fresh subprocess\n"
        "- conditions: busy = one `while True: pass` process; torch = one torch process "
        "doing 256x256 matmuls with default threads; busy+torch = both\n"
        "- CPU used = this measurement's CPU time / wall time; other load = CPU used by all "
        "other processes meanwhile (includes the background load), from /proc/stat\n\n"
        f"{format_table(results)}\n\n"
        "## Summary\n\n"
        f"{format_summary(results)}\n"
    )
    print(report)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(report)
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
