"""The Colab leg's snapshot of Colab's package versions (.ci/colab/): where it comes from, what it pins,
and the command that refreshes it, tried on a local file (no network)."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import tomllib

import pytest

from conftest import REPO

COLAB = REPO / ".ci" / "colab"


def _script(name: str):
    """.ci/colab/<name>.py as a module (under a name no installed package has)."""
    spec = importlib.util.spec_from_file_location(f"colab_{name}", COLAB / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


refresh, build = _script("refresh"), _script("build")


def test_the_snapshot_names_its_source_commit_and_python():
    head = refresh.header((COLAB / "pip-freeze.txt").read_text())
    assert "googlecolab/backend-info" in head["source"]
    assert head["commit"].startswith("a724079 (2026-08-19")
    assert refresh.python_version((COLAB / "pip-freeze.txt").read_text()) == "3.13"


def test_the_snapshot_pins_every_package_the_leg_installs_and_none_colab_lacks():
    pins = refresh.pins(refresh.published((COLAB / "pip-freeze.txt").read_text()))
    listed = refresh.listed_packages()
    assert [name for name in listed if refresh.canonical(name) not in pins] == []
    assert not {"keras-tuner", "jupyter", "jupyterlab", "nbval"} & {refresh.canonical(n) for n in listed}
    assert (pins["tensorflow"], pins["keras"], pins["numpy"], pins["ipykernel"]) == ("2.20.0", "3.13.2", "2.1.3", "6.17.1")


def test_colabs_keras_is_admitted_and_is_the_floor():
    """The committed models are written by the floor's Keras (constraints.txt); Colab must be able to read them."""
    pins = refresh.pins(refresh.published((COLAB / "pip-freeze.txt").read_text()))
    dependencies = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    floor = re.search(r"keras>=([\d.]+)", " ".join(dependencies)).group(1)
    assert tuple(map(int, pins["keras"].split("."))) == tuple(map(int, floor.split(".")))


def snapshot(keras: str = "3.14.0", drop: str | None = None) -> str:
    """Colab's published file with a newer Keras (or without one package): a stand-in for a newer snapshot."""
    text = refresh.published((COLAB / "pip-freeze.txt").read_text())
    text = re.sub(r"(?m)^keras==\S+$", f"keras=={keras}", text)
    return re.sub(rf"(?m)^{re.escape(drop)}==\S+\n", "", text) if drop else text


def test_refresh_rewrites_the_file_and_its_header_from_a_local_copy(tmp_path):
    newer, output = tmp_path / "pip-freeze.txt", tmp_path / "out.txt"
    newer.write_text(snapshot())
    output.write_text((COLAB / "pip-freeze.txt").read_text())
    done = subprocess.run([sys.executable, str(COLAB / "refresh.py"), str(newer), "--commit", "b123456",
                           "--date", "2027-01-02", "--subject", "Upgrade Keras", "--output", str(output)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "keras: 3.13.2 -> 3.14.0" in done.stdout
    written = output.read_text()
    assert refresh.header(written)["commit"] == 'b123456 (2027-01-02, "Upgrade Keras")'
    assert refresh.python_version(written) == "3.13"  # kept from the file it replaces
    assert refresh.published(written) == newer.read_text()  # the snapshot itself, unchanged
    assert refresh.pins(written)["keras"] == "3.14.0"


def test_refresh_refuses_a_snapshot_that_lacks_a_package_the_leg_needs(tmp_path):
    incomplete, output = tmp_path / "pip-freeze.txt", tmp_path / "out.txt"
    incomplete.write_text(snapshot(drop="ipykernel"))
    output.write_text("unchanged\n")
    done = subprocess.run([sys.executable, str(COLAB / "refresh.py"), str(incomplete), "--commit", "c1",
                           "--date", "2027-01-02", "--output", str(output)], capture_output=True, text=True)
    assert done.returncode == 1 and "lacks ipykernel" in done.stderr
    assert output.read_text() == "unchanged\n"


def test_without_colabs_python_the_build_says_so_in_one_line(monkeypatch):
    monkeypatch.setattr(build.shutil, "which", lambda name: "/usr/bin/python3" if name == "python3" else None)
    monkeypatch.setattr(build, "pyenv_pythons", lambda wanted: [])
    monkeypatch.setattr(build, "_version_of", lambda python: "3.11")
    python, said = build.find_python("3.13")
    assert python == "/usr/bin/python3"
    assert said.startswith("Colab leg: no Python 3.13 on this machine") and "\n" not in said


@pytest.mark.skipif(not build.pyenv_pythons("3.13") and build.shutil.which("python3.13") is None,
                    reason="no Python 3.13 here (the Colab leg then uses python3 and says so)")
def test_colabs_python_is_found_where_the_machine_has_it():
    python, said = build.find_python("3.13")
    assert build._version_of(python) == "3.13" and said.startswith("Colab leg: Python 3.13 from ")
