"""fmnist bench: its error paths (the measurement itself is run by hand, not timed in a test)."""

from __future__ import annotations

import pytest

from fmnist import bench, cli
from fmnist.errors import FmnistError


def test_bench_needs_two_epochs_because_the_first_compiles():
    with pytest.raises(FmnistError, match="at least 2"):
        bench.bench(epochs=1)


def test_bench_without_notebook_04s_final_model_says_what_to_run(scratch_home, capsys):
    assert cli.main(["bench", "--epochs", "2", "--images", "100"]) == 1
    assert "04" in capsys.readouterr().err
