"""fmnist: the plumbing shared by the Fashion-MNIST notebook series.

The notebooks tell the story and keep the architectures visible; this package
owns everything they would otherwise repeat: loading and checking the data
(`data`), profiles and splits (`profiles`), seeding (`repro`), where outputs
go (`paths`), figures (`figures`), the results registry (`registry`), the
environment a result was produced in (`environment`), and the command line
(`cli`, `runner`), and the notebook session (`session`, `header`).
"""

__version__ = "0.1.0"

from fmnist.errors import FmnistError  # noqa: E402
from fmnist.data import CLASS_NAMES, load, prepare  # noqa: E402
from fmnist.profiles import Profile, active_profile, get_profile, load_split  # noqa: E402
from fmnist.session import setup  # noqa: E402
from fmnist.figures import save_fig  # noqa: E402

__all__ = [
    "CLASS_NAMES", "FmnistError", "Profile", "active_profile", "get_profile",
    "load", "load_split", "prepare", "save_fig", "setup", "__version__",
]
