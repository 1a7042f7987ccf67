"""fmnist: the code the Fashion-MNIST notebook series shares, in three parts.

- `fmnist.learn`: what the notebooks learn with: the data and profiles, the one training path around a
  notebook's own ``compile`` and ``fit`` (`learn.training`), the paired decision rule, augmentation,
  ImageNet inputs, saved models, statistics and plots, and the results registry they record into.
- `fmnist.series`: what runs and publishes the series: each notebook's opening (`fmnist.setup`), the
  runner behind ``make run``, Colab support, README's generated sections, benchmarks and the `fmnist`
  command.
- `fmnist.predict`: the product, ``fmnist predict``: a photo of a garment classified by a saved model.

`errors`, `paths` and `version` are shared by all three. Imports point one way: `series` and `predict`
use `learn`; `learn` uses neither (tests/test_architecture.py checks it). A notebook needs only the
names below and the `fmnist.learn` modules it imports; importing this package does not import Keras,
so `setup` can choose the backend first.
"""

from fmnist.version import __version__
from fmnist.errors import FmnistError
from fmnist.learn.data import CLASS_NAMES, load, prepare
from fmnist.learn.profiles import Profile, active_profile, get_profile, load_split
from fmnist.learn.plots import save_fig
from fmnist.learn.native_logs import quiet_native_logs
from fmnist.series.opening import setup

__all__ = [
    "CLASS_NAMES", "FmnistError", "Profile", "active_profile", "get_profile",
    "load", "load_split", "prepare", "quiet_native_logs", "save_fig", "setup", "__version__",
]
