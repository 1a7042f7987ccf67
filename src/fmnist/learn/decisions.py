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

import matplotlib.pyplot as plt
import pandas as pd

from fmnist.errors import FmnistError
from fmnist.learn import registry
from fmnist.learn.plots import plot_comparison, save_fig
from fmnist.learn.session import current


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


def on_shared_seeds(candidate: dict, best: dict) -> tuple[dict, dict]:
    """Both records cut to the seeds they share, so `compare` can pair them (notebook 04's final model,
    three seeds, against notebook 03's model, trained on fewer)."""
    ours, theirs = _seed_values(candidate), _seed_values(best)
    shared = sorted(set(ours) & set(theirs))
    if not shared:
        raise FmnistError(f"{candidate['model']!r} and {best['model']!r} share no seed: they cannot be paired")

    def cut(record, values):
        return {**record, "seeds": shared, "accuracy": registry.summarise([values[s] for s in shared])}
    return cut(candidate, ours), cut(best, theirs)


@dataclass
class Step:
    """One iteration: what changed, what it scored, what it cost, and whether it was kept."""

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
    aim: str = "better"  # or "cheaper": kept when no worse beyond the noise and faster to train
    seconds: float | None = None  # training time of the run, all seeds together: the step's cost
    seconds_per_epoch: float | None = None

    @property
    def decision(self) -> str:
        """The verdict in words and a symbol, so it reads without colour (GitHub drops a table's CSS)."""
        return "✓ kept" if self.kept else "✗ rolled back"


def _cost(record: dict) -> tuple[float | None, float | None]:
    """(training seconds over all seeds, seconds per epoch) of a record, None where not recorded."""
    per_seed = record.get("train_seconds")
    total = per_seed * len(record["accuracy"]["values"]) if per_seed is not None else None
    return total, (record.get("extra") or {}).get("seconds_per_epoch")


def beats(candidate: dict, best: dict, images: int | None = None) -> tuple[bool, float, float]:
    """(kept, paired difference, margin) of `compare`: kept when the difference exceeds the margin."""
    verdict = compare(candidate, best, images)
    return verdict.kept, verdict.difference, verdict.margin


def _record_of(result, split: str) -> dict:
    """The registry record of a `FitResult` (what `over_seeds` recorded), or a record passed as it is."""
    if isinstance(result, dict):
        if "accuracy" not in result:
            raise FmnistError(f"{result.get('model', result)!r}: not a registry record (no accuracy); "
                              f"pass registry.get(...) or the result of over_seeds")
        return result
    return registry.get(current().stage, result.name, split)


class DecisionLog:
    """Notebook 04's path of iterations: each candidate judged against the current best, kept or rolled back.

    `judge` compares a candidate's record with the best's by `compare` (the same seeds, the same
    validation images, a margin never below the binomial standard error), prints one line with the
    verdict, its gain and its cost, writes the verdict into the candidate's registry record and
    draws the candidate's learning curves over the best's. ``aim="cheaper"`` judges a change meant to
    save time (a cheaper stem, say): kept when it is no worse beyond the margin and trains faster.
    """

    def __init__(self, start, split: str = "screen"):
        self.split = split
        self.start_result = start
        self.start = _record_of(start, split)
        self.best, self.best_result = self.start, start
        self.steps: list[Step] = []

    def judge(self, change: str, candidate, *, aim: str = "better", curves: bool = True) -> bool:
        """Keep `candidate` (a `FitResult` or its record) if it beats the best; say so; return whether kept."""
        if aim not in ("better", "cheaper"):
            raise FmnistError(f"aim={aim!r}: a change is judged as 'better' (more accurate) or 'cheaper' (faster)")
        record = _record_of(candidate, self.split)
        verdict = compare(record, self.best)
        seconds, per_epoch = _cost(record)
        if aim == "better":
            kept = verdict.kept
        else:
            best_per_epoch = _cost(self.best)[1]
            kept = (verdict.difference > -verdict.margin and per_epoch is not None
                    and best_per_epoch is not None and per_epoch < best_per_epoch)
        step = Step(len(self.steps) + 1, change, record["model"], record.get("params"), record["accuracy"]["mean"],
                    record["accuracy"]["std"], len(record["accuracy"]["values"]), verdict.difference,
                    verdict.margin, kept, aim, seconds, per_epoch)
        self.steps.append(step)
        if not isinstance(candidate, dict):  # a fit of this session: its record is in the registry
            registry.annotate(current().stage, record["model"], self.split, verdict={
                "change": change, "against": self.best["model"], "difference": verdict.difference,
                "margin": verdict.margin, "aim": aim, "kept": kept})
        cost = f"; {seconds:.0f} s of training, {per_epoch:.1f} s/epoch" if seconds is not None and per_epoch else ""
        speed = f", {per_epoch:.1f} vs {_cost(self.best)[1]:.1f} s/epoch" if aim == "cheaper" and per_epoch else ""
        print(f"{step.iteration:>2}. {change}: {step.mean:.4f} ({verdict.difference:+.4f} vs {self.best['model']}, "
              f"margin {verdict.margin:.4f}{speed}{cost}) -> {step.decision}")
        if curves and not isinstance(candidate, dict) and not isinstance(self.best_result, dict):
            fig = plot_comparison(candidate, self.best_result, record["model"],
                                  f"{step.iteration}. {change}: {step.decision}")
            plt.show() if _interactive() else plt.close(fig)
        if kept:
            self.best, self.best_result = record, candidate
        return kept

    def frame(self):
        """The decision log as a DataFrame: iteration, change, accuracy, gain, margin, cost, decision."""
        return pd.DataFrame([{
            "iteration": s.iteration, "change": s.change, "model": s.model, "params": s.params,
            "val accuracy": s.mean, "vs best": s.difference, "margin": s.margin,
            "train s": s.seconds, "s/epoch": s.seconds_per_epoch, "decision": s.decision,
        } for s in self.steps])

    def plot(self, name: str = "decision_path"):
        """Accuracy of every iteration; kept steps joined as the path of the best; ✓ and ✗ mark verdicts."""
        fig, ax = plt.subplots(figsize=(10, 4))
        xs = [s.iteration for s in self.steps]
        for s in self.steps:
            ax.scatter(s.iteration, s.mean, marker="o" if s.kept else "x", s=40,
                       color="tab:green" if s.kept else "tab:red", zorder=3)
        best_path, current_best = [], self.start["accuracy"]["mean"]
        for s in self.steps:
            current_best = s.mean if s.kept else current_best
            best_path.append(current_best)
        ax.step([0] + xs, [self.start["accuracy"]["mean"]] + best_path, where="post", color="tab:green",
                label="best so far")
        ax.set_xticks([0] + xs, ["start"] + [f"{s.iteration}. {s.change}" for s in self.steps], rotation=40,
                      ha="right", fontsize=8)
        ax.set_ylabel("validation accuracy")
        ax.set_title("Each change: kept (green dot) or rolled back (red cross)", fontsize=10)
        ax.legend()
        ax.grid(alpha=0.3)
        save_fig(fig, name)
        return fig


def _interactive() -> bool:
    """Whether figures are shown (a notebook's inline backend) rather than only saved."""
    return "inline" in plt.get_backend().lower()
