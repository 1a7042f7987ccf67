"""The reference architectures written in the notebooks have exactly the source documents' sizes.

The build functions stay in the notebooks (readers must see every layer); this test runs them
from the notebook source, so an edited layer cannot slip through unnoticed.
"""

from __future__ import annotations

import re

import keras
import nbformat
import numpy as np
import pytest

from conftest import REPO

EXPECTED = [
    ("01_baseline", "build_dense", 101_770),
    ("02_low_capacity_convnet", "build_low_capacity", 31_962),
    ("03_overfit", "build_overfit", 534_026),
]


def build_function(stage: str, name: str):
    nb = nbformat.read(REPO / "notebooks" / f"{stage}.ipynb", as_version=4)
    source = next(c.source for c in nb.cells if c.cell_type == "code" and f"def {name}(" in c.source)
    definition = re.split(r"\n(?=\S)", source[source.index(f"def {name}("):])[0]  # the def block only
    namespace = {"keras": keras, "layers": keras.layers}
    exec(definition, namespace)
    return namespace[name]


@pytest.mark.parametrize("stage, name, params", EXPECTED, ids=[e[1] for e in EXPECTED])
def test_reference_architecture_has_the_documented_size(stage, name, params):
    assert build_function(stage, name)().count_params() == params


# Notebook 04 builds every candidate from three parts (stem, features, classifier) with `model_of`; which
# parts are kept depends on the verdicts, so nbval can check only the start. Each change of its plan,
# applied to the parts it is tried on, must keep the size it has today: an edited layer shows up here.
PART_FUNCTIONS = ["model_of", "no_stem", "features_03", "classifier_03", "classifier_dropout", "features_batch_norm",
                  "conv_group", "features_groups", "classifier_gap", "stem_space_to_depth", "features_wide",
                  "residual_group", "features_residual"]


def notebook_04_parts() -> dict:
    """The part functions of notebook 04, defined from its source (their def blocks only)."""
    nb = nbformat.read(REPO / "notebooks" / "04_regularisation.ipynb", as_version=4)
    namespace = {"keras": keras, "layers": keras.layers}
    for cell in nb.cells:
        if cell.cell_type == "code":
            for block in re.split(r"\n(?=\S)", cell.source):
                name = re.match(r"def (\w+)\(", block)
                if name and name.group(1) in PART_FUNCTIONS:
                    exec(block, namespace)
    missing = [name for name in PART_FUNCTIONS if name not in namespace]
    assert not missing, f"notebook 04 no longer defines {missing}"
    return namespace


# change -> (parts replacing notebook 03's, parameters); 534,026 is notebook 03's model
CANDIDATE_CHANGES = [
    ("start", {}, 534_026),
    ("dropout", {"classifier": "classifier_dropout"}, 534_026),
    ("batch_norm", {"features": "features_batch_norm"}, 534_986),
    ("conv_groups", {"features": "features_groups"}, 1_910_762),
    ("global_average_pooling", {"features": "features_groups", "classifier": "classifier_gap"}, 289_066),
    ("space_to_depth", {"stem": "stem_space_to_depth", "features": "features_wide", "classifier": "classifier_gap"},
     1_151_242),
    # shortcuts: 1x1 convolutions without bias where the width changes (1->32: 32, 32->64: 2,048, 64->128: 8,192)
    ("residual", {"features": "residual_32_64_128", "classifier": "classifier_gap"}, 299_338),
]


@pytest.mark.parametrize("change, replaced, params", CANDIDATE_CHANGES, ids=[c[0] for c in CANDIDATE_CHANGES])
def test_each_change_of_notebook_04_has_its_size(change, replaced, params):
    ns = notebook_04_parts()
    ns["residual_32_64_128"] = lambda x: ns["features_residual"](x, (32, 64, 128))
    start = {"stem": ns["no_stem"], "features": ns["features_03"], "classifier": ns["classifier_03"]}
    build = ns["model_of"](start, **{part: ns[name] for part, name in replaced.items()})
    assert build().count_params() == params


def test_the_space_to_depth_stem_moves_pixels_without_losing_any():
    ns = notebook_04_parts()
    inputs = keras.Input((28, 28, 1))
    stem = keras.Model(inputs, ns["stem_space_to_depth"](inputs))
    image = np.arange(28 * 28, dtype="float32").reshape(1, 28, 28, 1)
    folded = np.asarray(stem(image))
    assert folded.shape == (1, 14, 14, 4)
    assert sorted(folded.ravel().tolist()) == sorted(image.ravel().tolist())
    # channel k of block (i, j) is pixel (2i + k // 2, 2j + k % 2)
    assert folded[0, 3, 5].tolist() == [image[0, 6, 10, 0], image[0, 6, 11, 0], image[0, 7, 10, 0], image[0, 7, 11, 0]]
