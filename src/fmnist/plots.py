"""Plots the notebooks share: training curves (one run or a band over seeds), filters, feature maps."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator

from fmnist.figures import save_fig


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
    import keras

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
    import seaborn as sns
    from sklearn.metrics import confusion_matrix

    from fmnist.data import CLASS_NAMES

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


def plot_reliability(table, ece: float, name: str, title: str = ""):
    """Reliability diagram from `fmnist.evaluation.reliability`: accuracy against confidence per bin."""
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
    ax.plot(table["confidence"], table["accuracy"], marker="o", color="tab:blue", label="model")
    for _, row in table.iterrows():
        ax.annotate(f"{int(row['count'])}", (row["confidence"], row["accuracy"]), fontsize=7,
                    textcoords="offset points", xytext=(3, -10))
    ax.set_xlabel("confidence (top probability)")
    ax.set_ylabel("accuracy")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    ax.set_title(title or f"{name}: ECE {ece:.4f} (numbers: images per bin)", fontsize=10)
    save_fig(fig, name)
    return fig


def plot_references(ours: list[dict], references, name: str = "comparison_with_references"):
    """Our test accuracies (with intervals) beside published ones, on one horizontal axis.

    `ours`: dicts with ``label``, ``accuracy``, ``low``, ``high``; `references`: a DataFrame with
    ``name`` and ``accuracy`` (`fmnist.references.frame()`).
    """
    entries = [(r["name"], r["accuracy"], None, None, "tab:grey") for _, r in references.iterrows()]
    entries += [(o["label"], o["accuracy"], o.get("low"), o.get("high"), "tab:blue") for o in ours]
    entries.sort(key=lambda e: e[1])
    fig, ax = plt.subplots(figsize=(9, 0.38 * len(entries) + 1))
    for y, (label, accuracy, low, high, colour) in enumerate(entries):
        ax.barh(y, accuracy, color=colour, alpha=0.85)
        if low is not None:
            ax.errorbar(accuracy, y, xerr=[[accuracy - low], [high - accuracy]], color="black", capsize=3)
        ax.text((accuracy if high is None else high) + 0.002, y, f"{accuracy:.4f}", va="center", fontsize=8)  # clear of the interval
    ax.set_yticks(range(len(entries)), [e[0] for e in entries], fontsize=8)
    low_end = min(e[1] for e in entries)
    ax.set_xlim(max(0.0, low_end - 0.05), 1.0)
    ax.set_xlabel("test accuracy")
    ax.set_title("This series (blue, 95% bootstrap interval) beside published results (grey)")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    save_fig(fig, name)
    return fig
