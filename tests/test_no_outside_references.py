"""No text of the repository refers to files outside it: the team's documents are not the reader's.

Notebooks (sources and stored outputs), README, docs and the package are searched for paths to the
team's shared folder, its source documents and files by name, and absolute machine paths. CI's own
script (.ci/run) may point at the shared weights; it is not searched. The failure lists every
offending file and line, so each owner can fix theirs.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

OUTSIDE = [
    (re.compile(r"\bseeds/"), "the team's source documents (seeds/)"),
    (re.compile(r"(\.\./)?\bshared/"), "the team's shared folder (shared/, ../shared)"),
    (re.compile(r"\bREFERENCES\.md\b"), "the team's REFERENCES.md: cite docs/references.md"),
    (re.compile(r"\bBACKENDS\.md\b"), "the team's BACKENDS.md"),
    (re.compile(r"\bthe source documents?\b", re.IGNORECASE), "\"the source documents\": name the work (docs/references.md)"),
    (re.compile(r"(?<![\w.])/(work|home|Users|root|tmp)/"), "an absolute machine path"),
]


def _texts():
    """(file, line number, line) for every line a reader of the repository can see."""
    files = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md")), *sorted((ROOT / "src").rglob("*.py")),
             *sorted((ROOT / "notebooks").glob("*.ipynb"))]
    for path in files:
        if path.suffix == ".ipynb":
            cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
            lines = []
            for cell in cells:
                lines += "".join(cell.get("source", "")).splitlines()
                for output in cell.get("outputs", []):
                    lines += "".join(output.get("text", "")).splitlines()
                    for value in output.get("data", {}).values():
                        if isinstance(value, (str, list)):
                            lines += "".join(value).splitlines()
        else:
            lines = path.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines, 1):
            yield path.relative_to(ROOT), number, line


def find_outside_references() -> list[str]:
    found = []
    for path, number, line in _texts():
        for pattern, what in OUTSIDE:
            if pattern.search(line):
                found.append(f"{path}:{number}: {what}: {line.strip()[:120]}")
    return found


def test_the_patterns_catch_what_they_should():
    for line in ("see seeds/002", "../shared/pretrained", "docs/REFERENCES.md", "the source documents",
                 "The source document", "/work/wt-x/src", "docs/BACKENDS.md", "/home/me/data"):
        assert any(pattern.search(line) for pattern, _ in OUTSIDE), line
    clean = ("docs/references.md", "models/smoke/04_regularisation_seeds/", "/usr/share/datasets", "a/tmp/b")
    assert not [line for line in clean for pattern, _ in OUTSIDE if pattern.search(line)]


def test_no_text_refers_outside_the_repository():
    found = find_outside_references()
    offending = sorted({line.split(":")[0] for line in found})
    assert not found, (f"{len(found)} reference(s) outside the repository in {', '.join(offending)}:\n"
                       + "\n".join(found))
