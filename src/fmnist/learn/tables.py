"""Tables as a notebook shows them: a DataFrame rendered as HTML, numbers formatted once.

`show` formats every column in one place (accuracies to four decimals, counts with thousands
separators), hides the index, and can mark the best row and a verdict column, so that every table
of the series reads the same on GitHub, in JupyterLab and in nbconvert's HTML. GitHub drops a
notebook's CSS, so no mark is a colour alone: the best value says "(best)" and every verdict starts
with ✓ or ✗ ("✓ kept", "✗ rolled back"), the colours coming on top where CSS is shown.
"""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd
from IPython.display import display

_GOOD = ("yes", "true", "beats", "better", "met", "pass", "kept", "✓")
MARKS = ("✓", "✗")  # a good verdict, any other


def _good(value) -> bool:
    text = str(value).strip().lower()
    return isinstance(value, (bool, numbers.Integral)) and bool(value) or text.startswith(_GOOD)


def verdict_text(value) -> str:
    """A verdict as it reads without colour: "✓ kept", "✗ rolled back", "✓ yes" for True, "✗ no" for False."""
    text = ("yes" if value else "no") if isinstance(value, (bool, np.bool_)) else str(value).strip()
    if text.startswith(MARKS):
        return text
    return f"{MARKS[0] if _good(value) else MARKS[1]} {text}"


def _formatted(fmt, value) -> str:
    if fmt is None:
        return str(value)
    return fmt.format(value) if isinstance(fmt, str) else fmt(value)


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
    ``lowest=True``, lowest) value marks its row: the value says "(best)" and the row is shaded.
    `verdict` names a column whose cells start with ✓ when they say yes/kept/met/better and with ✗
    otherwise (`verdict_text`), and are coloured green or amber.
    """
    chosen = {column: fmt for column in df.columns if (fmt := _format_for(df[column])) is not None}
    chosen.update(formats or {})
    styler = df.style.format({k: v for k, v in chosen.items() if k in df.columns}, na_rep="–").hide(axis="index")
    if best is not None and len(df):
        values = pd.to_numeric(df[best], errors="coerce")
        mark = values.idxmin() if lowest else values.idxmax()
        styler = styler.format(lambda value: f"{_formatted(chosen.get(best), value)} (best)",
                               subset=pd.IndexSlice[[mark], [best]])
        styler = styler.apply(lambda row: ["font-weight: bold; background-color: #e8f0fe"
                                           if row.name == mark else "" for _ in row], axis=1)
    if verdict is not None:
        def colour(value):
            return "color: #137333; font-weight: bold" if _good(value) else "color: #b06000; font-weight: bold"
        styler = styler.format(verdict_text, subset=[verdict]).map(colour, subset=[verdict])
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
