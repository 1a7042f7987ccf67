"""Plots the notebooks share, and where every figure is saved (``figures/<profile>/<stage>/``).

Training curves (one run or a band over seeds), filters, feature maps, confusion matrices,
galleries, reliability diagrams and the comparison with published results.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
from matplotlib.ticker import MaxNLocator
from sklearn.metrics import confusion_matrix

from fmnist import paths
from fmnist.learn.data import CLASS_NAMES
from fmnist.learn.session import current


def save_fig(fig, name: str, stage: str | None = None, profile: str | None = None, dpi: int = 110) -> Path:
    """Save a Matplotlib figure as PNG in the current notebook's figures folder and return its path.

    `stage` and `profile` default to what `fmnist.setup()` was called with. The file is
    written atomically, so an interrupted run never leaves half an image.
    """
    stage = stage or current().stage
    profile = profile or current().profile.name
    target = paths.figures_dir(profile, stage) / f"{name}.png"
    fig.tight_layout()
    with paths.atomic_path(target) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    return target


def _curves(histories: list[dict], key: str) -> np.ndarray:
    """Per-seed curves of one metric, padded with NaN where early stopping ended a run sooner."""
    longest = max(len(h[key]) for h in histories)
    return np.array([h[key] + [np.nan] * (longest - len(h[key])) for h in histories])


def plot_history(result, name: str | None = None, marks: dict[str, int] | None = None, title: str | None = None):
    """Training against validation loss and accuracy per epoch; mean and min-max band over seeds.

    `marks` draws vertical lines at named epochs (1-based), e.g. {"min val loss": 11}. The figure
    is saved as ``<name>.png`` (default: the run's name) in the notebook's figures folder.
    """
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for ax, metric in zip(axes, ("loss", "accuracy")):
        for key, label, colour in ((metric, "training", "tab:blue"), (f"val_{metric}", "validation", "tab:orange")):
            curves = _curves(result.histories, key)
            epochs = np.arange(1, curves.shape[1] + 1)
            ax.plot(epochs, np.nanmean(curves, axis=0), color=colour, label=label, marker="o", markersize=3)
            if len(curves) > 1:
                ax.fill_between(epochs, np.nanmin(curves, axis=0), np.nanmax(curves, axis=0), color=colour, alpha=0.2)
        for label, epoch in (marks or {}).items():
            ax.axvline(epoch, color="grey", linestyle="--", linewidth=1)
            ax.text(epoch, ax.get_ylim()[1], f" {label}", rotation=90, va="top", ha="right", fontsize=8, color="grey")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    seeds = len(result.histories)
    fig.suptitle(title or f"{result.name}: " + ("mean and range over %d seeds" % seeds if seeds > 1 else "one seed"))
    save_fig(fig, name or result.name)
    return fig


def plot_filters(model, layer_name: str, name: str):
    """The kernels of a convolutional layer that sees one input channel, as small images."""
    kernels = np.asarray(model.get_layer(layer_name).get_weights()[0])  # (h, w, in, out)
    count = kernels.shape[-1]
    limit = float(np.abs(kernels).max()) or 1.0  # a scale centred on zero: white means zero
    cols = min(8, count)
    rows = int(np.ceil(count / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(1.3 * cols, 1.3 * rows + 0.4), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < count:
            ax.imshow(kernels[:, :, 0, i], cmap="RdBu_r", vmin=-limit, vmax=limit)
            ax.set_title(str(i), fontsize=8)
    fig.suptitle(f"{layer_name}: {count} learned kernels (red positive, blue negative)")
    save_fig(fig, name)
    return fig


def plot_feature_maps(model, images: np.ndarray, titles: list[str], layer_names: list[str], name: str,
                      channels: int = 8):
    """For each image, the first `channels` feature maps of each named layer."""
    import keras  # not at the top: `import fmnist` imports this module before setup() chooses the backend

    probe = keras.Model(model.inputs, [model.get_layer(n).output for n in layer_names])
    outputs = probe.predict(images, verbose=0)
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    rows = len(images) * len(layer_names)
    fig, axes = plt.subplots(rows, channels + 1, figsize=(1.2 * (channels + 1), 1.25 * rows), squeeze=False)
    row = 0
    for i, title in enumerate(titles):
        for layer, maps in zip(layer_names, outputs):
            axes[row, 0].imshow(images[i, :, :, 0], cmap="gray_r")
            axes[row, 0].set_ylabel(f"{title}\n{layer}", fontsize=7, rotation=0, ha="right", va="center")
            for c in range(channels):
                axes[row, c + 1].imshow(np.asarray(maps)[i, :, :, c], cmap="viridis")
            row += 1
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("Feature maps: input, then the first channels of each layer")
    save_fig(fig, name)
    return fig


def plot_confusion(y_true, y_pred, name: str, title: str = ""):
    """Confusion matrix with class names: counts (left) and row-normalised, i.e. recall (right)."""
    counts = confusion_matrix(y_true, y_pred, labels=range(len(CLASS_NAMES)))
    rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    fig, axes = plt.subplots(1, 2, figsize=(16, 6.5))
    sns.heatmap(counts, annot=True, fmt="d", cmap="Blues", cbar=False, ax=axes[0],
                xticklabels=CLASS_NAMES, yticklabels=CLASS_NAMES)
    sns.heatmap(rates, annot=True, fmt=".2f", cmap="Blues", vmin=0, vmax=1, cbar=False, ax=axes[1],
                xticklabels=CLASS_NAMES, yticklabels=CLASS_NAMES)
    for ax, what in zip(axes, ("counts", "share of each true class (rows sum to 1)")):
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(what)
        ax.tick_params(axis="x", rotation=45)
    fig.suptitle(title or name)
    fig.tight_layout()
    save_fig(fig, name)
    return fig


def plot_gallery(images: np.ndarray, captions: list[str], name: str, title: str = "", cols: int = 8):
    """Images in a grid with a caption under each (e.g. true, predicted and confidence)."""
    count = len(images)
    if count == 0:
        raise ValueError("plot_gallery needs at least one image")
    cols = min(cols, count)
    rows = int(np.ceil(count / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(1.7 * cols, 2.0 * rows + 0.5), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < count:
            ax.imshow(np.asarray(images[i]).squeeze(), cmap="gray", vmin=0, vmax=1)
            ax.set_title(captions[i], fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    save_fig(fig, name)
    return fig


def plot_reliability(table, ece: float, name: str, title: str = "", bins: int = 15):
    """Reliability diagram from `fmnist.learn.stats.reliability` (computed with `bins` bins): accuracy
    against confidence per bin, and below it how many images each bin holds.

    The counts stand as bars at their bins' centres, each number written upright above its bar, so
    neighbouring bins never print over each other (beside the points, a confident model's last two
    bins, a few hundredths of confidence apart, ran together).
    """
    fig, (ax, below) = plt.subplots(2, 1, figsize=(5, 6.4), sharex=True, gridspec_kw={"height_ratios": [3, 1.2]})
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
    ax.plot(table["confidence"], table["accuracy"], marker="o", color="tab:blue", label="model")
    ax.set_ylabel("accuracy")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    ax.set_title(title or f"{name}: ECE {ece:.4f}", fontsize=10)
    centres = (table["bin"].to_numpy() + 0.5) / bins
    counts = table["count"].to_numpy()
    below.bar(centres, counts, width=0.9 / bins, color="tab:blue", alpha=0.35)
    for x, count in zip(centres, counts):
        below.text(x, count, f" {count:,}", rotation=90, ha="center", va="bottom", fontsize=7)
    below.set_ylim(0, max(counts.max(), 1) * 1.7)  # room for the upright numbers above the tallest bar
    below.set_yticks([])
    below.set_ylabel("images per bin")
    below.set_xlabel("confidence (top probability)")
    save_fig(fig, name)
    return fig


def plot_references(ours: list[dict], references, name: str = "comparison_with_references"):
    """Our test accuracies (with intervals) beside published ones, grouped by kind of result.

    `ours`: dicts with ``label``, ``accuracy``, ``low``, ``high``; `references`: a DataFrame with
    ``name`` and ``accuracy`` and optionally ``kind`` and ``params`` (`fmnist.learn.references.frame()`).
    Each kind (benchmark table, paper, tutorial, ...) is its own block, sorted within it:
    results on unlike protocols are shown side by side, not ranked against each other.
    """
    kinds = list(dict.fromkeys(references["kind"])) if "kind" in references else ["published"]
    colours = dict(zip(kinds, ["tab:grey", "tab:olive", "tab:brown", "tab:cyan", "tab:pink"]))
    blocks = [("this series (95% bootstrap interval, test sampling)",
               sorted([(o["label"], o["accuracy"], o.get("low"), o.get("high"), "tab:blue") for o in ours],
                      key=lambda e: e[1]))]
    for kind in kinds:
        rows = references[references["kind"] == kind] if "kind" in references else references
        entries = []
        for _, r in rows.iterrows():
            size = r.get("params")
            label = r["name"] if size is None or size != size else f"{r['name']} [{size / 1e6:.2g}M]"
            entries.append((label, r["accuracy"], None, None, colours[kind]))
        blocks.append((kind, sorted(entries, key=lambda e: e[1])))
    count = sum(len(entries) + 1 for _, entries in blocks)
    fig, ax = plt.subplots(figsize=(10, 0.3 * count + 1))
    y, ticks, labels, values = count, [], [], []
    for title, entries in blocks:
        y -= 1
        ax.text(0.0, y, title.upper(), transform=ax.get_yaxis_transform(), fontsize=8, fontweight="bold", va="center")
        for label, accuracy, low, high, colour in entries:
            y -= 1
            ax.barh(y, accuracy, color=colour, alpha=0.85)
            if low is not None:
                ax.errorbar(accuracy, y, xerr=[[accuracy - low], [high - accuracy]], color="black", capsize=3)
            ax.text((accuracy if high is None else high) + 0.002, y, f"{accuracy:.4f}", va="center", fontsize=7)
            ticks.append(y)
            labels.append(label)
            values.append(accuracy)
    ax.set_yticks(ticks, labels, fontsize=7)
    ax.set_xlim(max(0.0, min(values) - 0.02), 1.0)
    ax.set_ylim(-0.5, count - 0.5)
    ax.set_xlabel("test accuracy ([size] = parameters where the source gives them)")
    ax.set_title("This series beside published results, by kind: other protocols, not a ranking", fontsize=9)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    save_fig(fig, name)
    return fig


def plot_comparison(candidate, best, name: str, title: str):
    """A candidate's learning curves drawn over the current best's: validation solid, training dashed."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
    for ax, metric in zip(axes, ("loss", "accuracy")):
        for result, colour, label in ((best, "tab:grey", f"best so far ({best.name})"), (candidate, "tab:blue", candidate.name)):
            for key, style in ((f"val_{metric}", "-"), (metric, "--")):
                curves = _curves(result.histories, key)
                epochs = np.arange(1, curves.shape[1] + 1)
                ax.plot(epochs, np.nanmean(curves, axis=0), style, color=colour, marker="o", markersize=2.5,
                        label=f"{label}, {'validation' if key.startswith('val_') else 'training'}")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    low, high = axes[1].get_ylim()
    if low < 0.5 < high - 0.05:  # a slow starter's first epochs would squash the range where verdicts fall
        axes[1].set_ylim(bottom=0.5)
    axes[0].legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    save_fig(fig, name)
    return fig
