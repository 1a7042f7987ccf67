"""Reproduction: does a re-run's registry hold the numbers of the committed one?

To check that the committed numbers come from the committed code, run the notebooks again from an
empty registry (in another checkout, or with ``FMNIST_HOME`` pointing at one) and compare the two
registries record by record. A record is *reproduced* when the same seeds gave exactly the same
per-seed accuracies and losses after the same numbers of epochs; otherwise it *differs*, and the
row shows the largest per-seed gap in accuracy. Records only one side holds are listed too: a re-run
stopped part-way holds fewer. Determinism holds per machine, so the CPUs each side ran on are named.
``fmnist report --compare PATH`` prints the comparison and exits 1 when a shared record differs.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from fmnist.learn import registry
from fmnist.errors import FmnistError

KEY = ("stage", "model", "split")
REPRODUCED, DIFFERS = "reproduced", "differs"
ONLY_REFERENCE, ONLY_RERUN = "only in the reference", "only in the re-run"


def _key(record: dict) -> tuple:
    return tuple(record.get(part) for part in KEY)


def _values(summary: dict | None) -> list:
    return list((summary or {}).get("values") or [])


def _chosen(records: list[dict], stage: str | None) -> dict[tuple, dict]:
    """The records of `stage` by key: its full name, its two digits or its name after them, as
    `fmnist run --only` takes them (``04``, ``04_regularisation``, ``regularisation``); all for None."""
    return {_key(r): r for r in records if stage is None or stage in registry.stage_names(str(r.get("stage", "")))}


def _largest_gap(a: list, b: list) -> float:
    if len(a) != len(b) or not a:
        return math.nan
    return max(abs(x - y) for x, y in zip(a, b))


def _verdict(reference: dict, rerun: dict) -> str:
    same = (reference.get("seeds") == rerun.get("seeds")
            and _values(reference["accuracy"]) == _values(rerun["accuracy"])
            and _values(reference.get("loss")) == _values(rerun.get("loss"))
            and reference.get("epochs") == rerun.get("epochs"))
    return REPRODUCED if same else DIFFERS


def compare(reference: dict, rerun: dict, stage: str | None = None) -> list[dict]:
    """One row per stage, model and split of either registry: the re-run's records in their order
    (the order they were made), then those only the reference holds."""
    ours, theirs = _chosen(reference.get("records", []), stage), _chosen(rerun.get("records", []), stage)
    rows = []
    for key in list(theirs) + [key for key in ours if key not in theirs]:
        row = dict(zip(KEY, key))
        old, new = ours.get(key), theirs.get(key)
        if old is None or new is None:
            row["verdict"] = ONLY_RERUN if old is None else ONLY_REFERENCE
        else:
            row.update(reference=_values(old["accuracy"]), rerun=_values(new["accuracy"]),
                       largest_gap=_largest_gap(_values(old["accuracy"]), _values(new["accuracy"])),
                       verdict=_verdict(old, new))
        rows.append(row)
    return rows


def _cpus(records: list[dict]) -> str:
    found = sorted({f"{(r.get('provenance') or {}).get('cpu') or 'CPU not recorded'}, "
                    f"{r.get('backend') or 'backend not recorded'}" for r in records})
    return "; ".join(found) or "no records"


def _per_seed(values: list) -> str:
    return ", ".join(f"{value:.4f}" for value in values)


def as_text(rows: list[dict], reference: dict, rerun: dict, stage: str | None = None) -> str:
    """The comparison as a table, the machines each side ran on, and a one-line verdict."""
    if not rows:
        return f"Neither registry holds a record{f' of stage {stage}' if stage else ''}.\n"
    table = pd.DataFrame([{
        "stage": row["stage"], "model": row["model"], "split": row["split"],
        "reference": _per_seed(row.get("reference", [])), "re-run": _per_seed(row.get("rerun", [])),
        "largest gap": ("" if "largest_gap" not in row else "seeds differ" if math.isnan(row["largest_gap"])
                        else f"{row['largest_gap']:.4f}" if row["largest_gap"] else "0"),
        "verdict": row["verdict"],
    } for row in rows])
    counts = {verdict: sum(row["verdict"] == verdict for row in rows)
              for verdict in (REPRODUCED, DIFFERS, ONLY_REFERENCE, ONLY_RERUN)}
    shared = counts[REPRODUCED] + counts[DIFFERS]
    keys = {_key(row) for row in rows}
    lines = [table.to_string(index=False), "",
             f"reference ran on: {_cpus([r for r in reference.get('records', []) if _key(r) in keys])}",
             f"re-run ran on:    {_cpus([r for r in rerun.get('records', []) if _key(r) in keys])}",
             f"{counts[REPRODUCED]} of {shared} record(s) both hold reproduced exactly, {counts[DIFFERS]} differ; "
             f"{counts[ONLY_REFERENCE]} only in the reference, {counts[ONLY_RERUN]} only in the re-run."]
    return "\n".join(lines) + "\n"


def read_rerun(path: str | Path) -> dict:
    """The re-run's registry at `path`: unlike the committed one, it must exist."""
    path = Path(path)
    if not path.is_file():
        raise FmnistError(f"{path}: no such registry. Give the results/<profile>.json that the re-run "
                          f"wrote (e.g. /elsewhere/results/full.json).")
    return registry.read("", path)
