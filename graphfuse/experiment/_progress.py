"""Progress of long work (explain, benchmark, cross-validation, tuning): one small protocol.

A progress callback is any callable ``callback(stage, done, total, info)``:

``stage``
    What is counted, e.g. ``"explain"``, ``"fold"``, ``"trial"``, ``"enrichment"``.
``done``, ``total``
    Steps finished so far and steps in the stage. A stage is announced once with
    ``done=0`` before its first step, then reported after every step (``done`` =
    1, 2, …, ``total``); a stage cut short (a tuning timeout) may end below ``total``.
``info``
    A small ``dict`` about the step just finished or starting: ``{"method": "shap"}``,
    ``{"seed": 0, "fold": 2, "test_roc_auc": 0.91}``, ``{"best": 0.93}``.

The functions that do long work take ``progress=False`` (nothing), ``True`` (a rich
progress bar on standard error, :class:`RichProgress`) or such a callable, e.g. to feed a
notebook widget or a log::

    steps = []
    cross_validate(cfg, folds=3, progress=lambda *step: steps.append(step))
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["ProgressCallback", "ProgressSetting", "RichProgress", "reporting"]

#: ``callback(stage, done, total, info)``: see the module's documentation.
ProgressCallback = Callable[[str, int, int, Mapping[str, Any]], None]
#: What ``progress=`` takes: ``False``/``None`` (off), ``True`` (a rich bar) or a callback.
ProgressSetting = bool | ProgressCallback | None


class RichProgress:
    """A progress callback that draws one rich bar per stage (the style of ``fit``'s bar).

    Parameters
    ----------
    console
        Where to draw (default: a console on standard error). A console that is not a
        terminal shows the bars once, as they end.

    Examples
    --------
    >>> import io
    >>> from rich.console import Console
    >>> console = Console(file=io.StringIO(), width=80)
    >>> with RichProgress(console) as bar:
    ...     for fold in range(3):
    ...         bar("fold", fold + 1, 3, {"fold": fold})
    >>> "fold" in console.file.getvalue() and "3/3" in console.file.getvalue()
    True
    """

    def __init__(self, console: Console | None = None) -> None:
        self.console = console
        self._bar: Any = None
        self._tasks: dict[str, Any] = {}

    def __call__(
        self, stage: str, done: int, total: int, info: Mapping[str, Any] | None = None
    ) -> None:
        if self._bar is None:
            self._start()
        task = self._tasks.get(stage)
        if task is None:
            task = self._tasks[stage] = self._bar.add_task(stage, total=total, info="")
        self._bar.update(task, completed=done, total=total, info=describe(info or {}))

    def _start(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self._bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[info]}"),
            console=self.console if self.console is not None else Console(stderr=True),
        )
        self._bar.start()

    def close(self) -> None:
        """Stop drawing (the bars stay on screen)."""
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
            self._tasks = {}

    def __enter__(self) -> RichProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def describe(info: Mapping[str, Any]) -> str:
    """``info`` as the bar shows it: ``"method shap  best 0.912"``.

    >>> describe({"method": "shap", "best": 0.91234, "skip": None})
    'method shap  best 0.912'
    """
    parts = []
    for key, value in info.items():
        if value is None:
            continue
        if isinstance(value, float):
            value = "nan" if math.isnan(value) else f"{value:.3g}"
        parts.append(f"{key} {value}")
    return "  ".join(parts)


@contextmanager
def reporting(progress: ProgressSetting) -> Iterator[ProgressCallback | None]:
    """The callback for a ``progress=`` argument, for the length of the work.

    ``False``/``None``: ``None`` (report nothing); ``True``: a :class:`RichProgress`,
    closed at the end; a callable: itself.

    Raises
    ------
    TypeError
        ``progress`` is none of these.
    """
    if progress is None or progress is False:
        yield None
    elif progress is True:
        with RichProgress() as bar:
            yield bar
    elif callable(progress):
        yield progress
    else:
        raise TypeError(
            f"progress must be True, False or a callable (stage, done, total, info); got "
            f"{type(progress).__name__}"
        )
