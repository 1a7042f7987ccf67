"""Tables as a notebook shows them: a DataFrame rendered as HTML, numbers formatted once.

`show` formats every column in one place (accuracies to four decimals, counts with thousands
separators), hides the index, and can shade the best row and colour a verdict column, so that
every table of the series reads the same on GitHub, in JupyterLab and in nbconvert's HTML.
"""

from __future__ import annotations

import numbers

import pandas as pd
from IPython.display import display

_GOOD = ("yes", "true", "beats", "better", "met", "pass")


def _format_for(series: pd.Series) -> str | None:
    if pd.api.types.is_bool_dtype(series):
        return None
    if pd.api.types.is_integer_dtype(series):
        return "{:,}"
    if pd.api.types.is_float_dtype(series):
        return "{:.4f}"
    return None


def style(df: pd.DataFrame, *, formats: dict | None = None, best: str | None = None, lowest: bool = False,
          verdict: str | None = None, caption: str | None = None):
    """A `Styler` for `df`: formatted numbers, no index, optional best row and verdict colours.

    `formats` maps a column to a format string or function and overrides the defaults (``{:.4f}``
    for floats, ``{:,}`` for integers). `best` names the column whose highest (or, with
    ``lowest=True``, lowest) value marks the row to shade; `verdict` names a column whose cells are
    coloured green when they say yes/met/better and amber otherwise.
    """
    chosen = {column: fmt for column in df.columns if (fmt := _format_for(df[column])) is not None}
    chosen.update(formats or {})
    styler = df.style.format({k: v for k, v in chosen.items() if k in df.columns}, na_rep="–").hide(axis="index")
    if best is not None and len(df):
        values = pd.to_numeric(df[best], errors="coerce")
        mark = values.idxmin() if lowest else values.idxmax()
        styler = styler.apply(lambda row: ["font-weight: bold; background-color: #e8f0fe"
                                           if row.name == mark else "" for _ in row], axis=1)
    if verdict is not None:
        def colour(value):
            text = str(value).strip().lower()
            good = isinstance(value, (bool, numbers.Integral)) and bool(value) or text.startswith(_GOOD)
            return "color: #137333; font-weight: bold" if good else "color: #b06000; font-weight: bold"
        styler = styler.map(colour, subset=[verdict])
    if caption:
        styler = styler.set_caption(caption)
    return styler.set_table_styles([{"selector": "th", "props": "text-align: left"},
                                    {"selector": "td", "props": "text-align: right; padding: 2px 8px"}])


def show(df: pd.DataFrame, **options) -> None:
    """Display `df` as a formatted HTML table (see `style` for the options).

    It returns nothing, so a cell ending with it shows the table once (a trailing ``;`` does not
    hide a return value when nbval executes the cell).
    """
    display(style(df, **options))
