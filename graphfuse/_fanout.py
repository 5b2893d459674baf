"""Fan-out: one picklable function over many tasks, serially or on a Dask cluster.

Serial by default; ``workers=N`` starts a ``dask.distributed.LocalCluster`` of N worker
processes with one thread each; ``scheduler="tcp://HOST:8786"`` uses a running cluster
(``dask scheduler`` / ``dask worker``, ``docs/scaling.md``). Results come back in task
order. Every task carries its own seed (:func:`task_seeds` derives them), so a task's
result does not depend on where or in which order it runs: the cluster's results equal
the serial path's. Dask is the optional extra ``graphfuse[dask]``.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from graphfuse.errors import ConfigError

__all__ = ["FanOut", "task_seeds"]

T = TypeVar("T")
R = TypeVar("R")


def task_seeds(seed: int, n: int) -> list[int]:
    """``n`` independent seeds derived from ``seed`` (``numpy.random.SeedSequence.spawn``):
    the same for a given ``seed`` and ``n`` wherever the tasks run.

    Examples
    --------
    >>> task_seeds(0, 3) == task_seeds(0, 3), len(set(task_seeds(0, 3)))
    (True, 3)
    """
    children = np.random.SeedSequence(seed).spawn(n)
    return [int(c.generate_state(1, dtype=np.uint32)[0]) for c in children]


def _call_pickled(payload: bytes, threads: int) -> Any:
    """Run one task in a worker with ``threads`` torch threads. The function and task
    travel pickled by the driver (:mod:`pickle`), so Dask's scheduler never unpickles
    them (it cannot rebuild some objects, e.g. AnnData views) and the worker gets exactly
    what the serial path would use."""
    from graphfuse._threads import torch_threads

    fn, task = pickle.loads(payload)
    with torch_threads(threads):
        return fn(task)


@dataclass(frozen=True)
class FanOut:
    """Where a fan-out runs: serially, on a local Dask cluster, or on a running one.

    Parameters
    ----------
    workers
        Start a ``LocalCluster(n_workers=workers, threads_per_worker=1)`` for the map.
    scheduler
        Address of a running Dask scheduler, e.g. ``tcp://10.0.0.5:8786``.
    threads
        Torch threads per task on a worker (default: the machine's cores divided by the
        local workers, at least 1; 1 on a remote cluster, whose workers run one task per
        thread).

    Examples
    --------
    >>> FanOut().map(abs, [-2, 3, -1])
    [2, 3, 1]
    """

    workers: int | None = None
    scheduler: str | None = None
    threads: int | None = None

    def __post_init__(self) -> None:
        if self.workers is not None and self.scheduler is not None:
            raise ConfigError(
                "--workers and --scheduler: give one (a local cluster of N workers, or a "
                "running cluster's address), not both"
            )
        if self.workers is not None and self.workers < 1:
            raise ConfigError(f"--workers: expected a number >= 1; got {self.workers}")
        if self.scheduler is not None and "://" not in self.scheduler:
            raise ConfigError(
                f"--scheduler: expected a Dask scheduler address such as "
                f"tcp://HOST:8786; got {self.scheduler!r}"
            )

    @property
    def serial(self) -> bool:
        """Whether tasks run here, one after the other."""
        return self.workers is None and self.scheduler is None

    def describe(self) -> str:
        """``serial``, ``local Dask cluster, N workers`` or ``Dask cluster at ADDRESS``."""
        if self.workers is not None:
            return f"local Dask cluster, {self.workers} workers"
        return "serial" if self.scheduler is None else f"Dask cluster at {self.scheduler}"

    def map(
        self,
        fn: Callable[[T], R],
        tasks: Sequence[T],
        *,
        on_result: Callable[[int, R], None] | None = None,
    ) -> list[R]:
        """``[fn(task) for task in tasks]``, here or on the cluster, in task order.

        Parameters
        ----------
        fn
            A picklable function (defined at a module's top level) of one task.
        tasks
            Picklable tasks, each holding everything its result depends on (its seed too).
        on_result
            Called as ``on_result(index, result)`` as each task finishes (in finishing
            order on a cluster), e.g. for a progress bar.

        Returns
        -------
        list
            One result per task, in the order of ``tasks``.

        Raises
        ------
        ConfigError
            Dask is not installed, or the scheduler cannot be reached.
        """
        tasks = list(tasks)
        if self.serial:
            out = []
            for i, task in enumerate(tasks):
                out.append(fn(task))
                if on_result is not None:
                    on_result(i, out[-1])
            return out
        with self._client() as client:
            threads = self.threads or self._default_threads()
            futures = [
                client.submit(_call_pickled, pickle.dumps((fn, task)), threads, pure=False)
                for task in tasks
            ]
            index = {f.key: i for i, f in enumerate(futures)}
            results: list[Any] = [None] * len(tasks)
            from distributed import as_completed

            for future in as_completed(futures):
                i = index[future.key]
                results[i] = future.result()
                if on_result is not None:
                    on_result(i, results[i])
            return results

    def _default_threads(self) -> int:
        if self.workers is None:
            return 1
        return max(1, (os.cpu_count() or 1) // self.workers)

    @contextmanager
    def _client(self) -> Iterator[Any]:
        distributed = _import_distributed()
        if self.scheduler is not None:
            try:
                client = distributed.Client(self.scheduler, timeout="30s")
            except (OSError, TimeoutError) as exc:
                raise ConfigError(
                    f"--scheduler {self.scheduler}: no Dask scheduler answered ({exc}); start "
                    "one with `dask scheduler` and workers with `dask worker ADDRESS` "
                    "(docs/scaling.md)"
                ) from exc
            with client:
                yield client
            return
        cluster = distributed.LocalCluster(
            n_workers=self.workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
        )
        with cluster, distributed.Client(cluster) as client:
            yield client


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError as exc:
        raise ConfigError(
            "--workers/--scheduler run tasks on Dask, which is not installed; install the "
            "extra: pip install 'graphfuse[dask]'"
        ) from exc
    return distributed
