"""The package's layout: three parts a reader can see, imports that point one way, nothing written twice.

- `fmnist/learn/`: what the notebooks learn with;
- `fmnist/series/`: what runs and publishes the series;
- `fmnist/predict/`: the product, `fmnist predict`;
- `errors`, `paths`, `version` (and the package's `__init__`) beside them, shared by all three.

`learn` imports neither `series` nor `predict`; `predict` does not import `series`; the shared modules
import no part. Imports inside functions count too, and each needs its reason in a comment. README's
"Layout" section lists the same modules.
"""

from __future__ import annotations

import ast
import hashlib
import re

import pytest

from conftest import REPO

PACKAGE = REPO / "src" / "fmnist"
PARTS = ("learn", "series", "predict")
SHARED = ("errors", "paths", "version")
FILES = sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def part_of(path) -> str:
    relative = path.relative_to(PACKAGE).parts
    return relative[0] if len(relative) > 1 else "shared"


def module_name(path) -> str:
    return ".".join(("fmnist", *path.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__")


def imported(path) -> list[tuple[str, int, bool]]:
    """(module, line, inside a function) for every fmnist import in a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nested = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
              for n in ast.walk(f) if n is not f}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "fmnist":
            names = [f"{node.module}.{a.name}" for a in node.names]
            found += [(n, node.lineno, id(node) in nested) for n in [node.module, *names]]
        elif isinstance(node, ast.Import):
            found += [(a.name, node.lineno, id(node) in nested) for a in node.names if a.name.startswith("fmnist")]
    return found


def part_named(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in PARTS else None


def test_the_package_has_three_parts_and_shared_modules_only():
    assert sorted(p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__") == sorted(PARTS)
    assert sorted(p.stem for p in PACKAGE.glob("*.py")) == sorted(("__init__", "__main__", *SHARED))


@pytest.mark.parametrize("path", FILES, ids=lambda p: module_name(p))
def test_module_has_a_docstring(path):
    assert path.name == "__main__.py" or ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))), \
        f"{module_name(path)} has no module docstring saying what it owns"


ALLOWED = {"learn": {"learn"}, "predict": {"learn", "predict"}, "series": {"learn", "predict", "series"},
           "shared": set()}


@pytest.mark.parametrize("path", [p for p in FILES if p.name not in ("__init__.py", "__main__.py")
                                  or p.parent != PACKAGE], ids=lambda p: module_name(p))
def test_imports_point_one_way(path):
    """learn -> nothing else; predict -> learn; series -> learn and predict; shared modules -> no part."""
    wrong = sorted({m for m, _, _ in imported(path) if part_named(m) and part_named(m) not in ALLOWED[part_of(path)]})
    assert wrong == [], f"{module_name(path)} ({part_of(path)}) imports {wrong}"


def test_no_module_only_re_exports_others():
    for path in FILES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        body = [n for n in tree.body if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))]
        if path.parent == PACKAGE and path.name == "__init__.py" or not body:
            continue  # the package's front door, and docstring-only sub-package markers
        imports = [n for n in body if isinstance(n, (ast.Import, ast.ImportFrom))]
        only_imports = imports and all(isinstance(n, (ast.Import, ast.ImportFrom, ast.Assign)) for n in body)
        assert not only_imports, f"{module_name(path)} only re-exports other modules: import them where they are"


def test_imports_inside_functions_say_why():
    """An import belongs at the top; inside a function it needs its reason in a comment on or above it."""
    unexplained = []
    for path in FILES:
        lines = path.read_text(encoding="utf-8").splitlines()
        tree = ast.parse("\n".join(lines))
        for function in [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]:
            for node in ast.walk(function):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    here, above = lines[node.lineno - 1], lines[node.lineno - 2].strip()
                    if "#" not in here and not above.startswith("#"):
                        unexplained.append(f"{module_name(path)}:{node.lineno}")
    assert unexplained == [], f"imports inside functions without a reason: {unexplained}"


def normalised_lines(path) -> list[tuple[int, str]]:
    """Code lines without blank lines, comments and surrounding space (docstrings stay: prose repeats less)."""
    kept = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        text = line.split("  #")[0].strip()
        if text and not text.startswith("#"):
            kept.append((number, text))
    return kept


def test_no_block_of_six_lines_is_written_twice():
    windows: dict[str, str] = {}
    repeated = []
    for path in FILES:
        lines = normalised_lines(path)
        for i in range(len(lines) - 5):
            block = [text for _, text in lines[i:i + 6]]
            if sum(len(t) > 12 for t in block) < 4:  # closing brackets and one-word lines are not code written twice
                continue
            key = hashlib.sha256("\n".join(block).encode()).hexdigest()
            place = f"{module_name(path)}:{lines[i][0]}"
            if key in windows:
                repeated.append(f"{place} repeats {windows[key]}")
            windows.setdefault(key, place)
    assert repeated == [], "blocks of six lines written twice: " + "; ".join(repeated[:5])


def test_readme_lists_every_module_in_its_part():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Layout"):]
    section = section[:section.index("\n## ", 4)] if "\n## " in section[4:] else section
    for path in FILES:
        if path.name in ("__init__.py", "__main__.py"):
            continue
        shown = path.relative_to(PACKAGE).with_suffix("").as_posix()
        assert re.search(rf"`{re.escape(path.stem)}`", section), f"README's Layout does not name {shown}"
