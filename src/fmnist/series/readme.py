"""README.md's results section: the full registry as Markdown, written between two markers.

`as_markdown()` renders a registry (records, then the notebook runs that produced them);
`update_readme()` replaces README's section by it; `is_current()` is what tests and the runner
check. `fmnist report --update-readme` and `fmnist run --profile full` call `update_readme()`.
"""

from __future__ import annotations

import re
from pathlib import Path

from fmnist import paths
from fmnist.learn import registry
from fmnist.errors import FmnistError

README_START, README_END = "<!-- results:start -->", "<!-- results:end -->"


def _markdown_table(table: list[dict]) -> list[str]:
    header = list(table[0])
    return (["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
            + ["| " + " | ".join(str(row[h]) for h in header) + " |" for row in table])


def as_markdown(data: dict) -> str:
    """A Markdown table of the records, then one of the notebook runs that produced them (in series order,
    whenever each ran), each run with the CPU model it had: runs from different machines show it."""
    table = registry.rows(data)
    if not table:
        return "_No results recorded yet._\n"
    lines = _markdown_table(table)
    runs = registry.run_rows(data)
    if runs:
        lines += ["", "Notebook runs that produced them:", ""] + _markdown_table(runs)
    return "\n".join(lines) + "\n"


def default_path() -> Path:
    """The repository's README.md (from any working folder)."""
    return paths.repo_root() / "README.md"


def section(text: str) -> str | None:
    """The text between README's results markers, or None if they are missing."""
    found = re.search(rf"{re.escape(README_START)}\n(.*?){re.escape(README_END)}", text, re.S)
    return found.group(1) if found else None


def is_current(readme: Path | str, data: dict) -> bool:
    """Whether README's results section is exactly `as_markdown(data)`."""
    return section(Path(readme).read_text()) == as_markdown(data)


def update_readme(readme: Path | str, data: dict) -> bool:
    """Replace the table between README's results markers by `as_markdown(data)`, atomically.

    Returns whether the file changed. Missing markers are an error that says what to add.
    """
    readme = Path(readme)
    if not readme.is_file():
        raise FmnistError(f"{readme} does not exist: give the path of the README to update.")
    text = readme.read_text()
    start, end = text.find(README_START), text.find(README_END)
    if start < 0 or end < start:
        raise FmnistError(f"{readme} has no results section: add a line {README_START} and a line "
                          f"{README_END} where the table should go.")
    updated = text[:start + len(README_START)] + "\n" + as_markdown(data) + text[end:]
    if updated != text:
        paths.write_text_atomic(readme, updated)
    return updated != text
