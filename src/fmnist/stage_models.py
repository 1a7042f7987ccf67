"""The models the stages saved, loaded for the final evaluation; and every seed's model, saved slim.

`load_stage_model` loads ``models/<profile>/<stage>.keras``. `save_seed_models` keeps the model of
every seed a final stage trained (without optimizer state) under ``models/<profile>/<stage>_seeds/``,
so the test accuracy can be reported as a spread over seeds, not one number per stage;
`load_seed_models` reads them back, or says in one line why there are none.
"""

from __future__ import annotations

from fmnist import paths
from fmnist.stats import EvaluationError


def load_stage_model(stage: str, profile: str | None = None):
    """The model notebook `stage` saved in ``models/<profile>/<stage>.keras``, without its optimizer.

    A missing file is an error that names the notebook to run; loading is `predict.load_model`'s.
    """
    from fmnist.predict import load_model
    from fmnist.profiles import get_profile

    name = get_profile(profile).name
    path = paths.models_dir(name) / f"{stage}.keras"
    if not path.is_file():
        raise EvaluationError(f"No saved model for {stage} in models/{name}/. Run that notebook first: "
                              f"`fmnist run --profile {name} --only {stage[:2]}`.")
    return load_model(path)


MANIFEST = "manifest.json"


def seed_models_dir(stage: str, profile: str | None = None):
    """Where `save_seed_models` keeps a stage's per-seed models: models/<profile>/<stage>_seeds/."""
    from fmnist.profiles import get_profile

    return paths.models_dir(get_profile(profile).name) / f"{stage}_seeds"


def _cut_layer(full_model, head) -> str:
    """The layer of `full_model` whose output the nested `head` reads: the frozen features' last layer."""
    if full_model.layers[-1] is not head and full_model.layers[-1].name != head.name:
        raise EvaluationError(f"{full_model.name}: its last layer is not the fitted model {head.name!r}; pass "
                              f"the model built as keras.Model(bottom.inputs, fitted(bottom.outputs[0])).")
    cut = full_model.layers[-2]
    if tuple(cut.output.shape[1:]) != tuple(head.inputs[0].shape[1:]):
        raise EvaluationError(f"{full_model.name}: layer {cut.name!r} gives {tuple(cut.output.shape[1:])}, but the "
                              f"fitted models read {tuple(head.inputs[0].shape[1:])}.")
    return cut.name


def save_seed_models(result, full_model=None, stage: str | None = None):
    """Save the model of every seed in `result` (a `FitResult`), without optimizer state; return the folder.

    Files: ``models/<profile>/<stage>_seeds/seed<N>.keras`` and a ``manifest.json`` listing seeds,
    files and validation accuracies; seeds' files from an earlier run that are not in `result` are
    removed. When the fitted models are a head on frozen features (notebook 05), pass the saved
    stage model as `full_model` (built as ``keras.Model(bottom.inputs, fitted(bottom.outputs[0]))``):
    only the heads are saved, and `load_seed_models` puts each back on the full model's frozen layers.
    """
    import json

    from fmnist.session import current
    from fmnist.training import without_optimizer

    session = current()
    stage = stage or session.stage
    models = list(getattr(result, "models", []))
    if not models or len(models) != len(result.seeds):
        raise EvaluationError(f"{getattr(result, 'name', result)!r} holds {len(models)} model(s) for "
                              f"{len(result.seeds)} seed(s): fit it in this session (a result reused from "
                              f"the registry keeps no models) before saving every seed's model.")
    cut = _cut_layer(full_model, result.best_model) if full_model is not None else None
    folder = seed_models_dir(stage, session.profile.name)
    folder.mkdir(parents=True, exist_ok=True)
    files, size = {}, 0
    for seed, model in zip(result.seeds, models):
        target = folder / f"seed{seed}.keras"
        with paths.atomic_path(target) as tmp:
            without_optimizer(model).save(tmp)
        files[str(seed)] = target.name
        size += target.stat().st_size
    for stale in folder.glob("seed*.keras"):
        if stale.name not in files.values():
            stale.unlink()
    manifest = {"stage": stage, "from": result.name, "seeds": [int(s) for s in result.seeds], "files": files,
                "val_accuracy": [float(a) for a in result.val_accuracy], "features_layer": cut}
    paths.write_text_atomic(folder / MANIFEST, json.dumps(manifest, indent=1) + "\n")
    shown = folder.relative_to(paths.repo_root()) if folder.is_relative_to(paths.repo_root()) else folder
    print(f"Saved the models of {len(files)} seed(s) of {result.name} to {shown}/ ({size / 1e6:.1f} MB"
          f"{', heads on the frozen layers of ' + stage + '.keras' if cut else ''})")
    return folder


def load_seed_models(stage: str, profile: str | None = None) -> tuple[dict, str]:
    """Every seed's model `save_seed_models` kept for `stage`: ``({seed: model}, message)``.

    When there are none (an older run saved only one model per stage), the dict is empty and the
    message says so in one line, with the command that makes them; nothing is raised.
    """
    import json

    from fmnist.predict import load_model
    from fmnist.profiles import get_profile

    name = get_profile(profile).name
    folder = seed_models_dir(stage, name)
    rerun = f"re-run notebook {stage[:2]} (`fmnist run --profile {name} --only {stage[:2]}`) to save them"
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        files = {int(seed): folder / file for seed, file in manifest["files"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}, f"{stage}: no per-seed models in models/{name}/ (this run saved one model per stage); {rerun}."
    missing = [path.name for path in files.values() if not path.is_file()]
    if missing:
        return {}, f"{stage}: per-seed models missing ({', '.join(missing)}); {rerun}."
    models = {seed: load_model(path) for seed, path in files.items()}
    if manifest.get("features_layer"):
        import keras

        full = load_stage_model(stage, name)
        features = full.get_layer(manifest["features_layer"]).output
        models = {seed: keras.Model(full.inputs, head(features), name=f"{stage}_seed{seed}")
                  for seed, head in models.items()}
    return models, (f"{stage}: {len(models)} per-seed models of {manifest.get('from', stage)} "
                    f"(seeds {', '.join(map(str, models))})")
