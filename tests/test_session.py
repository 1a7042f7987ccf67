"""Seeding, the notebook session and the figure helper."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import fmnist  # noqa: E402
from fmnist.learn import session as session_module  # noqa: E402
from fmnist.errors import FmnistError  # noqa: E402
from fmnist.learn.repro import seed_everything  # noqa: E402


def fresh_weights(seed):
    import keras

    seed_everything(seed)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    return model.get_weights()[0], np.random.rand(), keras.random.uniform((2,)).numpy() if hasattr(
        keras.random.uniform((2,)), "numpy") else np.asarray(keras.random.uniform((2,)))


def test_same_seed_same_model_different_seed_different_model():
    w1, r1, k1 = fresh_weights(3)
    w2, r2, k2 = fresh_weights(3)
    w3, _, _ = fresh_weights(4)
    np.testing.assert_array_equal(w1, w2)
    np.testing.assert_array_equal(k1, k2)
    assert r1 == r2
    assert not np.array_equal(w1, w3)


def test_setup_prints_what_the_run_uses(capsys, monkeypatch):
    monkeypatch.setenv("FMNIST_PROFILE", "smoke")
    session = fmnist.setup("99_test_stage")
    out = capsys.readouterr().out
    assert session.stage == "99_test_stage" and session.profile.name == "smoke"
    assert "Profile: smoke" in out and f"Backend: {session.backend} on {session.device}" in out
    assert "keras" in out and "numpy" in out


def test_save_fig_goes_to_the_profile_and_stage_folder(scratch_home, monkeypatch):
    monkeypatch.setenv("FMNIST_PROFILE", "smoke")
    fmnist.setup("99_test_stage", quiet=True)
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    path = fmnist.save_fig(fig, "line")
    plt.close(fig)
    assert path == scratch_home / "figures" / "smoke" / "99_test_stage" / "line.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_save_fig_before_setup_says_what_to_do(monkeypatch):
    monkeypatch.setattr(session_module, "_current", None)
    with pytest.raises(FmnistError, match=r"call fmnist\.setup\('<stage name>'\)"):
        fmnist.save_fig(plt.figure(), "x")
