"""What every committed model predicts for a fixed probe batch, recorded so that any Keras can be checked against it.

The probe batch is the first 32 training images (never test images). Each committed model file
(``git ls-files models``, every ``.keras``) is loaded with `fmnist.learn.saved_models` and fed as
`fmnist predict` feeds it (`fmnist.predict.classify`: scaled, or through an ImageNet base's
preprocessing; test-time views are layers inside the file); a per-seed model as its stage's model,
notebook 05's (a head on the stage model's frozen layers) put back together as `load_seed_models`
does. The class probabilities are kept in ``tests/data/model_probes.json``.

    python tests/model_probes.py --write   # after the committed models changed (`make run` in full does it)

`tests/test_committed_models.py` compares a fresh prediction with that file in every leg of
`make test`, the Colab leg included: it fails when a model does not load, or predicts otherwise than
when it was recorded (another top class, or a probability off by more than 0.001: backends and
library versions differ in the sixth decimal, a retrained model in the second).
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO / "tests" / "data" / "model_probes.json"
PROBE = 32  # the first training images
DECIMALS = 6


def committed_models(root: Path = REPO) -> list[str]:
    """The committed ``.keras`` files under models/, relative to `root` (tracked files only; all of
    models/full/ where git cannot tell)."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z", "models"], cwd=root, capture_output=True, text=True,
                                check=True).stdout.split("\0")
    except (OSError, subprocess.CalledProcessError):
        listed = [str(p.relative_to(root)) for p in (root / "models" / "full").rglob("*")]
    return sorted(name for name in listed if name.endswith(".keras"))


def probe_images():
    import fmnist

    (x_train, _), _ = fmnist.load()
    return x_train[:PROBE]


def predict(name: str, root: Path = REPO, images=None) -> list[list[float]]:
    """Class probabilities of the committed model `name` (relative to `root`) for the probe images."""
    import numpy as np

    from fmnist.learn import saved_models
    from fmnist.predict import classify

    images = probe_images() if images is None else images
    path = root / name
    if path.parent.name.endswith("_seeds"):  # a seed's model: fed as its stage's model
        stage_path = path.parent.parent / f"{path.parent.name.removesuffix('_seeds')}.keras"
        stage_model = _stage_model(stage_path)
        model = saved_models.load_model(path)
        manifest = json.loads((path.parent / saved_models.MANIFEST).read_text(encoding="utf-8"))
        if manifest.get("features_layer"):  # a head on the stage model's frozen layers, as load_seed_models builds it
            import keras

            features = stage_model.get_layer(manifest["features_layer"]).output
            model = keras.Model(stage_model.inputs, model(features))
        spec = classify.model_input(stage_model, stage_path, str(stage_path))
    else:
        model = saved_models.load_model(path)
        spec = classify.model_input(model, path, name)
    probs = classify.predict_pixels(model, images, name, spec)
    return np.round(probs, DECIMALS).tolist()


@functools.cache
def _stage_model(path: Path):
    from fmnist.learn import saved_models

    return saved_models.load_model(path)


def predict_all(root: Path = REPO) -> dict[str, list[list[float]]]:
    images = probe_images()
    return {name: predict(name, root, images) for name in committed_models(root)}


def differences(reference: dict, fresh: dict[str, list[list[float]]], atol: float = 1e-3) -> list[str]:
    """One line per committed model whose fresh probabilities differ from the recorded ones (or that has none)."""
    import numpy as np

    recorded = reference["probabilities"]
    found = [f"{name}: no recorded probabilities (run `python tests/model_probes.py --write`)"
             for name in fresh if name not in recorded]
    found += [f"{name}: recorded, but no longer committed" for name in recorded if name not in fresh]
    for name in sorted(set(fresh) & set(recorded)):
        new, old = np.asarray(fresh[name]), np.asarray(recorded[name])
        if new.shape != old.shape:
            found.append(f"{name}: probabilities of shape {new.shape}, recorded {old.shape}")
            continue
        gap, changed = float(np.max(np.abs(new - old))), int(np.sum(new.argmax(1) != old.argmax(1)))
        if gap > atol or changed:
            found.append(f"{name}: probabilities differ by up to {gap:.2g} from the recorded ones "
                         f"(recorded by Keras {reference.get('written_by_keras')}), {changed} of {len(new)} "
                         f"top classes changed")
    return found


def render(reference: dict) -> str:
    """JSON with one line per image's probabilities: small diffs when a model changes."""
    head = {key: value for key, value in reference.items() if key != "probabilities"}
    lines = [json.dumps(head, indent=1)[:-2] + ',\n "probabilities": {']
    models = list(reference["probabilities"].items())
    for number, (name, rows) in enumerate(models):
        lines.append(f"  {json.dumps(name)}: [")
        lines += [f"   {json.dumps(row)}{',' if i < len(rows) - 1 else ''}" for i, row in enumerate(rows)]
        lines.append("  ]" + ("," if number < len(models) - 1 else ""))
    return "\n".join(lines + [" }", "}", ""])


def write(root: Path = REPO) -> Path:
    import keras

    from fmnist.learn import saved_models

    models = predict_all(root)
    reference = {"probe": f"the first {PROBE} training images", "written_by_keras": keras.__version__,
                 "backend": keras.backend.backend(),
                 "saved_by": {name: saved_models.saved_by(root / name) for name in models}, "probabilities": models}
    REFERENCE.write_text(render(reference), encoding="utf-8")
    return REFERENCE


def check(root: Path = REPO) -> list[str]:
    """One line per committed model that does not load here, or predicts otherwise than recorded."""
    import keras

    images, fresh, failed = probe_images(), {}, []
    for name in committed_models(root):
        try:
            fresh[name] = predict(name, root, images)
        except Exception as exc:  # the whole message: ModelError says which Keras the file needs
            failed.append(f"{name}: does not load or predict with this Keras: {type(exc).__name__}: {exc}")
    recorded = json.loads(REFERENCE.read_text(encoding="utf-8"))
    unloaded = {line.split(":", 1)[0] for line in failed}
    found = failed + [line for line in differences(recorded, fresh) if line.split(":", 1)[0] not in unloaded]
    print(f"Keras {keras.__version__} ({keras.backend.backend()}): "
          + (f"{len(found)} committed model(s) do not load, or predict otherwise than recorded" if found else
             f"all {len(committed_models(root))} committed models predict the probe batch as recorded"))
    print("\n".join(found)) if found else None
    return found


if __name__ == "__main__":
    if sys.argv[1:] not in (["--write"], ["--check"]):
        sys.exit(__doc__.split("\n\n")[2].strip() + "\n    python tests/model_probes.py --check   # compare")
    sys.path.insert(0, str(REPO / "src"))
    if sys.argv[1] == "--check":
        sys.exit(1 if check() else 0)
    print(f"Wrote {write().relative_to(REPO)}")
