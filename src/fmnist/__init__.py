"""fmnist: the plumbing shared by the Fashion-MNIST notebook series.

The notebooks tell the story and keep the architectures visible; this package owns
everything they would otherwise repeat, one concern per module:

- `data`: finding, checking and loading the genuine dataset; class names
- `profiles`: full / small / smoke data regimes, budgets and splits
- `repro`, `session`, `environment`: seeding, the running notebook's stage, where it runs
- `opening`, `header`, `colab`, `prerequisites`, `native_logs`: the setup cell every notebook opens with; what Colab
  lacks; the earlier notebooks a notebook builds on; TensorFlow's native start-up lines kept out of outputs
- `paths`, `figures`: where outputs go, written atomically; the one figure helper
- `training`, `augment`, `plots`: the one training path, fast augmentation, shared plots
- `decisions`, `iterations`: keep-or-roll-back decisions from recorded results; the one-change-at-a-time
  search over a model configuration, KerasTuner search and retraining on train + validation
- `weights`, `imagenet`: ImageNet weights offline or online; inputs, cached features, fine-tuning batches
- `registry`: results of every stage, per profile
- `stats`, `prediction_cache`, `stage_models`, `neighbours`, `test_history`: the final evaluation's
  statistics, cached test predictions, saved stage and per-seed models, nearest training images, and
  the history of test evaluations (`evaluation` re-exports the first four); `predict`: `fmnist predict`
- `references`: published accuracies as their sources state them (docs/references.md)
- `runner`, `cli`: the `fmnist` command (run the series, report results, check data, predict)
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
