"""Every evaluation on the test split, earlier ones included, and why each stage's number changed.

The test set is meant to be used once. When a stage's model changed and was tested again, the
earlier result stays on record: the registry keeps it in ``extra["earlier_tests"]`` of the stage's
test record (see `registry.record`), and `EARLIER` keeps the evaluations made before the registry in
use was started (a release runs the series from an empty registry), each with what was tested and
why its number differs from the stage's test before it. `RELEASE` says why this release's models
differ from the last ones tested. `frame` lays it all out for notebook 06: one row per evaluation,
oldest first per stage; a model tested again with the same weights (the same SHA-256) is the same
evaluation, not a second look.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class Test:
    """One earlier evaluation of a stage's model on the test split."""

    stage: str
    tested: str  # the date, YYYY-MM-DD
    model: str  # what was tested, in words
    accuracy: float
    sha256: str  # the first 12 hex digits of the SHA-256 of the model's weights
    why: str  # why its number differs from the stage's test before it


_FIRST = "first test"
_EARLIER_FULL = (
    Test("03_overfit", "2026-11-30", "the scaled-up convnet after 40 epochs", 0.9046, "cbd8d92bf203", _FIRST),
    Test("04_regularisation", "2026-11-30", "a model from a random-search draw, retrained on train + validation",
         0.9375, "b7a65491a1ff", _FIRST),
    Test("05_transfer_learning", "2026-11-30", "MobileNetV2 fine-tuned with plain cross-entropy", 0.9207,
         "cf30aa48d538", _FIRST),
    Test("05_transfer_learning", "2026-11-30", "MobileNetV2 fine-tuned with label smoothing, 8 epochs", 0.9343,
         "b98175b9413b", "fine-tuning changed to label smoothing, chosen on validation (plain cross-entropy "
                         "made the validation loss rise while accuracy still climbed)"),
    Test("01_baseline", "2026-12-03", "the dense network", 0.8787, "d474e59d94e2", _FIRST),
    Test("02_low_capacity_convnet", "2026-12-03", "the low-capacity convnet, 20 epochs", 0.8931, "8371592d8fbb",
         _FIRST),
    Test("03_overfit", "2026-12-03", "the scaled-up convnet after 40 epochs", 0.8998, "ea7d8bcd7b9a",
         "retrained with the same code and seeds; the weights came out different (results repeat exactly "
         "only on the same kind of machine)"),
    Test("04_regularisation", "2026-12-03", "another model (1.83M parameters, 12 epochs), retrained on "
         "train + validation", 0.9321, "abbf1787ad9d",
         "notebook 04 re-run from an empty registry: the search draw of the first model came before a "
         "seeding fix and does not repeat, and the paired rule arrived at another model"),
    Test("05_transfer_learning", "2026-12-03", "MobileNetV2 fine-tuned at 128 px with label smoothing, "
         "12 epochs", 0.9367, "879d3c22037d",
         "fine-tuning lengthened from 8 to 12 epochs, chosen on validation (every seed had used all 8)"),
)
_EARLIER_SMALL = (
    Test("01_baseline", "2026-12-07", "the dense network", 0.8580, "e33f20522eb8", _FIRST),
    Test("02_low_capacity_convnet", "2026-12-07", "the low-capacity convnet, 20 epochs", 0.8275, "4afdc870dc3c",
         _FIRST),
    Test("03_overfit", "2026-12-07", "the scaled-up convnet after 40 epochs", 0.8735, "93de8094c064", _FIRST),
    Test("04_regularisation", "2026-12-07", "the final model of notebook 04's search, retrained on "
         "train + validation", 0.9065, "fa6b03b1c982", _FIRST),
    Test("05_transfer_learning", "2026-12-07", "MobileNetV2 fine-tuned at 96 px with label smoothing, 12 epochs",
         0.9055, "d43c847f0a39", _FIRST),
)
EARLIER: dict[str, tuple[Test, ...]] = {"full": _EARLIER_FULL, "small": _EARLIER_SMALL}

RELEASE: dict[str, str] = {  # stage -> why this release's model differs from the stage's last test
    "01_baseline": "retrained by the release run (same code and seeds)",
    "02_low_capacity_convnet": "retrained by the release run, with early stopping that keeps the epoch of the "
                               "lowest validation loss",
    "03_overfit": "one seed trained until six epochs past its lowest validation loss, instead of the best of "
                  "three seeds after 40 epochs",
    "04_regularisation": "notebook 04 rebuilt: a new recipe chosen on validation, trained on the training split, "
                         "with the test-time steps it chose on validation inside the saved model",
    "05_transfer_learning": "fine-tuned for 6 epochs on randomly mirrored images, instead of 12 epochs without "
                            "(with flip averaging at test time where validation kept it)",
    "06_final_evaluation": "the ensemble of the final from-scratch and transfer models, kept on validation",
}

COLUMNS = ["stage", "evaluation", "tested", "model", "accuracy", "status", "why the number changed"]


def _description(data: dict, record: dict) -> str:
    """A registry test record's model in words: its record name, and what it was made from when recorded."""
    validation = next((r for r in data.get("records", []) if (r["stage"], r["model"]) == (record["stage"], record["model"])
                       and r.get("split") == "validation"), None)
    made_from = ((validation or {}).get("extra") or {}).get("from")
    return f"{record['model']} ({made_from})" if made_from else record["model"]


def frame(data: dict, profile: str | None = None):
    """The test history of registry `data` (`registry.read(profile)`) and of `EARLIER[profile]`, as a DataFrame.

    Columns: ``stage``, ``evaluation`` (1 = the stage's first test), ``tested`` (date), ``model`` (in
    words), ``accuracy``, ``status`` ("current" for each stage's latest test, "superseded" before it)
    and ``why the number changed``. Evaluations of the same weights (their SHA-256's first 12 digits)
    are one row: the earliest date, the description `EARLIER` gives, the status of the latest.
    """
    profile = profile or data.get("profile") or next(
        (r.get("profile") for r in data.get("records", []) if r.get("profile")), None)
    tests = [{"stage": t.stage, "tested": t.tested, "model": t.model, "accuracy": t.accuracy, "sha": t.sha256,
              "why": t.why} for t in EARLIER.get(profile, ())]
    latest = {}
    for record in sorted((r for r in data.get("records", []) if r.get("split") == "test"),
                         key=lambda r: r.get("time") or ""):
        extra = record.get("extra") or {}
        for earlier in extra.get("earlier_tests", []):
            tests.append({"stage": record["stage"], "tested": (earlier.get("time") or "")[:10], "model": record["model"],
                          "accuracy": earlier["accuracy"], "sha": (earlier.get("model_sha256") or "")[:12],
                          "why": None})
        current = {"stage": record["stage"], "tested": (record.get("time") or "")[:10],
                   "model": _description(data, record), "accuracy": record["accuracy"]["mean"],
                   "sha": (extra.get("model_sha256") or "")[:12], "why": None}
        tests.append(current)
        latest[record["stage"]] = current
    rows, seen = [], {}
    for test in tests:
        key = (test["stage"], test["sha"]) if test["sha"] else id(test)
        if key in seen:  # the same weights tested again: one evaluation, described by its first entry
            seen[key]["current"] |= any(test is t for t in latest.values())
            continue
        row = {**test, "current": any(test is t for t in latest.values())}
        seen[key] = row
        rows.append(row)
    out = []
    for stage in dict.fromkeys(r["stage"] for r in sorted(rows, key=lambda r: r["stage"])):
        mine = sorted((r for r in rows if r["stage"] == stage), key=lambda r: r["tested"])
        for number, row in enumerate(mine, 1):
            why = row["why"]
            if why is None:  # a registry test not in EARLIER: why it differs from the test before it
                why = _FIRST if number == 1 else RELEASE.get(stage, "the model changed since its last test")
            out.append({"stage": stage, "evaluation": number, "tested": row["tested"], "model": row["model"],
                        "accuracy": row["accuracy"], "status": "current" if row["current"] else "superseded",
                        "why the number changed": why})
    return pd.DataFrame(out, columns=COLUMNS)
