"""fmnist bench: its error paths (the measurement itself is run by hand, not timed in a test)."""

from __future__ import annotations

import pytest

from fmnist.series import bench, cli
from fmnist.errors import FmnistError


def test_bench_needs_two_epochs_because_the_first_compiles():
    with pytest.raises(FmnistError, match="at least 2"):
        bench.bench(epochs=1)


def test_bench_without_notebook_04s_final_model_says_what_to_run(scratch_home, capsys):
    assert cli.main(["bench", "--epochs", "2", "--images", "100"]) == 1
    assert "04" in capsys.readouterr().err


def test_block5_times_each_input_size(scratch_home, capsys):
    seconds = bench.block5(images=16, channels=8)  # VGG16's 512 channels take minutes on some backends
    assert sorted(seconds) == [32, 48, 64] and all(s > 0 for s in seconds.values())
    out = capsys.readouterr().out
    assert "32 px input (2x2 maps)" in out and "48 px input (3x3 maps)" in out and "3x3x8" in out
