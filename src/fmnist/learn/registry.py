"""The results registry: what every stage measured, one JSON file per profile.

``results/<profile>.json`` holds ``records`` (one per stage, model and split, with the
values of every seed, their mean and standard deviation, and where they were produced)
and ``runs`` (the wall time of each notebook run). Writes are atomic: a crash leaves the
previous file whole. `fmnist report` prints it as a table or JSON; README's Markdown
results section is `fmnist.series.readme`'s.
"""

from __future__ import annotations

import fcntl
import json
import re
import statistics
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from fmnist import paths
from fmnist.errors import FmnistError
from fmnist.learn import environment
from fmnist.learn.profiles import get_profile

SCHEMA = 1


def now() -> str:
    """The current time in UTC, as the registry writes it (ISO 8601, seconds)."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _empty() -> dict:
    return {"schema": SCHEMA, "records": [], "runs": []}


RECORD_FIELDS = ("stage", "model", "split", "accuracy")  # what every record needs to be shown or found
RUN_FIELDS = ("stage", "seconds", "status", "time")


def _recovery(path: Path) -> str:
    """What to do about a damaged registry, naming its path as git and the shell need it."""
    root = paths.repo_root()
    shown = path.resolve().relative_to(root) if path.resolve().is_relative_to(root) else path
    return (f"Restore the committed version with `git checkout -- {shown}`, or delete {shown} "
            f"and re-run the notebooks (`fmnist run`).")


def read(profile: str, path: Path | None = None) -> dict:
    """The registry of a profile (empty if nothing was recorded yet).

    A file that is not UTF-8, not JSON, or JSON of another shape raises `FmnistError` in one line
    saying what is wrong and how to recover, instead of a traceback from wherever it is first used.
    """
    path = Path(path) if path else paths.results_file(profile)
    if not path.exists():
        return _empty()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except PermissionError:
        raise FmnistError(f"{path}: permission denied; make it readable (`chmod u+r {path}`) "
                          f"or run as its owner.") from None
    except UnicodeDecodeError as exc:
        raise FmnistError(f"{path}: not UTF-8 text (byte {exc.start}), so not a results registry. "
                          f"{_recovery(path)}") from None
    except json.JSONDecodeError as exc:
        raise FmnistError(f"{path}: not valid JSON ({exc}). {_recovery(path)}") from None
    problem = _shape_problem(data)
    if problem:
        raise FmnistError(f"{path}: valid JSON but not a results registry ({problem}). {_recovery(path)}")
    data.setdefault("records", [])
    data.setdefault("runs", [])
    return data


def _shape_problem(data) -> str | None:
    """What makes `data` not a registry ({"records": [...], "runs": [...]}), or None."""
    if not isinstance(data, dict):
        return f"a JSON {type(data).__name__ if data is not None else 'null'} instead of an object"
    for key, fields in (("records", RECORD_FIELDS), ("runs", RUN_FIELDS)):
        entries = data.get(key, [])
        if not isinstance(entries, list):
            return f"{key!r} is not a list"
        for number, entry in enumerate(entries, 1):
            if not isinstance(entry, dict):
                return f"{key} entry {number} is not an object"
            missing = [f for f in fields if f not in entry]
            if missing:
                return f"{key} entry {number} has no {', '.join(repr(f) for f in missing)}"
        if key == "records":
            for number, entry in enumerate(entries, 1):
                summary = entry["accuracy"]
                if not (isinstance(summary, dict) and "mean" in summary and "values" in summary):
                    return f"records entry {number} has an accuracy without 'mean' and 'values'"
    return None


@contextmanager
def _locked(profile: str, path: Path | None):
    """Hold an exclusive lock on the registry while it is read, changed and written."""
    target = Path(path) if path else paths.results_file(profile)
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.with_name(f".{target.name}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def write(data: dict, profile: str, path: Path | None = None) -> Path:
    """Write a registry atomically."""
    path = Path(path) if path else paths.results_file(profile)
    return paths.write_text_atomic(path, json.dumps(data, indent=1, sort_keys=False) + "\n")


def summarise(values) -> dict:
    """Mean and sample standard deviation (0 for a single value) of per-seed values."""
    values = [float(v) for v in values]
    if not values:
        raise ValueError("summarise() needs at least one value")
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return {"mean": statistics.fmean(values), "std": std, "values": values}


def record(stage: str, model: str, split: str, accuracy, loss=None, *, seeds=None, params=None,
           epochs=None, train_seconds=None, profile: str | None = None, extra: dict | None = None,
           path: Path | None = None) -> dict:
    """Record one measurement (replacing an earlier one of the same stage, model and split).

    `accuracy` and `loss` are one value per seed (or a single number). Backend, device,
    library versions and time are added here, so no result is stored without them.
    """
    profile_name = get_profile(profile).name
    entry = {
        "stage": stage, "model": model, "split": split,
        "accuracy": summarise(np.atleast_1d(accuracy)),
        "loss": summarise(np.atleast_1d(loss)) if loss is not None else None,
        "seeds": list(seeds) if seeds is not None else None,
        "params": int(params) if params is not None else None,
        "epochs": epochs, "train_seconds": train_seconds,
        "profile": profile_name, **environment.describe(), "time": now(),
    }
    if extra:
        entry["extra"] = extra
    with _locked(profile_name, path):
        data = read(profile_name, path)
        key = (stage, model, split)
        previous = next((r for r in data["records"] if (r["stage"], r["model"], r["split"]) == key), None)
        if split == "test" and previous is not None:
            _keep_earlier_test(previous, entry)
        data["records"] = [r for r in data["records"] if (r["stage"], r["model"], r["split"]) != key] + [entry]
        write(data, profile_name, path)
    return entry


def _keep_earlier_test(previous: dict, entry: dict) -> None:
    """Carry a replaced test result of a *different* model into ``extra["earlier_tests"]``.

    The test set is meant to be used once; if a stage's model changes and is tested again, the
    earlier result must stay on record beside the new one, not vanish. Models are told apart by
    ``extra["model_sha256"]``; a record without it counts as the same evaluation when its
    accuracy and loss are identical (a re-run that read cached predictions).
    """
    before, now_extra = previous.get("extra") or {}, entry.get("extra") or {}
    earlier = list(before.get("earlier_tests", []))
    if "model_sha256" in before:
        same = before["model_sha256"] == now_extra.get("model_sha256")
    else:
        same = previous["accuracy"] == entry["accuracy"] and previous.get("loss") == entry.get("loss")
    if not same:
        earlier.append({"accuracy": previous["accuracy"]["mean"],
                        "loss": (previous.get("loss") or {}).get("mean"),
                        "time": previous.get("time"), "model_sha256": before.get("model_sha256"),
                        **({"verdicts": before["verdicts"]} if "verdicts" in before else {})})
    if earlier:
        entry["extra"] = {**now_extra, "earlier_tests": earlier}


REMEASURED = ("validation", "train+validation")  # what a stage's run measures afresh each time


def drop_stale(stage: str, since: str, profile: str, path: Path | None = None) -> list[str]:
    """Forget the stage's validation results recorded before `since` (an ISO time); return their models.

    Called after a notebook ran through: a model the new version no longer trains must not
    stay in the results table beside the ones it does. Screening records stay (they are a
    cache that notebook 04 reuses), and so do test records (notebook 06 owns them).
    """
    with _locked(profile, path):
        data = read(profile, path)
        stale = [r for r in data["records"]
                 if r["stage"] == stage and r["split"] in REMEASURED and r["time"] < since]
        if stale:
            data["records"] = [r for r in data["records"] if not any(r is s for s in stale)]
            write(data, profile, path)
    return [r["model"] for r in stale]


def record_run(stage: str, seconds: float, status: str, profile: str, backend: str | None = None,
               device: str | None = None, path: Path | None = None, commit: str | None = None,
               cpu: str | None = None) -> dict:
    """Record how long a notebook took to run, whether it succeeded, where and from which commit it ran.

    `commit` is the code's commit, with "+modified" when tracked files other than the series' outputs
    differed from it (`fmnist.learn.environment.code_version`); `cpu` the CPU model (`environment.cpu`).
    """
    entry = {"stage": stage, "seconds": round(float(seconds), 1), "status": status, "profile": profile,
             "backend": backend, "device": device, "cpu": cpu, "commit": commit, "time": now()}
    with _locked(profile, path):
        data = read(profile, path)
        data["runs"] = [r for r in data["runs"] if r["stage"] != stage] + [entry]
        write(data, profile, path)
    return entry


def _fmt(summary: dict | None, digits: int = 4) -> str:
    if not summary:
        return ""
    if len(summary["values"]) > 1:
        return f"{summary['mean']:.{digits}f} ± {summary['std']:.{digits}f}"
    return f"{summary['mean']:.{digits}f}"


def _fmt_epochs(epochs) -> str:
    """Epochs per seed: one number when all seeds ran as long, else each of them."""
    if epochs is None:
        return ""
    if isinstance(epochs, (list, tuple)):
        return str(epochs[0]) if len(set(epochs)) == 1 else ", ".join(str(e) for e in epochs)
    return str(epochs)


SCREEN = "screen"  # notebook 04's screening runs: shown in its decision log, not in the results table


def stage_names(stage: str) -> tuple[str, str, str]:
    """The names a stage answers to on the command line: ``04_regularisation``, ``04``, ``regularisation``."""
    return stage, stage[:2], stage[3:]


def rows(data: dict) -> list[dict]:
    """The registry's records as flat rows for a table (screening runs left out), in series order:
    every stage's own records first, then the test records of notebook 06, each stage's rows in the
    order they were recorded. A notebook re-run alone appends its records; its rows keep their place.
    """
    out = []
    for r in sorted(data["records"], key=lambda r: (r["split"] == "test", r["stage"])):
        if r["split"] == SCREEN:
            continue
        out.append({
            "stage": r["stage"], "model": r["model"], "split": r["split"],
            "accuracy": _fmt(r["accuracy"]), "loss": _fmt(r.get("loss")),
            "seeds": len(r["accuracy"]["values"]),
            "params": f"{r['params']:,}" if r.get("params") is not None else "",
            "epochs": _fmt_epochs(r.get("epochs")),
            "train s/seed": "" if r.get("train_seconds") is None else f"{r['train_seconds']:.0f}",
            "backend": r.get("backend", ""), "device": r.get("device", ""),
        })
    return out


def short_cpu(name: str) -> str:
    """A CPU model as the runs table shows it: without trademarks, "CPU", "Processor" and the clock
    ("Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz" -> "Intel Xeon Platinum 8375C")."""
    name = re.sub(r"\((R|TM|tm)\)|\bCPU\b|\bProcessor\b|@.*$", " ", name)
    return " ".join(name.split()) or "unknown"


def run_cpu(run: dict, records: list[dict]) -> str:
    """The CPU model a notebook run had: recorded with the run, else named by the records it wrote.

    Runs recorded before they carried it name no CPU; every record does (``provenance.cpu``), and the
    records written while the notebook ran (their times within its wall time) are the run's own:
    the stage's records first, else any (notebook 06 records the other stages' test results).
    """
    if run.get("cpu"):
        return run["cpu"]
    try:
        end = datetime.fromisoformat(run["time"])
    except (KeyError, TypeError, ValueError):
        return "not recorded"
    start = end - timedelta(seconds=float(run.get("seconds") or 0))
    during = []
    for record in records:
        try:
            written = datetime.fromisoformat(record.get("time") or "")
        except ValueError:
            continue
        if start <= written <= end and (record.get("provenance") or {}).get("cpu"):
            during.append(record)
    own = [r for r in during if r["stage"] == run["stage"]] or during
    return ", ".join(dict.fromkeys(r["provenance"]["cpu"] for r in own)) or "not recorded"


def run_rows(data: dict) -> list[dict]:
    """The notebook runs, one row each in series order (whenever each ran): how long, where, from which code."""
    records = data.get("records", [])
    return [{"notebook": r["stage"], "status": r["status"], "wall time": f"{r['seconds']:.0f} s",
             "backend": r.get("backend") or "", "device": r.get("device") or "",
             "CPU": ", ".join(short_cpu(c) for c in run_cpu(r, records).split(", ")),
             "commit": r.get("commit") or "not recorded", "finished": r["time"]}
            for r in sorted(data.get("runs", []), key=lambda r: r["stage"])]


_SHORT_SPLITS = {"validation": "val", "train+validation": "train+val"}


def as_text(data: dict) -> str:
    """The records and the notebook runs as plain-text tables, in series order, for a terminal.

    Narrower than the Markdown of `fmnist.series.readme` (about 110 characters): a stage by its number,
    short split names, the loss without its spread over seeds, no backend and device per record (the
    runs say where each notebook ran) and no commit per run (`fmnist report --provenance` gives them).
    """
    table = [{"stage": r["stage"][:2], "model": r["model"], "split": _SHORT_SPLITS.get(r["split"], r["split"]),
              "accuracy": r["accuracy"], "loss": r["loss"].split(" ± ")[0], "seeds": r["seeds"], "params": r["params"],
              "epochs": r["epochs"], "s/seed": r["train s/seed"]} for r in rows(data)]
    parts = [_text_table(table) if table else "No results recorded yet."]
    runs = [{**{k: v for k, v in r.items() if k != "commit"}, "finished": r["finished"][:16].replace("T", " ")}
            for r in run_rows(data)]
    if runs:
        parts.append("Notebook runs:\n" + _text_table(runs))
    return "\n\n".join(parts) + "\n"


def _text_table(table: list[dict]) -> str:
    """Columns left-aligned, two spaces apart."""
    columns = list(table[0])
    widths = {c: max(len(c), *(len(str(row[c])) for row in table)) for c in columns}
    lines = ["  ".join(c.ljust(widths[c]) for c in columns)]
    lines += ["  ".join(str(row[c]).ljust(widths[c]) for c in columns) for row in table]
    return "\n".join(line.rstrip() for line in lines)


def get(stage: str, model: str, split: str = "validation", profile: str | None = None) -> dict:
    """One record of the active (or given) profile; an error naming the notebook to run if absent."""
    profile_name = get_profile(profile).name
    for entry in read(profile_name)["records"]:
        if (entry["stage"], entry["model"], entry["split"]) == (stage, model, split):
            return entry
    raise FmnistError(
        f"No {split} result for model {model!r} of {stage} in results/{profile_name}.json. "
        f"Run that notebook first: `fmnist run --profile {profile_name} --only {stage[:2]}`."
    )


def frame(stage: str | None = None, profile: str | None = None, split: str | None = "validation"):
    """The records of a profile (optionally one stage) as a pandas DataFrame, one row per model.

    Validation records only by default: once notebook 06 has run, the registry also holds each
    stage's test record, and a stage's own notebook must not show it (the test set is 06's, once).
    `split=None` gives every record.
    """
    data = read(get_profile(profile).name)
    chosen = [r for r in data["records"]
              if (stage is None or r["stage"] == stage) and (split is None or r["split"] == split)]
    table = pd.DataFrame([{
        "stage": r["stage"], "model": r["model"], "split": r["split"], "params": r.get("params"),
        "s/epoch": (r.get("extra") or {}).get("seconds_per_epoch"),
        "accuracy": r["accuracy"]["mean"], "std": r["accuracy"]["std"], "seeds": len(r["accuracy"]["values"]),
    } for r in chosen])
    return table


def annotate(stage: str, model: str, split: str, profile: str | None = None, path: Path | None = None,
             **extra) -> dict:
    """Add `extra` items to a recorded measurement (notebook 04 writes each verdict beside its run)."""
    profile_name = get_profile(profile).name
    with _locked(profile_name, path):
        data = read(profile_name, path)
        entry = next((r for r in data["records"] if (r["stage"], r["model"], r["split"]) == (stage, model, split)), None)
        if entry is None:
            raise FmnistError(f"No record of {stage} / {model} / {split} in results/{profile_name}.json to annotate.")
        entry["extra"] = {**(entry.get("extra") or {}), **extra}
        write(data, profile_name, path)
    return entry
