"""fmnist: the plumbing shared by the Fashion-MNIST notebook series.

The notebooks tell the story and keep the architectures visible; this package owns
everything they would otherwise repeat, one concern per module:

Listed by tier, lowest first; a module imports only its own tier or lower ones
(tests/test_architecture.py checks it, README's Layout section draws it):

- foundations: `errors`, `version`, `paths` (where outputs go, atomic writes), `native_logs`, `repro`
  (seeding), `augment`, `references` (published accuracies, docs/references.md), `weights` (ImageNet
  weights offline or online), `losses` (label smoothing), `progress` (one replaced line), `tables` (HTML tables),
  `compile_cache` (JAX's persistent compilation cache)
- data: `data` (the genuine dataset, checked), `environment` (backend, device, versions, provenance),
  `stats` (intervals, McNemar, calibration), `neighbours`
- profiles: `profiles` (full / small / smoke), `registry` (results per profile), `session` (the running
  stage), `figures`, `colab` (what Colab lacks), `readme` (README's results section), `test_history`
- training: `training` (the seed loop around a notebook's own compile and fit), `iterations` (04's
  one-change-at-a-time search and KerasTuner), `decisions` (the one paired noise rule), `imagenet`
  (inputs and cached features for 05), `plots`
- evaluation: `predict` (`fmnist predict`, model loading, any stage's model), `photo` (image files to
  Fashion-MNIST's form), `prediction_cache`, `stage_models` (saved stage and per-seed models),
  `test_time` (flip averaging, chosen in 04 and applied in 06), `evaluation` (re-exports for notebook 06)
- running: `runner` (the series, in order), `prerequisites` (what a notebook builds on), `header` (the
  setup cell, badges, `fork`), `opening` (`fmnist.setup`), `bench` (`fmnist bench`)
- interface: `cli` (the `fmnist` command)
"""

from fmnist.version import __version__  # noqa: E402

from fmnist.errors import FmnistError  # noqa: E402
from fmnist.data import CLASS_NAMES, load, prepare  # noqa: E402
from fmnist.profiles import Profile, active_profile, get_profile, load_split  # noqa: E402
from fmnist.opening import setup  # noqa: E402
from fmnist.figures import save_fig  # noqa: E402
from fmnist.native_logs import quiet_native_logs  # noqa: E402

__all__ = [
    "CLASS_NAMES", "FmnistError", "Profile", "active_profile", "get_profile",
    "load", "load_split", "prepare", "quiet_native_logs", "save_fig", "setup", "__version__",
]
