"""Clinical tables with mixed column types -> one float ``AnnData``.

The contract with preprocessing: a clinical modality's ``X`` is float; ``var["type"]``
is one of :data:`CLINICAL_TYPES`; binary and categorical columns hold integer codes
``0..K-1`` (NaN = missing) and ``var["categories"]`` their labels joined by ``|`` in
code order. Numeric and ordinal columns with numeric values keep their values
(``var["categories"]`` is empty); an ordinal column with text values is coded
``0..K-1`` in the order its ``categories`` give.

A column is never silently re-typed: an undeclared text column is numeric when every
value parses as a number, and one that is *mostly* numeric (at least
:data:`NUMERIC_SHARE` of its values, and at least :data:`MIN_NUMERIC` of them, are
numbers) with some text cells (``"seventy"``, ``"unknown"``) is refused naming those
cells: the user lists them in ``na_values`` (read as missing) or declares the column's
type (``types: {age: categorical}`` uses every value as a category). A column whose
values are mostly text is categorical, as its numbers are then taken for levels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import anndata as ad
import numpy as np
import pandas as pd

from graphfuse.data._values import as_float32
from graphfuse.errors import DataError

__all__ = ["CLINICAL_TYPES", "encode_clinical"]

#: Column types of a clinical modality (``var["type"]``).
CLINICAL_TYPES = ("numeric", "binary", "ordinal", "categorical")

#: More levels than this in an undeclared text column is taken for free text or IDs.
MAX_LEVELS = 50

#: An undeclared column whose values are at least this share numbers (and at least
#: :data:`MIN_NUMERIC` numbers) is numeric: its text cells are refused, not one-hot encoded.
NUMERIC_SHARE = 0.5
MIN_NUMERIC = 3


def encode_clinical(
    table: pd.DataFrame,
    *,
    types: Mapping[str, str] | None = None,
    categories: Mapping[str, Sequence[str]] | None = None,
    na_values: Sequence[str] = (),
    where: str = "clinical table",
) -> ad.AnnData:
    """Encode a patients x variables table of mixed types as a float ``AnnData``.

    Parameters
    ----------
    table
        One row per patient (index = patient ID), one column per variable; missing
        values are NaN/None.
    types
        Column -> type, overriding inference. Inferred: numeric columns whose values are
        all 0/1 (and booleans) are ``binary``; other numeric columns ``numeric``; text
        columns with two levels ``binary``, with more ``categorical``. A text column
        whose values are all numbers is numeric; one that is mostly numbers (at least
        half and 3 of its values) with some text cells is an error naming them.
        ``ordinal`` is never inferred: declare it (with ``categories`` for text levels).
    categories
        Column -> its levels in code order (for ``binary``, ``ordinal`` and
        ``categorical`` columns); default: sorted levels (a pandas categorical keeps
        its own order).
    na_values
        Text cells read as missing, compared without surrounding spaces (``"n/a "``
        matches ``"n/a"``), e.g. ``["unknown", "not recorded"]``.
    where
        What is being encoded, for messages (``modality 'clinical' (clin.csv)``).

    Returns
    -------
    anndata.AnnData
        ``X`` float32; ``var["type"]``, ``var["categories"]``.

    Raises
    ------
    DataError
        Unknown column in ``types``/``categories``, unknown type, a value outside the
        declared ``categories``, text in a ``numeric`` column or text cells in an
        undeclared, mostly numeric one (naming patients and values), a binary column with
        more than two levels, or an undeclared text column with more than 50 levels.

    Examples
    --------
    >>> t = pd.DataFrame({"age": [70, 81.5], "sex": ["F", "M"], "stage": ["II", "I"]},
    ...                  index=["p1", "p2"])
    >>> a = encode_clinical(t, types={"stage": "ordinal"}, categories={"stage": ["I", "II"]})
    >>> a.var[["type", "categories"]].to_dict("list")
    {'type': ['numeric', 'binary', 'ordinal'], 'categories': ['', 'F|M', 'I|II']}
    >>> a.X.tolist()
    [[70.0, 0.0, 1.0], [81.5, 1.0, 0.0]]
    >>> age = pd.DataFrame({"age": ["61", "64", "70", "72", "75", "unknown"]})
    >>> encode_clinical(age, na_values=["unknown"]).X[:, 0].tolist()[-2:]
    [75.0, nan]
    """
    types = dict(types or {})
    if na_values:
        table = _drop_na_values(table, na_values)
    categories = {k: [str(c) for c in v] for k, v in (categories or {}).items()}
    for key, given in (("types", types), ("categories", categories)):
        unknown = [c for c in given if c not in table.columns]
        if unknown:
            raise DataError(
                f"{where}: {key} names column(s) {unknown} that the table lacks; "
                f"columns: {list(table.columns)}"
            )
    bad = {c: t for c, t in types.items() if t not in CLINICAL_TYPES}
    if bad:
        raise DataError(f"{where}: unknown column type(s) {bad}; expected one of {CLINICAL_TYPES}")
    columns, kinds, labels = [], [], []
    for col in table.columns:
        values, kind, levels = _encode_column(
            table[col], types.get(col), categories.get(col), where=where
        )
        columns.append(values)
        kinds.append(kind)
        labels.append("|".join(levels))
    x = (
        as_float32(np.column_stack(columns), table.index, table.columns, where)
        if columns
        else np.zeros((len(table), 0))
    )
    var = pd.DataFrame(
        {"type": kinds, "categories": labels}, index=pd.Index([str(c) for c in table.columns])
    )
    return ad.AnnData(X=x, obs=pd.DataFrame(index=table.index.astype(str)), var=var)


def _drop_na_values(table: pd.DataFrame, na_values: Sequence[str]) -> pd.DataFrame:
    """Text cells equal to one of ``na_values`` (ignoring surrounding spaces) -> NaN."""
    missing = {str(v).strip() for v in na_values}
    out = table.copy()
    for col in out.columns:
        s = out[col]
        if pd.api.types.is_object_dtype(s) or pd.api.types.is_string_dtype(s):
            hit = s.map(lambda v: isinstance(v, str) and v.strip() in missing)
            if hit.any():
                out[col] = s.mask(hit.astype(bool))
    return out


def decimal_comma_hint(values: pd.Series) -> str:
    """A hint when text values are numbers written with a decimal comma (``"70,5"``)."""
    text = values.dropna().astype(str).str.strip()
    text = text[text.str.contains(",", regex=False)]
    if (
        text.empty
        or pd.to_numeric(text.str.replace(",", ".", regex=False), errors="coerce").isna().any()
    ):
        return ""
    return (
        f" ({text.iloc[0]!r} looks like a number written with a decimal comma: graphfuse reads "
        "'.' as the decimal mark, so write the file with points)"
    )


def _cells(s: pd.Series, mask: pd.Series | np.ndarray, n: int = 5) -> str:
    """``patient 'p3': 'seventy', ...`` for the first ``n`` cells where ``mask``."""
    hits = s[np.asarray(mask, dtype=bool)]
    shown = ", ".join(f"patient {str(p)!r}: {v!r}" for p, v in list(hits.items())[:n])
    more = f" ... ({len(hits)} in all)" if len(hits) > n else ""
    return shown + more


def _refuse_mixed(s: pd.Series, parsed: pd.Series, declared: str | None, col: str) -> None:
    """A text column declared numeric, or mostly numbers, with text cells (or numbers
    written with a decimal comma) is an error naming the cells and the user's choices."""
    n_numbers, n_values = int(parsed.notna().sum()), int(s.notna().sum())
    commas = pd.to_numeric(
        s.astype(object).map(lambda v: v.replace(",", ".") if isinstance(v, str) else v),
        errors="coerce",
    )
    n_commas = int(commas.notna().sum())
    hint = decimal_comma_hint(s) if n_commas > n_numbers else ""
    if hint and (declared == "numeric" or n_commas >= max(MIN_NUMERIC, NUMERIC_SHARE * n_values)):
        comma = s.astype(str).str.contains(",", regex=False) & s.notna()
        raise DataError(
            f"{col}: {int(comma.sum())} value(s) with a decimal comma ({_cells(s, comma, 3)})"
            f"{hint}; or declare the column's type (types: {{{s.name}: categorical}}) if "
            "they are categories"
        )
    if declared != "numeric" and (n_numbers < MIN_NUMERIC or n_numbers < NUMERIC_SHARE * n_values):
        return  # mostly text: a categorical column whose numbers are levels
    text = s.notna() & parsed.isna()
    first = s.index[text.to_numpy()][0]
    why = (
        "but the column is declared numeric"
        if declared == "numeric"
        else f"but {n_numbers} of the column's {n_values} values are numbers"
    )
    raise DataError(
        f"{col}, patient {str(first)!r}: value {s[first]!r} is not a number, {why}; "
        f"{int(text.sum())} text cell(s): {_cells(s, text)}. Say what they are: list "
        f"them in na_values to read them as missing (e.g. na_values: "
        f"{sorted({str(v).strip() for v in s[text]})[:5]}), or declare the column's "
        f"type (types: {{{s.name}: categorical}}) to use every value as a category"
    )


def _encode_column(
    s: pd.Series, declared: str | None, levels: list[str] | None, *, where: str
) -> tuple[np.ndarray, str, list[str]]:
    col = f"{where}, column {s.name!r}"
    if pd.api.types.is_bool_dtype(s):
        s = s.astype(float)
    numeric = pd.api.types.is_numeric_dtype(s) and not isinstance(s.dtype, pd.CategoricalDtype)
    if not numeric and not isinstance(s.dtype, pd.CategoricalDtype):
        # text columns whose every value parses as a number are numeric
        parsed = pd.to_numeric(s, errors="coerce")
        if parsed.notna().sum() == s.notna().sum():
            s, numeric = parsed, True
        elif declared in (None, "numeric"):
            _refuse_mixed(s, parsed, declared, col)
    if numeric:
        x = s.to_numpy(dtype=np.float64)
        if np.isinf(x).any():
            i = int(np.flatnonzero(np.isinf(x))[0])
            raise DataError(f"{col}, patient {s.index[i]!r}: value is infinite")
        observed = set(np.unique(x[~np.isnan(x)]).tolist())
        kind = declared or ("binary" if observed and observed <= {0.0, 1.0} else "numeric")
        if kind in ("numeric", "ordinal") and levels is None:
            return x, kind, []
        # numbers treated as levels: binary / categorical codes (or ordinal with levels)
        s = s.map(lambda v: _number_label(v) if pd.notna(v) else v)
        if levels is None:
            levels = [_number_label(v) for v in sorted(observed)]
    else:
        if declared == "numeric":  # a categorical dtype declared numeric
            text = s[pd.to_numeric(s, errors="coerce").isna() & s.notna()]
            raise DataError(
                f"{col}, patient {text.index[0]!r}: value {text.iloc[0]!r} is not a number, "
                "but the column is declared numeric"
            )
        present = [str(v) for v in pd.unique(s.dropna())]
        if levels is None:
            if isinstance(s.dtype, pd.CategoricalDtype):
                levels = [str(c) for c in s.cat.categories if str(c) in set(present)]
            else:
                levels = sorted(present)
        kind = declared or ("binary" if len(levels) <= 2 else "categorical")
        if declared is None and len(levels) > MAX_LEVELS:
            first = ~s.astype(object).duplicated() & s.notna()
            raise DataError(
                f"{col}: {len(levels)} distinct text values (e.g. {_cells(s, first, 3)}), "
                "which looks like free text or an ID, not a clinical variable; leave it out "
                f"(drop: [{s.name}]) or declare its type (types: {{{s.name}: categorical}})"
            )
    piped = [label for label in levels if "|" in label]
    if piped:
        raise DataError(f"{col}: category {piped[0]!r} contains '|', which separates categories")
    if kind == "binary" and len(levels) > 2:
        raise DataError(f"{col}: declared or inferred binary but has levels {levels}")
    codes = {label: i for i, label in enumerate(levels)}
    text = s.astype(object).map(lambda v: str(v) if pd.notna(v) else None)
    outside = text.notna() & ~text.isin(list(codes))
    if outside.any():
        i = outside.to_numpy().nonzero()[0][0]
        raise DataError(
            f"{col}, patient {s.index[i]!r}: value {text.iloc[i]!r} is not one of its "
            f"categories {levels}"
        )
    x = text.map(lambda v: codes[v] if v is not None else np.nan).to_numpy(dtype=np.float64)
    return x, kind, levels


def _number_label(v: float) -> str:
    """``1.0`` -> ``"1"``, ``2.5`` -> ``"2.5"``: how a numeric level is written."""
    f = float(v)
    return str(int(f)) if f.is_integer() else repr(f)
