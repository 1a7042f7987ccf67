"""The final evaluation's tools under one name, kept for the notebooks and older callers.

Each concern lives in its own module; this one only re-exports them:

- `fmnist.stats`: intervals, McNemar, calibration, confusions, model comparison, spread over seeds;
- `fmnist.prediction_cache`: test predictions computed once and reused while model and images match;
- `fmnist.stage_models`: loading the stages' saved models, saving and loading every seed's model;
- `fmnist.neighbours`: nearest training images in pixel space.
"""

from __future__ import annotations

from fmnist.neighbours import nearest_neighbours
from fmnist.prediction_cache import predict_cached, prediction_path, prediction_source
from fmnist.stage_models import load_seed_models, load_stage_model, save_seed_models
from fmnist.stats import (EvaluationError, bootstrap_ci, compare_models, expected_calibration_error, mcnemar,
                          most_confused_pairs, reliability, seed_spread)

__all__ = ["EvaluationError", "bootstrap_ci", "compare_models", "expected_calibration_error", "load_seed_models",
           "load_stage_model", "mcnemar", "most_confused_pairs", "nearest_neighbours", "predict_cached",
           "prediction_path", "prediction_source", "reliability", "save_seed_models", "seed_spread"]
