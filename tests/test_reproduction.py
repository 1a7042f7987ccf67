"""fmnist.series.reproduction and `fmnist report --compare`: a re-run's numbers against the committed ones."""

from __future__ import annotations

import copy
import json
import math

import pytest

from fmnist.series import cli, reproduction
from fmnist.errors import FmnistError


def _summary(values):
    return {"values": list(values), "mean": sum(values) / len(values), "std": 0.0}


def _record(stage, model, split, accuracy, loss, seeds=(0, 1), epochs=(5, 5), cpu="Intel(R) Xeon(R) Processor"):
    return {"stage": stage, "model": model, "split": split, "seeds": list(seeds), "epochs": list(epochs),
            "accuracy": _summary(accuracy), "loss": _summary(loss), "backend": "tensorflow",
            "provenance": {"cpu": cpu}}


REFERENCE = {"schema": 1, "runs": [], "records": [
    _record("03_overfit", "overfit", "validation", [0.9054, 0.9020], [0.30, 0.31]),
    _record("04_regularisation", "start", "screen", [0.8344, 0.8424], [0.45, 0.44]),
    _record("04_regularisation", "stop_early", "screen", [0.8374, 0.8056], [0.45, 0.54]),
    _record("04_regularisation", "final", "validation", [0.9362, 0.9350], [0.65, 0.66]),
]}


def _rerun(*changes):
    """The reference re-run: every record copied, then `changes` applied as (model, field, value)."""
    rerun = copy.deepcopy(REFERENCE)
    for model, field, value in changes:
        (record,) = [r for r in rerun["records"] if r["model"] == model]
        record[field] = value
    return rerun


def _by_model(rows):
    return {row["model"]: row for row in rows}


def test_identical_records_are_reproduced():
    rows = reproduction.compare(REFERENCE, _rerun())
    assert {row["verdict"] for row in rows} == {reproduction.REPRODUCED}
    assert all(row["largest_gap"] == 0 for row in rows)


def test_a_different_accuracy_differs_with_its_largest_per_seed_gap():
    rows = _by_model(reproduction.compare(REFERENCE, _rerun(("stop_early", "accuracy", _summary([0.8374, 0.8076])))))
    assert rows["stop_early"]["verdict"] == reproduction.DIFFERS
    assert rows["stop_early"]["largest_gap"] == pytest.approx(0.0020)
    assert rows["start"]["verdict"] == reproduction.REPRODUCED


@pytest.mark.parametrize("field, value", [("loss", _summary([0.45, 0.55])), ("epochs", [5, 4]), ("seeds", [0, 2])])
def test_same_accuracy_with_another_loss_epoch_count_or_seed_still_differs(field, value):
    rows = _by_model(reproduction.compare(REFERENCE, _rerun(("start", field, value))))
    assert rows["start"]["verdict"] == reproduction.DIFFERS


def test_a_different_number_of_seeds_has_no_gap_and_differs():
    rows = _by_model(reproduction.compare(REFERENCE, _rerun(("final", "accuracy", _summary([0.9362])))))
    assert rows["final"]["verdict"] == reproduction.DIFFERS and math.isnan(rows["final"]["largest_gap"])


def test_records_on_one_side_only_are_listed_after_the_reruns_own():
    rerun = _rerun()
    rerun["records"] = rerun["records"][:2] + [_record("04_regularisation", "extra", "screen", [0.8], [0.5])]
    rows = reproduction.compare(REFERENCE, rerun)
    assert [(row["model"], row["verdict"]) for row in rows] == [
        ("overfit", "reproduced"), ("start", "reproduced"), ("extra", "only in the re-run"),
        ("stop_early", "only in the reference"), ("final", "only in the reference")]


@pytest.mark.parametrize("stage", ["04", "04_regularisation", "regularisation"])
def test_a_stage_is_chosen_by_name_or_number(stage):
    rows = reproduction.compare(REFERENCE, _rerun(), stage=stage)
    assert [row["model"] for row in rows] == ["start", "stop_early", "final"]


def test_text_names_both_machines_and_counts_each_verdict():
    rerun = _rerun(("stop_early", "accuracy", _summary([0.8374, 0.8076])))
    for record in rerun["records"]:
        record["provenance"]["cpu"] = "AMD EPYC"
    rerun["records"].pop()
    text = reproduction.as_text(reproduction.compare(REFERENCE, rerun), REFERENCE, rerun)
    assert "reference ran on: Intel(R) Xeon(R) Processor, tensorflow" in text
    assert "re-run ran on:    AMD EPYC, tensorflow" in text
    assert ("2 of 3 record(s) both hold reproduced exactly, 1 differ; "
            "1 only in the reference, 0 only in the re-run.") in text
    assert "0.8374, 0.8076" in text and "0.0020" in text


def test_text_says_when_nothing_matches_the_stage():
    text = reproduction.as_text([], REFERENCE, REFERENCE, stage="09")
    assert text == "Neither registry holds a record of stage 09.\n"


def test_a_missing_rerun_registry_is_an_error_that_says_what_to_give():
    with pytest.raises(FmnistError, match="no such registry.*results/<profile>.json"):
        reproduction.read_rerun("/nowhere/results/full.json")


def test_a_corrupt_rerun_registry_is_an_error_in_one_line(tmp_path):
    path = tmp_path / "full.json"
    path.write_text("{not json")
    with pytest.raises(FmnistError, match="full.json"):
        reproduction.read_rerun(path)


def test_cli_compare_exits_0_when_all_reproduced_and_1_when_one_differs(scratch_home, tmp_path, capsys):
    from fmnist import paths

    paths.results_file("smoke").parent.mkdir(parents=True, exist_ok=True)
    paths.results_file("smoke").write_text(json.dumps(REFERENCE))
    same, changed = tmp_path / "same.json", tmp_path / "changed.json"
    same.write_text(json.dumps(_rerun()))
    changed.write_text(json.dumps(_rerun(("start", "accuracy", _summary([0.8344, 0.8428])))))
    assert cli.main(["report", "--profile", "smoke", "--compare", str(same), "--stage", "04"]) == 0
    assert "3 of 3 record(s) both hold reproduced exactly" in capsys.readouterr().out
    assert cli.main(["report", "--profile", "smoke", "--compare", str(changed)]) == 1
    assert "3 of 4 record(s) both hold reproduced exactly, 1 differ" in capsys.readouterr().out


def test_cli_compare_with_a_missing_file_prints_one_line(scratch_home, tmp_path, capsys):
    assert cli.main(["report", "--profile", "smoke", "--compare", str(tmp_path / "absent.json")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no such registry" in err[0]
