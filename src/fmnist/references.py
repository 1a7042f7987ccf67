"""Published and source-document accuracies on Fashion-MNIST, held as data with their sources.

The final evaluation puts our test accuracies beside these. Each entry says what was measured,
on which protocol, and where the number comes from (``docs/REFERENCES.md`` of the project's
shared documents lists them all). Numbers on another protocol are context, not a comparison:
`SMALL_PROTOCOL` holds the reference workflow's numbers on the protocol of our ``small`` profile,
the only ones we can compare one to one.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Reference:
    """One published test accuracy on Fashion-MNIST."""

    name: str
    accuracy: float
    protocol: str
    source: str


BENCHMARK = "Fashion-MNIST repository, benchmark table (github.com/zalandoresearch/fashion-mnist)"

REFERENCES: tuple[Reference, ...] = (
    Reference("Human (crowd-sourced)", 0.835, "full test set", BENCHMARK),
    Reference("Dense 128 (TensorFlow basics)", 0.873, "full data", "seeds/001, TensorFlow basics README"),
    Reference("MobileNetV2 frozen + head", 0.9068, "full data, 6 runs (± 0.0011)", "seeds/000, MobileNetV2 + callbacks"),
    Reference("Conv32 + Dense100, SGD (deep CNN tutorial)", 0.9099, "full data, 5-fold CV", "seeds/003"),
    Reference("2 Conv + pooling (TensorFlow docs)", 0.916, "full test set", BENCHMARK),
    Reference("2 Conv + 3 FC, augmentation + BN", 0.934, "full test set", BENCHMARK),
    Reference("VGG16 (26M params)", 0.935, "full test set", BENCHMARK),
    Reference("ResNet18", 0.949, "full test set", BENCHMARK),
    Reference("WRN-28-10 + random erasing", 0.963, "full test set", BENCHMARK),
    Reference("Best published (Fine-Tuning DARTS)", 0.9691, "full test set", "arXiv:2006.09042, via " + BENCHMARK),
)

SMALL_PROTOCOL_SOURCE = ("seeds/002, the reference workflow notebook: train on training images 0-7,999, "
                         "test on test images 0-1,999")
SMALL_PROTOCOL: dict[str, float] = {
    "01_baseline": 0.750,
    "02_low_capacity_convnet": 0.816,
    "03_overfit": 0.852,
    "04_regularisation": 0.875,
    "05_transfer_learning (VGG16 frozen)": 0.836,
    "05_transfer_learning (VGG16 fine-tuned)": 0.845,
}


def frame():
    """The references as a DataFrame (name, accuracy, protocol, source), by accuracy."""
    import pandas as pd

    return pd.DataFrame([r.__dict__ for r in REFERENCES]).sort_values("accuracy").reset_index(drop=True)
