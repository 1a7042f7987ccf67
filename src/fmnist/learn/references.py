"""Published and source-document accuracies on Fashion-MNIST, held as data with their sources.

The final evaluation puts our test accuracies beside these. Each entry keeps its label as its
source states it, its model size where the source gives one, what kind of result it is and on
which protocol; ``docs/references.md`` describes every source. Numbers on another protocol are
context, not a ranking: `frame` groups them by kind. `SMALL_PROTOCOL` holds the reference
workflow's numbers on the protocol of our ``small`` profile, the only ones we can compare one to one.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class Reference:
    """One published test accuracy on Fashion-MNIST."""

    name: str
    accuracy: float
    protocol: str
    source: str
    kind: str = "benchmark table"
    params: int | None = None  # as the source states it; None where it states none


BENCHMARK = "Fashion-MNIST benchmark table, zalandoresearch/fashion-mnist"
TABLE = "submitted, not re-tested by the table's maintainers; 10,000 test images"
UNCHECKED = TABLE + "; not in the version checked (docs/references.md)"
KINDS = ("human", "benchmark table", "paper", "tutorial or write-up")

REFERENCES: tuple[Reference, ...] = (
    Reference("Human Performance (crowd-sourced, no fashion expertise)", 0.835,
              "1,000 randomly sampled test images, 3 labels per image, majority labelling", BENCHMARK, "human"),
    Reference("MLP 256-128-64", 0.900, TABLE, BENCHMARK),
    Reference("SqueezeNet with cyclical learning rate 200 epochs", 0.900, TABLE, BENCHMARK),
    Reference("2 Conv Layers with max pooling and ELU activation (PyTorch)", 0.903, TABLE, BENCHMARK),
    Reference("3 Conv Layers+pooling+BN", 0.903, TABLE, BENCHMARK),
    Reference("3 Conv Layers and 2 FC", 0.907, TABLE, BENCHMARK),
    Reference("2 Conv Layers with max pooling (Tensorflow) >300 epochs", 0.916, TABLE, BENCHMARK),
    Reference("2 Conv Layers net (flips, translation, rotation)", 0.919, TABLE, BENCHMARK),
    Reference("2 Conv Layers 113K parameters", 0.922, TABLE, BENCHMARK, params=113_000),
    Reference("2 Conv Layers net <100K parameters", 0.925, TABLE, BENCHMARK),
    Reference("3 Conv+pooling and 2 FC+dropout", 0.926, TABLE, BENCHMARK),
    Reference("HOG+SVM", 0.926, TABLE, BENCHMARK),
    Reference("2 Conv Layers with 3 FC 1.8M parameters", 0.932, TABLE, BENCHMARK, params=1_800_000),
    Reference("2 Conv + 3 FC, ~500K params, augmentation + BN", 0.934, UNCHECKED, BENCHMARK, params=500_000),
    Reference("VGG16 26M parameters", 0.935, TABLE, BENCHMARK, params=26_000_000),
    Reference("Capsule Network 8M parameters", 0.936, TABLE, BENCHMARK, params=8_000_000),
    Reference("GoogleNet with cross-entropy loss", 0.937, TABLE, BENCHMARK),
    Reference("Google AutoML (24 compute hours)", 0.939, UNCHECKED, BENCHMARK),
    Reference("ResNet18 (flips, translation, rotation)", 0.949, TABLE, BENCHMARK),
    Reference("MobileNet (horizontal flips)", 0.950, TABLE, BENCHMARK),
    Reference("DenseNet-BC 768K params", 0.954, TABLE, BENCHMARK, params=768_000),
    Reference("Dual path network with wide resnet 28-10", 0.957, TABLE, BENCHMARK),
    Reference("WRN-28-10", 0.959, TABLE, BENCHMARK),
    Reference("WRN-28-10 + Random Erasing", 0.963, TABLE, BENCHMARK),
    Reference("WRN40-4 8.9M params", 0.967, TABLE, BENCHMARK, params=8_900_000),
    Reference("Fine-Tuning DARTS (not in the benchmark table)", 0.9691, "10,000 test images, as the paper reports",
              "Fine-Tuning DARTS for Image Classification, arXiv:2006.09042", "paper"),
    Reference("Dense 128 baseline (TensorFlow-basics README)", 0.873, "60,000 training / 10,000 test images, one run",
              "TensorFlow-basics Fashion-MNIST README", "tutorial or write-up", params=101_770),
    Reference("CNN (64 filters) (TensorFlow-basics README)", 0.901, "60,000 training / 10,000 test images, one run",
              "TensorFlow-basics Fashion-MNIST README", "tutorial or write-up", params=243_786),
    Reference("MobileNetV2 frozen + Dense 480 head", 0.9068,
              "60,000 training / 10,000 test images; mean of 6 runs (± 0.0011)",
              "adabyt/cnn-callbacks-fashion-mnist", "tutorial or write-up"),
    Reference("Conv32 + Dense100, SGD (deep CNN tutorial)", 0.9099,
              "one final model on 60,000 training images, one test score (5-fold CV was on the training set only)",
              "How to Develop a Deep CNN for Fashion-MNIST Clothing Classification", "tutorial or write-up"),
    Reference("Triple Conv Layers (TensorFlow-basics README)", 0.913, "60,000 training / 10,000 test images, one run",
              "TensorFlow-basics Fashion-MNIST README", "tutorial or write-up", params=294_922),
)

SMALL_PROTOCOL_SOURCE = ('the reference workflow notebook ("Building an optimal image classification model using '
                         'a convolutional neural network and Fashion MNIST data"): train on training images '
                         '0-7,999, test on test images 0-1,999')
SMALL_PROTOCOL: dict[str, float] = {
    "01_baseline": 0.750,
    "02_low_capacity_convnet": 0.816,
    "03_overfit": 0.852,
    "04_regularisation": 0.875,
    "05_transfer_learning (VGG16 frozen)": 0.836,
    "05_transfer_learning (VGG16 fine-tuned)": 0.845,
}


def frame(minimum: float | None = None):
    """The references as a DataFrame (kind, name, accuracy, params, protocol, source), by kind then accuracy.

    `minimum` keeps only entries at or above it, plus the human baseline, which is context for all.
    """
    table = pd.DataFrame([r.__dict__ for r in REFERENCES])
    if minimum is not None:
        table = table[(table["accuracy"] >= minimum) | (table["kind"] == "human")]
    table["order"] = table["kind"].map(KINDS.index)
    table = table.sort_values(["order", "accuracy"]).drop(columns="order").reset_index(drop=True)
    return table[["kind", "name", "accuracy", "params", "protocol", "source"]]


def binomial_interval(accuracy: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson 95% interval of an accuracy measured on `n` test images: the test sampling alone."""
    if n < 1 or not 0 <= accuracy <= 1:
        raise ValueError(f"need 0 <= accuracy <= 1 and n >= 1 test images, got {accuracy!r} and {n!r}")
    centre = (accuracy + z * z / (2 * n)) / (1 + z * z / n)
    half = z * ((accuracy * (1 - accuracy) / n + z * z / (4 * n * n)) ** 0.5) / (1 + z * z / n)
    return centre - half, centre + half


def small_protocol_markdown(data: dict) -> str:
    """README's table beside the reference workflow, from the small registry `data` (`registry.read("small")`).

    One row per tested stage: the reference workflow's test accuracy, ours with its 95% interval
    (Wilson, 2,000 test images), whether the reference lies outside that interval, and McNemar's
    verdict against the previous stage when notebook 06 recorded one.
    """
    tested = sorted((r for r in data.get("records", []) if r.get("split") == "test"), key=lambda r: r["stage"])
    lines = ["| stage | reference workflow | this series | 95% interval (test sampling) | reference outside it "
             "| vs previous stage (McNemar) |", "| --- | --- | --- | --- | --- | --- |"]
    previous = None
    for record in tested:
        stage, extra = record["stage"], record.get("extra") or {}
        key = stage if stage in SMALL_PROTOCOL else f"{stage} (VGG16 fine-tuned)"
        if key not in SMALL_PROTOCOL:
            continue
        reference, ours = SMALL_PROTOCOL[key], record["accuracy"]["mean"]
        low, high = binomial_interval(ours, int(extra.get("test_images", 2000)))
        verdict = (extra.get("verdicts") or {}).get(previous)
        shown = f"{verdict['verdict']} (p = {verdict['p_value']:.2g})" if verdict else (
            "-" if previous is None else "not recorded: re-run notebook 06 in small")
        label = stage if stage in SMALL_PROTOCOL else f"{stage} (the reference: VGG16 fine-tuned)"
        lines.append(f"| {label} | {reference:.3f} | {ours:.4f} | {low:.4f}-{high:.4f} | "
                     f"{'yes' if not low <= reference <= high else 'no'} | {shown} |")
        previous = stage
    return "\n".join(lines) + "\n"
