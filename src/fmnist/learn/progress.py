"""One line of progress that a notebook shows while a cell runs and replaces by its result.

In a notebook kernel the line is an updatable display (``display_id``): each update replaces the
previous text, so the saved notebook stores only the last state (the summary), not a log. Outside a
notebook (scripts, tests) updates print nothing and the final line is printed.
"""

from __future__ import annotations

from IPython import get_ipython
from IPython.display import display


class _Plain:
    """Text shown as itself (a str would be displayed with its quotes)."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text


class Line:
    """A progress line: `update(text)` while working, `done(text)` for what stays."""

    def __init__(self):
        self.handle = None
        shell = get_ipython()
        if shell is not None and hasattr(shell, "kernel"):
            self.handle = display(_Plain(""), display_id=True)

    def update(self, text: str) -> None:
        if self.handle is not None:
            self.handle.update(_Plain(text))

    def done(self, text: str) -> None:
        if self.handle is not None:
            self.handle.update(_Plain(text))
        else:
            print(text)
