"""fmnist.learn.decisions: the paired rule, with a floor at the binomial standard error, behind every verdict."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import pytest  # noqa: E402

import fmnist  # noqa: E402
from fmnist.learn.decisions import DecisionLog, beats, compare, on_shared_seeds  # noqa: E402
from fmnist.errors import FmnistError  # noqa: E402
from fmnist.learn.registry import summarise  # noqa: E402


def rec(model, values, params=1000, images=5000, seeds=None):
    seeds = list(range(len(values))) if seeds is None else seeds
    return {"model": model, "params": params, "accuracy": summarise(values), "seeds": seeds,
            "extra": {"validation_images": images}}


def test_a_gain_below_the_binomial_standard_error_is_refused_even_when_both_seeds_agree_exactly():
    """Iteration 13 of an old run: both seeds +0.0043 exactly (SD 0), 5,000 images: SE ~0.0046."""
    best = rec("best", [0.8785, 0.8785])
    candidate = rec("tuned", [0.8828, 0.8828])
    verdict = compare(candidate, best)
    assert verdict.paired_se == 0.0
    assert verdict.difference == pytest.approx(0.0043)
    assert verdict.binomial_se == pytest.approx((0.8785 * 0.1215 / 5000) ** 0.5)
    assert verdict.margin == verdict.binomial_se > verdict.difference
    assert not verdict.kept
    assert "not clearly better" in verdict.sentence() and "5,000 validation images" in verdict.sentence()


def test_a_gain_beyond_both_noise_terms_is_kept():
    kept, diff, margin = beats(rec("b", [0.93, 0.931]), rec("a", [0.90, 0.901]))
    assert kept and diff == pytest.approx(0.03) and margin == pytest.approx((0.9005 * 0.0995 / 5000) ** 0.5)


def test_the_difference_is_paired_seed_by_seed():
    """Seeds that move together: a consistent gain with a large spread between seeds is still paired."""
    best = rec("a", [0.88, 0.92, 0.90], images=100_000)
    candidate = rec("b", [0.886, 0.926, 0.906], images=100_000)
    verdict = compare(candidate, best)
    assert verdict.paired_se == pytest.approx(0.0, abs=1e-12) and verdict.kept
    noisy = compare(rec("c", [0.92, 0.88, 0.918], images=100_000), best)  # same mean gain, no pairing
    assert noisy.paired_se > 0.01 and not noisy.kept


def test_the_margin_is_never_zero():
    kept, diff, margin = beats(rec("b", [0.9001]), rec("a", [0.90]))
    assert margin > 0.001 and not kept
    assert not beats(rec("b", [0.90]), rec("a", [0.90]))[0]


def test_different_seeds_or_images_are_refused():
    with pytest.raises(FmnistError, match="same seeds"):
        compare(rec("b", [0.9, 0.9], seeds=[2, 3]), rec("a", [0.9, 0.9]))
    with pytest.raises(FmnistError, match="different numbers of validation images"):
        compare(rec("b", [0.9, 0.9], images=2500), rec("a", [0.9, 0.9]))
    with pytest.raises(FmnistError, match="different numbers of validation images"):
        compare(rec("b", [0.9, 0.9]), rec("a", [0.9, 0.9]), images=10_000)
    unrecorded = {"model": "x", "accuracy": summarise([0.9, 0.9]), "seeds": [0, 1]}
    with pytest.raises(FmnistError, match="pass images=len"):
        compare(unrecorded, dict(unrecorded, model="y"))
    assert compare(unrecorded, dict(unrecorded, model="y"), images=10_000).images == 10_000
    with pytest.raises(FmnistError, match="which seed gave which"):
        compare({"model": "x", "accuracy": summarise([0.9]), "seeds": None}, rec("a", [0.9]))
    fingerprinted = rec("b", [0.9, 0.9])
    fingerprinted["extra"]["data_sha256"] = "1"
    other = rec("a", [0.9, 0.9])
    other["extra"]["data_sha256"] = "2"
    with pytest.raises(FmnistError, match="different images"):
        compare(fingerprinted, other)


def test_log_follows_the_best_and_prints_each_verdict_in_words(capsys, scratch_home, monkeypatch):
    log = DecisionLog(rec("start", [0.90, 0.902, 0.901]))
    assert log.judge("dropout", rec("dropout", [0.92, 0.921, 0.919]))
    assert not log.judge("tiny tweak", rec("tweak", [0.921, 0.92, 0.922]))  # within the noise of the new best
    assert not log.judge("worse", rec("worse", [0.85, 0.86, 0.855]))
    assert [s.kept for s in log.steps] == [True, False, False]
    assert log.best["model"] == "dropout"
    out = capsys.readouterr().out
    assert " 1. dropout: 0.9200 (+0.0190 vs start, margin 0.0042) -> ✓ kept" in out
    assert "3. worse" in out and "✗ rolled back" in out
    table = log.frame()
    assert list(table["decision"]) == ["✓ kept", "✗ rolled back", "✗ rolled back"]
    assert list(table["iteration"]) == [1, 2, 3]
    monkeypatch.setenv("FMNIST_PROFILE", "smoke")
    fmnist.setup("96_decisions_test", quiet=True)
    log.plot()
    assert (scratch_home / "figures" / "smoke" / "96_decisions_test" / "decision_path.png").is_file()


def test_something_that_is_not_a_record_is_refused():
    with pytest.raises(FmnistError, match="not a registry record"):
        DecisionLog(rec("a", [0.9])).judge("oops", {"model": "x"})
    with pytest.raises(FmnistError, match="better.*cheaper"):
        DecisionLog(rec("a", [0.9])).judge("oops", rec("b", [0.9]), aim="faster")


def test_a_cheaper_change_is_kept_when_no_worse_and_faster(capsys):
    start = rec("start", [0.90])
    start["extra"]["seconds_per_epoch"], start["train_seconds"] = 10.0, 100.0
    log = DecisionLog(start)
    cheaper = rec("s2d", [0.899])  # 0.001 worse: within the margin of 5,000 images
    cheaper["extra"]["seconds_per_epoch"], cheaper["train_seconds"] = 4.0, 40.0
    assert log.judge("cheaper stem", cheaper, aim="cheaper")
    assert "4.0 vs 10.0 s/epoch" in capsys.readouterr().out
    slower = rec("slow", [0.95])
    slower["extra"]["seconds_per_epoch"] = 20.0
    assert not log.judge("a slower one", slower, aim="cheaper")  # more accurate, but the aim was speed
    much_worse = rec("bad", [0.80])
    much_worse["extra"]["seconds_per_epoch"] = 1.0
    assert not log.judge("fast but worse", much_worse, aim="cheaper")


def test_each_step_shows_its_cost_beside_its_gain(capsys):
    log = DecisionLog(rec("start", [0.90, 0.902]))
    costly = rec("wide", [0.93, 0.931])
    costly["train_seconds"] = 120.0  # per seed
    costly["extra"]["seconds_per_epoch"] = 8.0
    log.judge("wider", costly)
    log.judge("unrecorded cost", rec("other", [0.80, 0.81]))
    assert "margin 0.0042; 240 s of training, 8.0 s/epoch) -> ✓ kept" in capsys.readouterr().out
    table = log.frame()
    assert table["train s"].iloc[0] == 240.0 and table["s/epoch"].iloc[0] == 8.0
    assert table["train s"].isna().iloc[1]  # a record without timings shows no made-up cost


def test_records_on_different_seeds_are_paired_on_the_seeds_they_share():
    final, overfit = on_shared_seeds(rec("final", [0.93, 0.94, 0.935]), rec("overfit", [0.90], seeds=[0]))
    assert final["seeds"] == overfit["seeds"] == [0] and final["accuracy"]["values"] == [0.93]
    assert compare(final, overfit).kept
    with pytest.raises(FmnistError, match="share no seed"):
        on_shared_seeds(rec("a", [0.9], seeds=[1]), rec("b", [0.9], seeds=[0]))
