"""Summary tables that fit the console: full headers where they fit, else short ones and a
legend, never a header cut to ``val_ro…``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

__all__ = ["print_table"]

#: Columns between two columns of a compact table (padding, divider).
_GAP = 2


def print_table(
    console: Console,
    title: str,
    columns: Sequence[tuple[str, str]],
    rows: Sequence[Sequence[str]],
    *,
    short: Mapping[str, str] | None = None,
    styles: Sequence[str | None] | None = None,
    wrap: str | None = None,
    meaning: Mapping[str, str] | None = None,
) -> None:
    """Print ``rows`` under ``columns`` in a compact table no wider than ``console``.

    Where the full headers make the table too wide, the headers wider than their values
    are shortened (those in ``short`` first, then by :func:`abbreviate`, the one that
    saves most first) until it fits; a legend line below says what each short header means.
    Values are never cut.

    Parameters
    ----------
    console
        Where to print; its width is the limit.
    title
        The table's title (left-aligned above it).
    columns
        ``(header, justify)`` per column, ``justify`` ``"left"`` or ``"right"``.
    rows
        The cells, as text.
    short
        Preferred short headers, e.g. ``{"val_roc_auc": "val"}``.
    styles
        A rich style per row (``None``: plain).
    wrap
        A column whose cells may wrap onto several lines (a list of names): it takes the
        width the others leave.
    meaning
        What a header stands for, shown in the legend, e.g. ``{"lr": "train.lr"}``
        (a shortened header without one: its full name).

    Examples
    --------
    >>> import io
    >>> from rich.console import Console
    >>> console = Console(file=io.StringIO(), width=20)
    >>> print_table(console, "t", [("balanced_accuracy", "right"), ("roc_auc", "right")],
    ...             [["0.812", "0.9"]])
    >>> for line in console.file.getvalue().splitlines():
    ...     print(line.rstrip())
    t
    bal_acc  roc_auc
    ────────────────
      0.812      0.9
    bal_acc =
    balanced_accuracy
    """
    names = [name for name, _ in columns]
    sized = [["" if names[i] == wrap else c for i, c in enumerate(r)] for r in rows]
    headers = shorten(names, sized, width=console.width, short=short or {})
    table = _compact(title)
    for (name, justify), header, cells_width in zip(
        columns, headers, _value_widths(columns, sized), strict=True
    ):
        table.add_column(
            header,
            justify=justify,  # type: ignore[arg-type]
            no_wrap=name != wrap,
            min_width=max(len(header), cells_width),
        )
    for i, row in enumerate(rows):
        table.add_row(*row, style=styles[i] if styles is not None else None)
    console.print(table)
    meaning = meaning or {}
    legend = [
        f"{h} = {meaning.get(name, name)}"
        for (name, _), h in zip(columns, headers, strict=True)
        if h != name or name in meaning
    ]
    if legend:
        console.print("; ".join(legend))


def shorten(
    names: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    width: int,
    short: Mapping[str, str] | None = None,
) -> list[str]:
    """Headers for ``names``: the names themselves where the table fits in ``width``, else
    distinct short forms of those that are wider than their column's values.

    >>> shorten(["balanced_accuracy", "f1"], [["0.8", "0.7"]], width=12)
    ['bal_acc', 'f1']
    >>> shorten(["balanced_accuracy", "f1"], [["0.8", "0.7"]], width=80)
    ['balanced_accuracy', 'f1']
    """
    short = dict(short or {})
    values = [max((len(r[i]) for r in rows), default=0) for i in range(len(names))]
    headers = list(names)

    def total() -> int:
        cells = (max(len(h), v) for h, v in zip(headers, values, strict=True))
        return sum(cells) + _GAP * (len(headers) - 1)

    while total() > width:
        savings = []
        for i, name in enumerate(names):
            if headers[i] != name:
                continue
            candidate = short.get(name) or abbreviate(name)
            used = set(headers[:i] + headers[i + 1 :])
            candidate = _distinct(candidate, used)
            saved = max(len(name), values[i]) - max(len(candidate), values[i])
            if saved > 0:
                savings.append((name in short, saved, i, candidate))
        if not savings:
            break
        *_, i, candidate = max(savings)
        headers[i] = candidate
    return headers


def abbreviate(name: str) -> str:
    """Each word of ``name`` (split at ``_``, ``.`` and spaces) cut to three letters.

    >>> abbreviate("balanced_accuracy"), abbreviate("model.dropout"), abbreviate("go_bp")
    ('bal_acc', 'mod.dro', 'go_bp')
    """
    out, word = [], ""
    for char in name:
        if char in "_. ":
            out.append(word[:3] + char)
            word = ""
        else:
            word += char
    return "".join(out) + word[:3]


def _distinct(candidate: str, used: set[str]) -> str:
    if candidate not in used:
        return candidate
    n = 2
    while f"{candidate}{n}" in used:
        n += 1
    return f"{candidate}{n}"


def _value_widths(columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[str]]) -> list[int]:
    return [max((len(r[i]) for r in rows), default=0) for i in range(len(columns))]


def _compact(title: str) -> Table:
    from rich import box
    from rich.table import Table

    return Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
    )
