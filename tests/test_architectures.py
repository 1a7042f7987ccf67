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
