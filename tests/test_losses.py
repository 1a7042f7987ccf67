"""fmnist.learn.losses: the label-smoothed loss lives apart from the search, and old saved models still load."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import keras
import pytest

# Written by Keras 3.15.1; the config keys it added and the floor (3.13.2) refuses (initializers' input_axes
# and output_axes, None) were then removed from its config.json, so that every admitted Keras reads it.
OLD_MODEL = Path(__file__).parent / "data" / "smoothed_loss_fmnist_iterations.keras"


def test_the_loss_is_registered_under_the_name_saved_models_use():
    from fmnist.learn import losses

    assert keras.saving.get_registered_name(losses.SmoothedSparseCrossentropy) == "fmnist>SmoothedSparseCrossentropy"


def test_the_old_registration_is_the_one_in_the_fixture():
    """The fixture was saved while the class lived in an older module, fmnist.iterations (its config says so)."""
    import zipfile

    config = zipfile.ZipFile(OLD_MODEL).read("config.json").decode()
    assert '"module": "fmnist.iterations"' in config
    assert '"registered_name": "fmnist>SmoothedSparseCrossentropy"' in config


@pytest.mark.parametrize("loader", ["predict", "keras"])
def test_a_model_saved_with_the_old_registration_loads_without_importing_the_search(loader):
    """`fmnist predict` (and notebook 06) import only fmnist.learn.losses; keras.models.load_model after it."""
    load = ("from fmnist.learn import saved_models; m = saved_models.load_model(path)" if loader == "predict" else
            "import keras, fmnist.learn.losses; m = keras.models.load_model(path)")
    code = (f"import sys; path = {str(OLD_MODEL)!r}; {load}; "
            "assert 'fmnist.learn.training' not in sys.modules, 'the training code was imported'; "
            "inner = [l for l in m.layers if hasattr(l, 'layers')][0]; "
            "print(m.count_params(), type(inner.loss).__name__ if inner.loss else None)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert done.returncode == 0, done.stderr[-2000:]
    params, loss = done.stdout.strip().splitlines()[-1].split()
    assert params == "86"
    if loader == "keras":  # compiled: the nested model's loss is rebuilt from its registered name
        assert loss == "SmoothedSparseCrossentropy"
