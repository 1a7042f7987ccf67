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


def without_css(html: str) -> str:
    """What GitHub shows of a notebook's HTML table: the text, with no style sheet or style attribute."""
    import re

    return " ".join(re.sub(r"<[^>]+>", " ", html.split("</style>")[-1]).split())


def test_the_best_row_and_the_verdicts_read_without_colour():
    """GitHub drops a notebook's CSS: a verdict or a best row marked by colour alone was lost there."""
    text = without_css(tables.style(frame(), best="accuracy", verdict="beats baseline").to_html())
    assert "0.9123 (best)" in text and "0.3000 (best)" not in text
    assert "✓ yes" in text and "✗ no" in text


def test_verdicts_in_words_or_booleans_get_a_symbol_once():
    assert [tables.verdict_text(v) for v in (True, False, "kept", "rolled back", "✓ kept", "no significant difference")] \
        == ["✓ yes", "✗ no", "✓ kept", "✗ rolled back", "✓ kept", "✗ no significant difference"]
