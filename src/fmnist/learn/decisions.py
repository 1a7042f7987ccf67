"""The series' one noise rule: is a candidate better than the best, computed from recorded results.

Every "better than" verdict of the series (02 against the baseline, 03 against 02, each change of
04, 05 against 04) is `compare(candidate, best)`, and notebook 04's keep-or-roll-back log is built
on it. The notebooks never type a verdict by hand.

**The rule (paired, with a floor).** Both models must have been trained on the *same seeds* and
validated on the *same images*; otherwise `compare` refuses. For each seed s the paired difference
d_s = candidate_s - best_s removes what the two runs share (the initialisation and data order
drawn from s, the same hard images). The candidate is kept when the mean difference exceeds

    margin = max(SD(d) / sqrt(k),  sqrt(p (1 - p) / n))

- SD(d)/sqrt(k) is the standard error of the mean paired difference over the k seeds: the seed
  noise, measured;
- sqrt(p(1-p)/n) is the binomial standard error of an accuracy p on the n validation images:
  the noise of *which images* were drawn, which no number of seeds can measure because every
  seed sees the same images. With two seeds SD(d) can be 0 (both seeds moved by exactly the same
  amount, as iteration 13 of an earlier run of notebook 04 did); the floor keeps the margin from
  ever being zero, so a gain of a few images out of thousands is never called progress.

**Why not McNemar on pooled predictions.** It needs every seed's predictions on the validation
images, which the registry does not keep (it keeps per-seed accuracies); the paired difference
works from what every stage records. It is also the more conservative of the two for small gains:
on the same images the standard error of a paired difference of accuracies is sqrt(discordant)/n,
usually well under the binomial floor used here. This is a screening rule (about one standard
error), not a significance test; notebook 06 tests the final models on the test set with McNemar.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field

from fmnist.errors import FmnistError


@dataclass(frozen=True)
class Verdict:
    """What `compare` computed: the paired gain, the two noise terms, the margin and the verdict."""

    candidate: str
    best: str
    seeds: tuple
    images: int
    candidate_mean: float
    best_mean: float
    difference: float  # mean paired difference over seeds
    paired_se: float  # SD of the paired differences / sqrt(seeds)
    binomial_se: float  # sqrt(p (1 - p) / images), p the best's mean accuracy
    margin: float
    kept: bool

    def sentence(self) -> str:
        """One sentence a notebook can print: what was compared, the numbers and the verdict."""
        noise = ("the binomial standard error of the validation images" if self.binomial_se >= self.paired_se
                 else "the standard error of the paired differences over seeds")
        verdict = ("clearly better" if self.kept else
                   "not clearly better (within the noise)" if self.difference > -self.margin else "worse")
        return (f"{self.candidate} vs {self.best}: {self.candidate_mean:.4f} vs {self.best_mean:.4f}, paired gain "
                f"{self.difference:+.4f} over seeds {list(self.seeds)} on the same {self.images:,} validation images; "
                f"margin {self.margin:.4f} ({noise}) -> {verdict}")


def _seed_values(record: dict) -> dict:
    if "accuracy" not in record:
        raise FmnistError(f"{record.get('model', record)!r}: not a registry record (no accuracy); "
                          f"pass registry.get(...)")
    values = record["accuracy"]["values"]
    seeds = record.get("seeds")
    if seeds is None or len(seeds) != len(values):
        raise FmnistError(f"{record['model']!r}: the record does not say which seed gave which accuracy, "
                          f"so it cannot be paired; record it with seeds=[...]")
    return dict(zip(seeds, values))


def _images(record: dict) -> int | None:
    return (record.get("extra") or {}).get("validation_images")


def compare(candidate: dict, best: dict, images: int | None = None) -> Verdict:
    """The paired verdict on two registry records (see the module docstring for the rule).

    `images` is the number of validation images both were measured on; records that store
    ``extra["validation_images"]`` (notebook 04's screen) need not pass it, and a stored number
    that differs from the other record's or from `images` is refused, as are different seeds.
    """
    ours, theirs = _seed_values(candidate), _seed_values(best)
    if set(ours) != set(theirs):
        raise FmnistError(f"{candidate['model']!r} (seeds {sorted(ours)}) and {best['model']!r} (seeds "
                          f"{sorted(theirs)}) were not trained on the same seeds: train both on the same "
                          f"seeds to compare them")
    stored = {n for n in (_images(candidate), _images(best)) if n is not None}
    if images is not None:
        stored.add(int(images))
    if len(stored) != 1:
        raise FmnistError(f"{candidate['model']!r} vs {best['model']!r}: " + (
            f"measured on different numbers of validation images ({sorted(stored)}): compare on the same images"
            if stored else "the number of validation images is not recorded: pass images=len(split.y_val)"))
    n = stored.pop()
    for key in ("data_sha256",):
        fingerprints = {(r.get("extra") or {}).get(key) for r in (candidate, best)}
        if len(fingerprints) > 1 and None not in fingerprints:
            raise FmnistError(f"{candidate['model']!r} vs {best['model']!r}: measured on different images")
    seeds = tuple(sorted(ours))
    differences = [ours[s] - theirs[s] for s in seeds]
    difference = statistics.fmean(differences)
    paired_se = statistics.stdev(differences) / math.sqrt(len(seeds)) if len(seeds) > 1 else 0.0
    p = min(max(statistics.fmean(theirs.values()), 1.0 / n), 1.0 - 1.0 / n)  # never a zero floor
    binomial_se = math.sqrt(p * (1 - p) / n)
    margin = max(paired_se, binomial_se)
    return Verdict(candidate["model"], best["model"], seeds, n, statistics.fmean(ours.values()),
                   statistics.fmean(theirs.values()), difference, paired_se, binomial_se, margin,
                   difference > margin)


@dataclass
class Step:
    """One iteration: what changed, what it scored, and whether it was kept."""

    iteration: int
    change: str
    model: str
    params: int | None
    mean: float
    std: float
    seeds: int
    difference: float
    margin: float
    kept: bool
    parameters: str = ""
    kind: str = "change"  # or "budget": the protocol changed and the best was re-measured under it
    seconds: float | None = None  # training time of the run, all seeds together: the step's cost
    seconds_per_epoch: float | None = None


def _cost(record: dict) -> tuple[float | None, float | None]:
    """(training seconds over all seeds, seconds per epoch) of a record, None where not recorded."""
    per_seed = record.get("train_seconds")
    total = per_seed * len(record["accuracy"]["values"]) if per_seed is not None else None
    return total, (record.get("extra") or {}).get("seconds_per_epoch")


def _cost_text(step: "Step") -> str:
    return f"; {step.seconds:.0f} s of training" if step.seconds is not None else ""


def beats(candidate: dict, best: dict, images: int | None = None) -> tuple[bool, float, float]:
    """(kept, paired difference, margin) of `compare`: kept when the difference exceeds the margin."""
    verdict = compare(candidate, best, images)
    return verdict.kept, verdict.difference, verdict.margin


@dataclass
class DecisionLog:
    """The path of iterations from a starting record, with the current best."""

    start: dict
    steps: list[Step] = field(default_factory=list)

    def __post_init__(self):
        self.best = self.start

    def consider(self, change: str, record: dict, parameters: str = "", against: dict | None = None,
                 images: int | None = None) -> Step:
        """Judge `record` (a registry entry) against the current best, keep it or roll it back.

        `parameters` says, for the log, what exactly was changed (e.g. ``"dropout=0.3"``).
        `against` is the current best re-measured on other seeds (the paired rule needs the same
        seeds on both sides); by default the best's own record.
        """
        if "accuracy" not in record:
            raise FmnistError(f"{change!r}: not a registry record (no accuracy); pass registry.get(...)")
        kept, difference, margin = beats(record, against or self.best, images)
        step = Step(len(self.steps) + 1, change, record["model"], record.get("params"),
                    record["accuracy"]["mean"], record["accuracy"]["std"], len(record["accuracy"]["values"]),
                    difference, margin, kept, parameters, "change", *_cost(record))
        self.steps.append(step)
        if kept:
            self.best = record
        verdict = "kept" if kept else "rolled back"
        print(f"{step.iteration:>2}. {change}: {step.mean:.4f} ± {step.std:.4f} "
              f"({difference:+.4f} vs best, paired over seeds; margin {margin:.4f}{_cost_text(step)}) -> {verdict}")
        return step

    def rebase(self, change: str, record: dict, parameters: str = "") -> Step:
        """The screening protocol changed (e.g. fewer epochs): `record` is the best re-measured under it.

        Not an iteration and not judged: from here on, changes are compared with `record`.
        """
        if "accuracy" not in record:
            raise FmnistError(f"{change!r}: not a registry record (no accuracy); pass registry.get(...)")
        difference = record["accuracy"]["mean"] - self.best["accuracy"]["mean"]
        step = Step(len(self.steps) + 1, change, record["model"], record.get("params"), record["accuracy"]["mean"],
                    record["accuracy"]["std"], len(record["accuracy"]["values"]), difference, 0.0, True,
                    parameters, "budget", *_cost(record))
        self.steps.append(step)
        self.best = record
        print(f"{step.iteration:>2}. {change}: {step.mean:.4f} ± {step.std:.4f} ({difference:+.4f} vs the best "
              f"before{_cost_text(step)}) -> the new reference (a change of protocol, not judged)")
        return step

    def frame(self):
        """The decision log as a DataFrame: iteration, change, parameters, accuracy, difference, cost, kept."""
        import pandas as pd

        return pd.DataFrame([{
            "iteration": s.iteration, "change": s.change, "parameters": s.parameters, "model": s.model,
            "params": s.params,
            "val accuracy": s.mean, "std": s.std, "seeds": s.seeds,
            "vs best": s.difference, "margin": s.margin,
            "train s": s.seconds, "s/epoch": s.seconds_per_epoch,
            "decision": "new reference" if s.kind == "budget" else ("kept" if s.kept else "rolled back"),
        } for s in self.steps])

    def plot(self, name: str = "decision_path"):
        """Accuracy of every iteration with its spread; kept steps joined as the path of the best."""
        import matplotlib.pyplot as plt

        from fmnist.learn.plots import save_fig

        fig, ax = plt.subplots(figsize=(10, 4))
        xs = [s.iteration for s in self.steps]
        colours = ["tab:blue" if s.kind == "budget" else "tab:green" if s.kept else "tab:red" for s in self.steps]
        ax.errorbar(xs, [s.mean for s in self.steps], yerr=[s.std for s in self.steps], fmt="none",
                    ecolor="grey", capsize=3)
        ax.scatter(xs, [s.mean for s in self.steps], c=colours, zorder=3)
        best_path, current = [], self.start["accuracy"]["mean"]
        for s in self.steps:
            current = s.mean if s.kept else current
            best_path.append(current)
        ax.step([0] + xs, [self.start["accuracy"]["mean"]] + best_path, where="post", color="tab:green",
                label="best so far")
        ax.set_xticks(xs, [s.change for s in self.steps], rotation=40, ha="right", fontsize=8)
        ax.set_ylabel("validation accuracy")
        ax.set_title("Each change, kept (green) or rolled back (red); blue: protocol changed, best re-measured;"
                     " bars: std over seeds", fontsize=10)
        ax.legend()
        ax.grid(alpha=0.3)
        save_fig(fig, name)
        return fig
