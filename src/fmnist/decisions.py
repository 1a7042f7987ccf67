"""Keep-or-roll-back decisions for iterative regularisation, computed from recorded results.

Notebook 04 changes one thing at a time. A change is kept only if it raises mean validation
accuracy by more than the spread over seeds (the larger standard deviation of the two runs),
so that noise cannot pass for progress. The decision is made here, from the registry's records,
and printed; the notebook never types a verdict by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fmnist.errors import FmnistError


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


def beats(candidate: dict, best: dict) -> tuple[bool, float, float]:
    """(kept, difference of means, margin): kept when the difference exceeds the margin.

    The margin is the larger of the two standard deviations over seeds; with a single seed on
    both sides there is no spread to judge by, and any improvement counts.
    """
    difference = candidate["accuracy"]["mean"] - best["accuracy"]["mean"]
    margin = max(candidate["accuracy"]["std"], best["accuracy"]["std"])
    return difference > margin, difference, margin


@dataclass
class DecisionLog:
    """The path of iterations from a starting record, with the current best."""

    start: dict
    steps: list[Step] = field(default_factory=list)

    def __post_init__(self):
        self.best = self.start

    def consider(self, change: str, record: dict, parameters: str = "") -> Step:
        """Judge `record` (a registry entry) against the current best, keep it or roll it back.

        `parameters` says, for the log, what exactly was changed (e.g. ``"dropout=0.3"``).
        """
        if "accuracy" not in record:
            raise FmnistError(f"{change!r}: not a registry record (no accuracy); pass registry.get(...)")
        kept, difference, margin = beats(record, self.best)
        step = Step(len(self.steps) + 1, change, record["model"], record.get("params"),
                    record["accuracy"]["mean"], record["accuracy"]["std"], len(record["accuracy"]["values"]),
                    difference, margin, kept, parameters)
        self.steps.append(step)
        if kept:
            self.best = record
        verdict = "kept" if kept else "rolled back"
        print(f"{step.iteration:>2}. {change}: {step.mean:.4f} ± {step.std:.4f} "
              f"({difference:+.4f} vs best, margin {margin:.4f}) -> {verdict}")
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
                    parameters, kind="budget")
        self.steps.append(step)
        self.best = record
        print(f"{step.iteration:>2}. {change}: {step.mean:.4f} ± {step.std:.4f} ({difference:+.4f} vs the best "
              f"before) -> the new reference (a change of protocol, not judged)")
        return step

    def frame(self):
        """The decision log as a DataFrame: iteration, change, parameters, accuracy, difference, kept."""
        import pandas as pd

        return pd.DataFrame([{
            "iteration": s.iteration, "change": s.change, "parameters": s.parameters, "model": s.model,
            "params": s.params,
            "val accuracy": s.mean, "std": s.std, "seeds": s.seeds,
            "vs best": s.difference, "margin": s.margin,
            "decision": "new reference" if s.kind == "budget" else ("kept" if s.kept else "rolled back"),
        } for s in self.steps])

    def plot(self, name: str = "decision_path"):
        """Accuracy of every iteration with its spread; kept steps joined as the path of the best."""
        import matplotlib.pyplot as plt

        from fmnist.figures import save_fig

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
