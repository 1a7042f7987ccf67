"""What a stored notebook output must not contain, for committed and freshly executed notebooks.

Shared by tests/test_notebook_outputs.py (committed notebooks) and the nbval hook in conftest.py
(every cell nbval executes in the smoke profile).
"""

from __future__ import annotations

import re

MAX_LINES = 40
ANSI = re.compile(r"\x1b\[")
# A path of the machine that ran the notebook: home folders, the venv, system or scratch folders.
ABSOLUTE_PATH = re.compile(r"(?<![\w.:/])(?:/(?:home|work|usr|tmp|root|Users|opt|var|mnt|private)/\S+"
                           r"|[A-Za-z]:\\\\?\w+|\S*site-packages\S*)")
# Files and folders that exist only beside the repository, never in a reader's clone.
OUTSIDE = re.compile(r"seeds/\d{3}|docs/REFERENCES\.md|docs/BACKENDS\.md|shared/pretrained|\.\./shared"
                     r"|[Tt]he source documents?")  # case matters: docs/references.md is in the repository
MARKDOWN_NUMBER = re.compile(r"(?<![\w.])0\.\d{2,}(?![\d])")


def output_text(output) -> str:
    """The text a reader sees in one output (text/plain unless richer HTML is there too)."""
    kind = output.get("output_type")
    if kind == "stream":
        return output.get("text", "")
    if kind == "error":
        return "\n".join(output.get("traceback", []))
    data = output.get("data", {})
    return data.get("text/plain", "") if isinstance(data.get("text/plain", ""), str) else "".join(data["text/plain"])


def searchable(output) -> str:
    """All the text of an output, HTML included, for finding numbers and paths."""
    data = output.get("data", {})
    html = data.get("text/html", "")
    return output_text(output) + "\n" + (html if isinstance(html, str) else "".join(html))


def problems(outputs, where: str) -> list[str]:
    """Why these outputs of one cell would not do as stored outputs (empty when they do)."""
    found = []
    lines = sum(len(output_text(o).rstrip("\n").splitlines()) for o in outputs
                if not any(k in o.get("data", {}) for k in ("text/html", "image/png")))
    if lines > MAX_LINES:
        found.append(f"{where}: an output of {lines} lines (at most {MAX_LINES})")
    for output in outputs:
        everything = searchable(output)
        if ANSI.search(everything):
            found.append(f"{where}: ANSI escape codes")
        if match := ABSOLUTE_PATH.search(everything):
            line = everything[everything.rfind("\n", 0, match.start()) + 1:].split("\n", 1)[0]
            found.append(f"{where}: an absolute path ({match.group(0)[:80]}) in: {line[:200]}")
        if match := OUTSIDE.search(everything):
            found.append(f"{where}: a reference outside the repository ({match.group(0)})")
    return found
