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
