"""evaluate: FID of the samples against the real test set, beside the real-data floor.

The floor is the same metric for real training images (same count) against the test set: what
a perfect generator would score, so a number can be read against it.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from .. import metrics, runtime, tracking
from ..config import Config
from ..features import FeatureExtractor
from ..io import write_json
from .classifier import MODEL as CLASSIFIER, REAL_FEATURES
from .sample import SAMPLES

METRICS = Path("reports/metrics.json")


def run(cfg: Config) -> None:
    runtime.configure(cfg.seed, cfg.train.threads)
    n = cfg.evaluate.n
    real = np.load(REAL_FEATURES)
    generated = np.load(SAMPLES)["images"][:n]
    extractor = FeatureExtractor(keras.models.load_model(CLASSIFIER, safe_mode=True))
    fake_features = extractor.features(generated)
    test_stats = metrics.feature_statistics(real["test_features"][:n])
    floor_n = min(n, len(real["train_features"]))
    result = {
        "fid": metrics.frechet_distance(*metrics.feature_statistics(fake_features), *test_stats),
        "fid_floor": metrics.frechet_distance(*metrics.feature_statistics(real["train_features"][:floor_n]),
                                              *test_stats),
        "n": n,
    }
    result = {k: round(v, 4) if isinstance(v, float) else v for k, v in result.items()}
    write_json(METRICS, result)
    run = tracking.continue_run(cfg.tracking.enabled)
    run.log_series({f"eval.{k}": [(0, v)] for k, v in result.items()})
    run.log_artifact(METRICS)
    run.end("FINISHED")
    print(f"evaluate: FID {result['fid']:.3f} (real-data floor {result['fid_floor']:.3f}, n={n}) -> {METRICS}")
