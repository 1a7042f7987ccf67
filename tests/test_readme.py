"""README.md says what the project does: its commands exist and its results table is the registry's."""

from __future__ import annotations

import re

import pytest
from conftest import REPO
from fmnist.series import readme as readme_section
from fmnist.learn import registry


def test_results_table_is_generated_from_the_full_registry(monkeypatch):
    """README's results section is `fmnist report --update-readme`'s output for results/full.json
    (`fmnist run --profile full` rewrites it after every run, so a run leaves this test green)."""
    monkeypatch.setenv("FMNIST_HOME", str(REPO))
    readme = REPO / "README.md"
    assert readme_section.section(readme.read_text()) is not None, "README.md lacks the results markers"
    assert readme_section.is_current(readme, registry.read("full")), (
        "README's results table is stale: run `fmnist report --update-readme`")


def test_the_two_commands_exist_and_ci_calls_the_test_command():
    readme = (REPO / "README.md").read_text()
    makefile = (REPO / "Makefile").read_text()
    for target in ("run", "test"):
        assert f"make {target}" in readme
        assert re.search(rf"^{target}:", makefile, re.M)
    assert re.search(r"^make test\b", (REPO / ".ci" / "run").read_text(), re.M)


def test_small_protocol_table_is_generated_from_the_small_registry(monkeypatch):
    """The table beside the reference workflow is the small registry's, intervals and verdicts included."""
    monkeypatch.setenv("FMNIST_HOME", str(REPO))
    from fmnist.learn import references

    readme = (REPO / "README.md").read_text()
    section = readme.split("### On the reference workflow's own protocol", 1)[1].split("\n## ", 1)[0]
    table = references.small_protocol_markdown(registry.read("small"))
    assert table in section, "README's small-protocol table is stale: regenerate it from results/small.json"
    tested = {r["stage"]: r["accuracy"]["mean"] for r in registry.read("small")["records"] if r["split"] == "test"}
    for stage, accuracy in tested.items():
        assert f"| {accuracy:.4f} |" in table and stage in table


def _stored_text(notebook: str) -> str:
    """Every text a notebook's stored outputs show (stream and plain-text results)."""
    import json

    cells = json.loads((REPO / "notebooks" / notebook).read_text())["cells"]
    texts = []
    for cell in cells:
        for output in cell.get("outputs", []):
            texts.append("".join(output.get("text", "")))
            texts.append("".join(output.get("data", {}).get("text/plain", "")))
            # tables are displayed as HTML: their cells count as printed
            texts.append(re.sub(r"<[^>]+>", " ", "".join(output.get("data", {}).get("text/html", ""))))
    return "\n".join(texts)


try:  # notebooks whose committed outputs await the release run (tests/pending_release.py)
    from pending_release import PENDING_RELEASE
except ImportError:
    PENDING_RELEASE = set()


@pytest.mark.xfail("06_final_evaluation" in PENDING_RELEASE, strict=True,
                   reason="06's changed cells were cleared; the release run re-executes it")
def test_test_set_prose_quotes_only_numbers_notebook_06_printed():
    """Every accuracy, interval bound and p-value in README's test-set section is in 06's stored output."""
    readme = (REPO / "README.md").read_text()
    section = readme.split("## On the test set", 1)[1].split("\n### ", 1)[0]
    printed = _stored_text("06_final_evaluation.ipynb")
    numbers = re.findall(r"\b0\.\d{4}\b|\b\d\.\d+e-\d+\b", section)
    assert len(numbers) >= 6, "the section should quote the test results"
    missing = [n for n in numbers if n not in printed]
    assert not missing, f"README quotes numbers notebook 06 did not print: {missing}"


def test_only_ci_refers_to_the_teams_shared_folder():
    """The repository names no path outside itself; only .ci/run knows CI's ../shared (it links the weights in)."""
    import subprocess

    needle = "shared/" + "pretrained"  # split, so this file does not match itself
    files = subprocess.run(["git", "grep", "-l", needle, "--", ".", ":!notebooks/*.ipynb"], cwd=REPO, capture_output=True, text=True)
    checkers = {"tests/output_checks.py", "tests/test_no_outside_references.py"}  # they look for it
    assert set(files.stdout.split()) - checkers <= {".ci/run"}, files.stdout
    # notebook sources too (stored outputs of 05 wait for the release run: fmnist.learn.weights prints file names now)
    import nbformat

    for notebook in sorted((REPO / "notebooks").glob("*.ipynb")):
        sources = "".join(c.source for c in nbformat.read(notebook, as_version=4).cells)
        assert needle not in sources, notebook.name


def test_readme_quotes_no_counts_or_durations_of_a_test_run():
    """README once said that `make test` took about 20 minutes and that `make test-torch` passed 541 tests with
    13 expected failures in 7 min 12 s: one run's numbers, which no code produces and the next change made
    stale. pytest prints the counts; the notebooks' times are recorded (`fmnist report --profile smoke`)."""
    readme = (REPO / "README.md").read_text()
    about_tests = [p for p in readme.split("\n\n") if p.startswith("`make test`") or "`make test-torch`" in p]
    assert len(about_tests) >= 2
    unit = r"(?:s|min|minutes|h|hours?|tests?|cells?|skipped|expected failures?|passed|failed)"
    for paragraph in about_tests:
        found = re.findall(rf"\b\d[\d,.]*\s*{unit}\b", paragraph)
        assert not found, f"README quotes {found} about a test run: {paragraph[:80]}..."
