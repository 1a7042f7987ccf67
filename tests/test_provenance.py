"""fmnist.learn.environment provenance: every record says which code, machine and libraries produced it."""

from __future__ import annotations

import subprocess
import sys

from fmnist.series import cli
from fmnist.learn import environment, registry


def test_every_record_carries_commit_machine_and_imported_libraries(scratch_home):
    import sklearn  # noqa: F401  (imported by the stage: its version must be recorded)

    entry = registry.record("01_baseline", "m", "validation", [0.8, 0.81], seeds=[0, 1], profile="smoke")
    where = entry["provenance"]
    assert set(where) >= {"commit", "dirty", "cpu", "cpu_cores", "gpu", "os", "python"}
    assert where["cpu_cores"] >= 1 and where["cpu"] and where["os"] and where["python"]
    assert len(where["commit"]) == 40 or where["commit"] == "unknown"
    assert {"keras", "numpy", "scikit-learn", "scipy", entry["backend"]} <= set(entry["versions"])
    stored = registry.read("smoke")["records"][0]
    assert stored["provenance"] == where


def test_the_commit_is_the_checkout_the_package_lives_in():
    found = environment.code_version()
    top = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                         cwd=environment.Path(environment.__file__).parent)
    if top.returncode == 0:
        assert found["commit"] == top.stdout.strip() and isinstance(found["dirty"], bool)


def test_without_git_the_commit_is_unknown(monkeypatch, tmp_path):
    """Colab or a pip install: no git, or a package outside any checkout."""
    monkeypatch.setattr(environment, "_pip_commit", lambda: None)
    def no_git(*args, **kwargs):
        raise FileNotFoundError("git")
    monkeypatch.setattr(environment.subprocess, "run", no_git)
    assert environment.code_version() == {"commit": "unknown", "dirty": None, "changed": []}
    monkeypatch.undo()
    monkeypatch.setattr(environment, "_pip_commit", lambda: None)
    package = tmp_path / "site-packages" / "fmnist"
    package.mkdir(parents=True)
    assert environment.code_version(package)["commit"] == "unknown"


def test_a_pip_install_from_git_reports_the_commit_pip_recorded(monkeypatch, tmp_path):
    monkeypatch.setattr(environment, "_pip_commit", lambda: "a" * 40)
    package = tmp_path / "site-packages" / "fmnist"
    package.mkdir(parents=True)
    assert environment.code_version(package)["commit"] == "a" * 40


def test_report_shows_provenance_and_marks_old_records(scratch_home, capsys):
    registry.record("01_baseline", "new", "validation", 0.8, profile="smoke")
    data = registry.read("smoke")
    data["records"].append({"stage": "00_old", "model": "old", "split": "validation", "backend": "jax",
                            "accuracy": {"mean": 0.8, "std": 0.0, "values": [0.8]}, "versions": {"keras": "3.0"}})
    registry.write(data, "smoke")
    assert cli.main(["report", "--profile", "smoke", "--provenance"]) == 0
    out = capsys.readouterr().out
    assert "01_baseline / new / validation" in out and f"x{environment.os.cpu_count()}" in out
    assert "00_old / old / validation" in out and "commit     not recorded" in out
    assert sys.version.split()[0] in out


def test_a_notebook_executed_in_place_is_not_a_code_change_but_an_edited_cell_is(tmp_path):
    import json

    def notebook(source, outputs):
        return json.dumps({"cells": [{"cell_type": "code", "source": source, "outputs": outputs,
                                      "metadata": {}, "execution_count": None}],
                           "metadata": {}, "nbformat": 4, "nbformat_minor": 5})

    repo = tmp_path / "repo"
    package = repo / "src" / "fmnist"
    package.mkdir(parents=True)
    (repo / "notebooks").mkdir()
    (package / "__init__.py").write_text("")
    book = repo / "notebooks" / "01.ipynb"
    book.write_text(notebook("print(1)", []))
    for args in (["init", "-q"], ["add", "."], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"]):
        subprocess.run(["git", *args], cwd=repo, check=True)
    probes = repo / "tests" / "data" / "model_probes.json"
    probes.parent.mkdir(parents=True)
    probes.write_text("{}")
    for args in (["add", "."], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "probes"]):
        subprocess.run(["git", *args], cwd=repo, check=True)
    book.write_text(notebook("print(1)", [{"output_type": "stream", "name": "stdout", "text": "1\n"}]))
    probes.write_text('{"01": []}')  # `make run` rewrites the probe record after a full run: an output too
    assert environment.code_version(package)["dirty"] is False  # executed in place: outputs only
    book.write_text(notebook("print(2)", []))
    found = environment.code_version(package)
    assert found["dirty"] is True and found["changed"] == ["notebooks/01.ipynb"]
