"""fmnist.decisions: a change is kept only when it beats the best by more than the spread over seeds."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import pytest  # noqa: E402

import fmnist  # noqa: E402
from fmnist.decisions import DecisionLog, beats  # noqa: E402
from fmnist.errors import FmnistError  # noqa: E402
from fmnist.registry import summarise  # noqa: E402


def rec(model, values, params=1000):
    return {"model": model, "params": params, "accuracy": summarise(values)}


def test_improvement_within_the_spread_is_rolled_back():
    kept, diff, margin = beats(rec("b", [0.905, 0.915]), rec("a", [0.90, 0.91]))
    assert not kept and diff == pytest.approx(0.005) and margin == pytest.approx(0.00707, rel=1e-3)


def test_improvement_beyond_the_spread_is_kept():
    kept, diff, _ = beats(rec("b", [0.93, 0.931]), rec("a", [0.90, 0.901]))
    assert kept and diff == pytest.approx(0.03)


def test_single_seeds_keep_any_improvement_and_ties_are_rolled_back():
    assert beats(rec("b", [0.91]), rec("a", [0.90]))[0]
    assert not beats(rec("b", [0.90]), rec("a", [0.90]))[0]


def test_log_follows_the_best_and_prints_each_verdict(capsys, scratch_home, monkeypatch):
    log = DecisionLog(rec("start", [0.90, 0.902, 0.901]))
    log.consider("dropout", rec("dropout", [0.92, 0.921, 0.919]))
    log.consider("tiny tweak", rec("tweak", [0.921, 0.92, 0.922]))  # within the spread of the new best
    log.consider("worse", rec("worse", [0.85, 0.86, 0.855]))
    assert [s.kept for s in log.steps] == [True, False, False]
    assert log.best["model"] == "dropout"
    out = capsys.readouterr().out
    assert " 1. dropout: 0.9200 ± 0.0010 (+0.0190 vs best, margin 0.0010) -> kept" in out
    assert "3. worse" in out and "rolled back" in out
    table = log.frame()
    assert list(table["decision"]) == ["kept", "rolled back", "rolled back"]
    assert list(table["iteration"]) == [1, 2, 3]
    monkeypatch.setenv("FMNIST_PROFILE", "smoke")
    fmnist.setup("96_decisions_test", quiet=True)
    log.plot()
    assert (scratch_home / "figures" / "smoke" / "96_decisions_test" / "decision_path.png").is_file()


def test_something_that_is_not_a_record_is_refused():
    with pytest.raises(FmnistError, match="not a registry record"):
        DecisionLog(rec("a", [0.9])).consider("oops", {"model": "x"})


def test_a_new_protocol_rebases_the_best_without_judging(capsys):
    log = DecisionLog(rec("start", [0.90, 0.902]))
    step = log.rebase("fewer epochs", rec("start_short", [0.88, 0.881]), "epochs=10")
    assert step.kind == "budget" and log.best["model"] == "start_short"
    assert "the new reference" in capsys.readouterr().out
    later = log.consider("dropout", rec("dropout", [0.89, 0.891]))
    assert later.kept  # judged against the re-measured best, not the longer run
    assert list(log.frame()["decision"]) == ["new reference", "kept"]
    with pytest.raises(FmnistError, match="not a registry record"):
        log.rebase("oops", {"model": "x"})
