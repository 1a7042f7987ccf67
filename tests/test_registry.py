"""fmnist.learn.registry: records round-trip, replace their predecessor, and are written atomically."""

from __future__ import annotations

import json

import pytest
from conftest import REPO, backdate_records

from fmnist import paths
from fmnist.series import readme
from fmnist.learn import registry
from fmnist.errors import FmnistError


def test_round_trip_with_mean_and_std(scratch_home):
    registry.record("01_baseline", "dense", "validation", [0.8, 0.9], loss=[0.5, 0.3],
                    seeds=[0, 1], params=101770, epochs=5, train_seconds=12.5, profile="smoke")
    data = json.loads(paths.results_file("smoke").read_text())
    (entry,) = data["records"]
    assert entry["accuracy"]["mean"] == pytest.approx(0.85)
    assert entry["accuracy"]["std"] == pytest.approx(0.0707107, rel=1e-5)
    assert entry["seeds"] == [0, 1] and entry["params"] == 101770 and entry["profile"] == "smoke"
    for key in ("backend", "device", "versions", "time"):
        assert entry[key]
    assert registry.read("smoke") == data


def test_same_stage_model_split_replaces_the_old_record(scratch_home):
    registry.record("01_baseline", "dense", "validation", 0.5, profile="smoke")
    registry.record("01_baseline", "dense", "validation", 0.7, profile="smoke")
    registry.record("01_baseline", "logreg", "validation", 0.6, profile="smoke")
    records = registry.read("smoke")["records"]
    assert [(r["model"], r["accuracy"]["mean"]) for r in records] == [("dense", 0.7), ("logreg", 0.6)]
    assert records[1]["accuracy"]["std"] == 0.0


def test_profiles_have_separate_files(scratch_home):
    registry.record("s", "m", "validation", 0.5, profile="smoke")
    assert registry.read("full")["records"] == []


def test_failed_write_keeps_the_previous_file(scratch_home):
    registry.record("s", "m", "validation", 0.5, profile="smoke")
    target = paths.results_file("smoke")
    before = target.read_text()
    with pytest.raises(RuntimeError):
        with paths.atomic_path(target) as tmp:
            tmp.write_text("{half a fi")
            raise RuntimeError("crash in the middle of a write")
    assert target.read_text() == before
    assert [p.name for p in target.parent.iterdir() if not p.name.endswith(".lock")] == [target.name]  # no temporary left


def test_corrupt_registry_says_how_to_recover(scratch_home):
    target = paths.results_file("smoke")
    target.parent.mkdir(parents=True)
    target.write_text("{not json")
    with pytest.raises(FmnistError, match=r"smoke\.json: not valid JSON.*git checkout"):
        registry.read("smoke")


def test_markdown_and_text_tables(scratch_home):
    assert "No results" in readme.as_markdown(registry.read("smoke"))
    registry.record("03_overfit", "overfit", "validation", [0.9, 0.92], params=534026, profile="smoke")
    registry.record_run("03_overfit", 61.23, "ok", "smoke", "tensorflow", "CPU (2 cores)")
    data = registry.read("smoke")
    md = readme.as_markdown(data)
    assert md.splitlines()[0].startswith("| stage | model | split | accuracy")
    assert "| 03_overfit | overfit | validation | 0.9100 ± 0.0141 |" in md
    assert "534,026" in md
    text = registry.as_text(data)
    assert "Notebook runs" in text and "61 s" in text


def test_the_runs_table_names_the_cpu_model_of_each_run(scratch_home):
    """Runs on two machines of one kind ("CPU (2 cores)") show two CPU models; a run recorded before runs
    carried theirs takes it from the records it wrote while it ran."""
    registry.record("03_overfit", "overfit", "validation", 0.9, profile="smoke")
    registry.record_run("01_baseline", 10.0, "ok", "smoke", "tensorflow", "CPU (2 cores)",
                        cpu="Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz")
    registry.record_run("03_overfit", 60.0, "ok", "smoke", "tensorflow", "CPU (2 cores)")  # no cpu: older runs
    data = registry.read("smoke")
    data["records"][0]["provenance"]["cpu"] = "AMD EPYC 7B13 64-Core Processor"
    data["runs"].append({"stage": "00_problem_and_data", "seconds": 5.0, "status": "ok", "profile": "smoke",
                         "backend": "tensorflow", "device": "CPU (2 cores)", "time": "2026-01-01T00:00:00+00:00"})
    runs = {row["notebook"]: row["CPU"] for row in registry.run_rows(data)}
    assert runs == {"00_problem_and_data": "not recorded", "01_baseline": "Intel Xeon Platinum 8375C",
                    "03_overfit": "AMD EPYC 7B13 64-Core"}
    assert "| CPU |" in readme.as_markdown(data) and "| Intel Xeon Platinum 8375C |" in readme.as_markdown(data)


def test_report_text_is_narrow_and_lists_runs_by_notebook(scratch_home):
    """`fmnist report` printed 167-character lines and its runs in the order they ran."""
    committed = registry.read("full", REPO / "results" / "full.json")
    assert len(committed["records"]) > 10
    assert max(len(line) for line in registry.as_text(committed).splitlines()) <= 110
    for stage in ("03_overfit", "01_baseline"):
        registry.record("03_overfit", "overfit", "validation", 0.9, profile="smoke")
        registry.record_run(stage, 10.0, "ok", "smoke", "tensorflow", "CPU (2 cores)")
    runs = registry.as_text(registry.read("smoke")).split("Notebook runs:")[1]
    assert runs.index("01_baseline") < runs.index("03_overfit")


def test_summarise_needs_values():
    with pytest.raises(ValueError):
        registry.summarise([])


def test_get_and_frame(scratch_home):
    registry.record("02_low_capacity_convnet", "low_capacity", "validation", [0.9, 0.91], params=31962,
                    profile="smoke", extra={"seconds_per_epoch": 2.5})
    assert registry.get("02_low_capacity_convnet", "low_capacity", profile="smoke")["params"] == 31962
    with pytest.raises(FmnistError, match=r"No validation result for model 'dense' of 01_baseline.*--only 01"):
        registry.get("01_baseline", "dense", profile="smoke")
    table = registry.frame("02_low_capacity_convnet", profile="smoke")
    assert table.loc[0, "s/epoch"] == 2.5 and table.loc[0, "accuracy"] == pytest.approx(0.905)


def test_frame_keeps_the_test_split_out_of_a_stage_table(scratch_home):
    """After notebook 06, a re-run of notebook 01 or 02 must not show the stage's test accuracy."""
    registry.record("02_low_capacity_convnet", "low_capacity", "validation", [0.9, 0.91], profile="smoke")
    registry.record("02_low_capacity_convnet", "low_capacity", "test", [0.89], profile="smoke")
    assert list(registry.frame("02_low_capacity_convnet", profile="smoke")["split"]) == ["validation"]
    assert sorted(registry.frame("02_low_capacity_convnet", profile="smoke", split=None)["split"]) == [
        "test", "validation"]


def test_atomic_writes_get_ordinary_permissions(scratch_home):
    import os
    import stat

    target = paths.write_text_atomic(scratch_home / "x.txt", "hello")
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~mask


def test_epochs_shown_once_when_all_seeds_agree():
    assert registry._fmt_epochs([40, 40, 40]) == "40"
    assert registry._fmt_epochs([15, 15, 17]) == "15, 15, 17"
    assert registry._fmt_epochs(None) == "" and registry._fmt_epochs(5) == "5"


def test_update_readme_replaces_only_the_marked_section(scratch_home, tmp_path, capsys):
    from fmnist.series.cli import main

    registry.record("01_baseline", "dense", "validation", [0.8, 0.82], seeds=[0, 1], profile="full")
    readme_file = tmp_path / "README.md"
    readme_file.write_text("# Title\n\n<!-- results:start -->\nold table\n<!-- results:end -->\n\nAfter.\n")
    assert main(["report", "--update-readme", str(readme_file)]) == 0
    text = readme_file.read_text()
    assert text.startswith("# Title\n\n<!-- results:start -->\n| stage |")
    assert "old table" not in text and text.endswith("<!-- results:end -->\n\nAfter.\n")
    assert "0.8100 ± 0.0141" in text
    assert "updated" in capsys.readouterr().out
    assert readme.update_readme(readme_file, registry.read("full")) is False  # idempotent


def test_update_readme_without_markers_says_what_to_add(scratch_home, tmp_path, capsys):
    from fmnist.series.cli import main

    readme = tmp_path / "README.md"
    readme.write_text("# No results section\n")
    assert main(["report", "--update-readme", str(readme)]) == 1
    err = capsys.readouterr().err
    assert "<!-- results:start -->" in err and err.count("\n") == 1
    assert readme.read_text() == "# No results section\n"
    assert main(["report", "--update-readme", str(tmp_path / "missing.md")]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_drop_stale_forgets_only_older_remeasured_records_of_the_stage(scratch_home):
    for model, split in [("gone", "validation"), ("retrained", "train+validation"), ("screened", registry.SCREEN),
                         ("evaluated", "test")]:
        registry.record("05_transfer", model, split, 0.5, profile="smoke")
    registry.record("04_other", "kept", "validation", 0.5, profile="smoke")
    backdate_records("smoke")
    since = registry.now()
    registry.record("05_transfer", "fresh", "validation", 0.6, profile="smoke")

    assert registry.drop_stale("05_transfer", since, "smoke") == ["gone", "retrained"]
    left = {(r["stage"], r["model"]) for r in registry.read("smoke")["records"]}
    assert left == {("05_transfer", "screened"), ("05_transfer", "evaluated"), ("04_other", "kept"),
                    ("05_transfer", "fresh")}
    assert registry.drop_stale("05_transfer", since, "smoke") == []


def test_a_test_result_of_another_model_is_kept_when_replaced(scratch_home):
    """The test set is used once: a second model's test result must not erase the first one's."""
    registry.record("05_x", "best", "test", 0.92, 0.24, profile="smoke", extra={"model_sha256": "aaa"})
    registry.record("05_x", "best", "test", 0.92, 0.24, profile="smoke", extra={"model_sha256": "aaa"})
    assert "earlier_tests" not in registry.get("05_x", "best", "test", profile="smoke").get("extra", {})
    registry.record("05_x", "best", "test", 0.93, 0.21, profile="smoke", extra={"model_sha256": "bbb"})
    registry.record("05_x", "best", "test", 0.94, 0.20, profile="smoke", extra={"model_sha256": "ccc"})
    latest = registry.get("05_x", "best", "test", profile="smoke")
    assert latest["accuracy"]["mean"] == 0.94
    assert [(e["accuracy"], e["model_sha256"]) for e in latest["extra"]["earlier_tests"]] == [(0.92, "aaa"), (0.93, "bbb")]


def test_earlier_test_records_without_a_fingerprint_count_as_the_same_model_only_if_identical(scratch_home):
    registry.record("06_x", "a", "test", 0.9, 0.3, profile="smoke")
    registry.record("06_x", "a", "test", 0.9, 0.3, profile="smoke", extra={"model_sha256": "aaa"})
    assert "earlier_tests" not in registry.get("06_x", "a", "test", profile="smoke")["extra"]
    registry.record("06_x", "b", "test", 0.9, 0.3, profile="smoke")
    registry.record("06_x", "b", "test", 0.8, 0.4, profile="smoke", extra={"model_sha256": "bbb"})
    assert registry.get("06_x", "b", "test", profile="smoke")["extra"]["earlier_tests"][0]["accuracy"] == 0.9


def test_validation_records_are_replaced_without_history(scratch_home):
    registry.record("05_x", "m", "validation", [0.9, 0.91], profile="smoke", extra={"model_sha256": "aaa"})
    registry.record("05_x", "m", "validation", [0.8, 0.81], profile="smoke", extra={"model_sha256": "bbb"})
    assert "earlier_tests" not in registry.get("05_x", "m", "validation", profile="smoke")["extra"]


def test_readme_lists_notebook_runs_in_series_order_whenever_each_ran(scratch_home):
    registry.record("03_overfit", "overfit", "validation", [0.9, 0.92], profile="smoke")
    for stage in ("03_overfit", "01_baseline", "00_problem_and_data"):  # 00 re-run last
        registry.record_run(stage, 10.0, "ok", "smoke", "tensorflow", "CPU (2 cores)")
    runs_table = readme.as_markdown(registry.read("smoke")).split("Notebook runs that produced them:")[1]
    listed = [line.split(" | ")[0].strip("| ") for line in runs_table.splitlines() if line.startswith("| 0")]
    assert listed == ["00_problem_and_data", "01_baseline", "03_overfit"]


def test_rows_keep_series_order_when_a_notebook_is_re_run_alone():
    """A re-run of 01 after 06 appends its records; the table still lists 01 first and the tests last."""
    record = {"accuracy": {"mean": 0.9, "std": 0.0, "values": [0.9]}}
    data = {"records": [
        {**record, "stage": "02_low_capacity_convnet", "model": "low_capacity", "split": "validation"},
        {**record, "stage": "04_regularisation", "model": "final", "split": "validation"},
        {**record, "stage": "04_regularisation", "model": "final_retrained", "split": "train+validation"},
        {**record, "stage": "01_baseline", "model": "dense", "split": "test"},
        {**record, "stage": "01_baseline", "model": "random_guess", "split": "validation"},
        {**record, "stage": "01_baseline", "model": "dense", "split": "validation"},
    ]}
    assert [(r["stage"][:2], r["model"], r["split"]) for r in registry.rows(data)] == [
        ("01", "random_guess", "validation"), ("01", "dense", "validation"), ("02", "low_capacity", "validation"),
        ("04", "final", "validation"), ("04", "final_retrained", "train+validation"), ("01", "dense", "test")]
