"""The package's layout: every module has a docstring and a tier, and imports point one way, down.

data -> profiles -> training -> evaluation -> cli, as README's layout section draws it: a module
may import modules of its own tier or lower ones, never a higher one (imports inside functions
count too).
"""

from __future__ import annotations

import ast

import pytest

from conftest import REPO

PACKAGE = REPO / "src" / "fmnist"

# Lowest first. The names are what README's "Layout" section describes.
TIERS = {
    "foundations": ["errors", "version", "paths", "native_logs", "repro", "augment", "references", "weights",
                    "losses", "progress", "tables", "compile_cache"],
    "data": ["data", "environment", "stats", "neighbours"],
    "profiles": ["profiles", "registry", "session", "figures", "colab", "readme", "test_history",
                 "reproduction"],
    "training": ["training", "iterations", "decisions", "imagenet", "plots"],
    "evaluation": ["predict", "photo", "prediction_cache", "stage_models", "test_time", "evaluation"],
    "running": ["runner", "prerequisites", "header", "opening", "bench"],
    "interface": ["cli", "__init__", "__main__"],
}
TIER_OF = {module: rank for rank, modules in enumerate(TIERS.values()) for module in modules}
MODULES = sorted(p.stem for p in PACKAGE.glob("*.py"))


def imported_modules(path) -> set[str]:
    """The fmnist modules a file imports, at top level or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "fmnist":
            if node.module == "fmnist":
                found |= {alias.name for alias in node.names if (PACKAGE / f"{alias.name}.py").is_file()}
                found |= {"__init__" for alias in node.names if not (PACKAGE / f"{alias.name}.py").is_file()}
            else:
                found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "fmnist":
                    found.add(parts[1] if len(parts) > 1 else "__init__")
    return found - {path.stem}


def test_readme_draws_the_same_tiers():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for tier, modules in TIERS.items():
        shown = [m for m in modules if not m.startswith("__")]
        assert f"| {tier} | " + ", ".join(f"`{m}`" for m in shown) + " |" in readme, tier


def test_every_module_has_a_tier():
    assert sorted(set(MODULES) - set(TIER_OF)) == [], "add the new module to a tier in TIERS"
    assert sorted(set(TIER_OF) - set(MODULES)) == [], "TIERS names a module that no longer exists"


@pytest.mark.parametrize("module", MODULES)
def test_module_has_a_docstring(module):
    tree = ast.parse((PACKAGE / f"{module}.py").read_text(encoding="utf-8"))
    assert module == "__main__" or ast.get_docstring(tree), f"{module}.py has no module docstring"


@pytest.mark.parametrize("module", MODULES)
def test_imports_point_down(module):
    if module not in TIER_OF:
        pytest.skip("no tier yet (see test_every_module_has_a_tier)")
    upward = sorted(m for m in imported_modules(PACKAGE / f"{module}.py")
                    if TIER_OF.get(m, -1) > TIER_OF[module])
    assert upward == [], f"{module} ({list(TIERS)[TIER_OF[module]]}) imports higher tiers: {upward}"
