"""fmnist.learn.tables: formatted HTML tables for the notebooks."""

import pandas as pd

from fmnist.learn import tables


def frame():
    return pd.DataFrame({"model": ["a", "b"], "params": [1234567, 89], "accuracy": [0.912345, 0.30000000000000004],
                         "beats baseline": ["yes", "no"]})


def test_numbers_are_formatted_once():
    html = tables.style(frame()).to_html()
    assert "1,234,567" in html and "0.9123" in html and "0.3000" in html
    assert "0.30000000000000004" not in html


def test_best_row_and_verdict_are_styled():
    html = tables.style(frame(), best="accuracy", verdict="beats baseline").to_html()
    assert "#e8f0fe" in html and "#137333" in html and "#b06000" in html


def test_formats_override_the_defaults():
    html = tables.style(frame(), formats={"accuracy": "{:.1%}"}).to_html()
    assert "91.2%" in html
