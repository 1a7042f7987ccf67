"""The reference architectures written in the notebooks have exactly the source documents' sizes.

The build functions stay in the notebooks (readers must see every layer); this test runs them
from the notebook source, so an edited layer cannot slip through unnoticed.
"""

from __future__ import annotations

import re

import keras
import nbformat
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


# Notebook 04 builds every candidate with one function from a flat configuration; which changes are
# kept depends on the verdicts, so nbval can check only the start. Each architecture change of its
# plan, applied alone to the start, must keep the size it has today: an edited layer shows up here.
CANDIDATE_CHANGES = [
    ("start", {}, 534_026),
    ("one_dense", {"dense": (256,)}, 519_498),
    ("fewer_units", {"dense": (128, 32)}, 373_802),
    ("batch_norm", {"batch_norm": True}, 534_986),
    ("first_kernel_3", {"first_kernel": 3}, 534_346),
    ("same_padding", {"padding": "same"}, 1_844_746),
    ("vgg_blocks", {"conv_filters": (32, 64, 128), "convs_per_block": 2, "batch_norm": True,
                    "padding": "same"}, 1_910_602),
    ("gap", {"head": "gap"}, 271_882),
    # shortcuts: 1x1 convolutions with batch norm where the width changes (1->64: 320, 64->128: 8,704)
    ("residual", {"residual": True, "padding": "same"}, 1_853_770),
]


def candidate_builder():
    nb = nbformat.read(REPO / "notebooks" / "04_regularisation.ipynb", as_version=4)
    source = next(c.source for c in nb.cells if c.cell_type == "code" and "def build_candidate(" in c.source)
    namespace = {"keras": keras, "layers": keras.layers, "regularizers": keras.regularizers}
    exec(source[source.index("def build_candidate("):], namespace)  # the function and START
    return namespace["build_candidate"], namespace["START"]


@pytest.mark.parametrize("change, settings, params", CANDIDATE_CHANGES, ids=[c[0] for c in CANDIDATE_CHANGES])
def test_each_architecture_change_of_notebook_04_has_its_size(change, settings, params):
    build_candidate, start = candidate_builder()
    assert build_candidate({**start, **settings}).count_params() == params


def test_a_residual_block_without_same_padding_is_refused_with_the_reason():
    build_candidate, start = candidate_builder()
    with pytest.raises(ValueError, match="need padding='same'"):
        build_candidate({**start, "residual": True})
