"""Every evaluation on the test split the registry holds, superseded ones included, with verdicts.

The test set is meant to be used once. When a stage's model changed and was tested again, the
registry keeps the earlier result in ``extra["earlier_tests"]`` (see `registry.record`); this module
lays the whole history out, oldest first per stage, with the McNemar verdicts recorded beside each
evaluation (``extra["verdicts"]``: other stage -> verdict and p-value).
"""

from __future__ import annotations

import pandas as pd


def _verdicts(extra: dict) -> str:
    verdicts = (extra or {}).get("verdicts") or {}
    return "; ".join(f"vs {other}: {v['verdict']} (p = {v['p_value']:.2g})" for other, v in verdicts.items())


def frame(data: dict):
    """The test history of a registry `data` (`registry.read(profile)`) as a DataFrame.

    Columns: ``stage``, ``evaluation`` (1 = first test of that stage), ``tested`` (date),
    ``accuracy``, ``status`` ("current" or "superseded"), ``verdicts`` and ``model`` (first 12
    characters of the weights' SHA-256, to tell the models apart).
    """
    rows = []
    for record in data.get("records", []):
        if record.get("split") != "test":
            continue
        extra = record.get("extra") or {}
        tests = [(earlier, "superseded") for earlier in extra.get("earlier_tests", [])]
        tests.append(({"accuracy": record["accuracy"]["mean"], "time": record.get("time"),
                       "model_sha256": extra.get("model_sha256"), "verdicts": extra.get("verdicts")}, "current"))
        for number, (test, status) in enumerate(tests, 1):
            rows.append({"stage": record["stage"], "evaluation": number, "tested": (test.get("time") or "")[:10],
                         "accuracy": test["accuracy"], "status": status, "verdicts": _verdicts(test),
                         "model": (test.get("model_sha256") or "")[:12]})
    return pd.DataFrame(rows, columns=["stage", "evaluation", "tested", "accuracy", "status", "verdicts", "model"])
