"""The pip route (pyproject.toml) and the conda route (environment.yml) describe the same dependencies."""

from __future__ import annotations

import re
import tomllib

from conftest import REPO

SPEC = re.compile(r"^([A-Za-z0-9_.\-]+)\s*(.*)$")


def parse(requirement: str) -> tuple[str, str]:
    name, spec = SPEC.match(requirement.strip()).groups()
    return name.lower().replace("_", "-"), spec.replace(" ", "")


def pip_route() -> dict[str, str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    requirements = project["dependencies"] + extras["tensorflow"] + extras["test"] + extras["jupyter"]
    return dict(parse(r) for r in requirements)


def conda_route() -> dict[str, str]:
    """The packages listed under `dependencies:`, those of its nested pip section included (not the
    project itself): what conda-forge lacks is installed by pip there."""
    found, section = {}, None
    for line in (REPO / "environment.yml").read_text().splitlines():
        line = line.split("#", 1)[0].rstrip()
        if line and not line.startswith(" "):
            section = line.rstrip(":")
        elif section == "dependencies" and line.startswith("  - ") and not line.endswith(":"):
            name, spec = parse(line[4:])
            if name not in ("python", "pip"):
                found[name] = spec
        elif section == "dependencies" and line.startswith("      - ") and line.strip() != "- -e .":
            name, spec = parse(line.strip()[2:])
            found[name] = spec
    return found


def test_environment_yml_matches_pyproject():
    assert conda_route() == pip_route()


def test_environment_yml_installs_the_package_itself():
    assert "- -e ." in (REPO / "environment.yml").read_text()


def test_make_writes_models_with_the_lowest_admitted_keras():
    """.venv, which `make run` writes the committed models with, is pinned to pyproject's Keras floor."""
    floor = re.search(r">=([\d.]+)", pip_route()["keras"]).group(1)
    pins = [line.split("#", 1)[0].strip() for line in (REPO / "constraints.txt").read_text().splitlines()]
    assert f"keras=={floor}" in pins
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"pip install .*-c constraints\.txt .*\.\[test,tensorflow", makefile), \
        "the Makefile must install .venv with constraints.txt"
