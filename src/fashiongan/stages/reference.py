"""reference: the real-data side of every metric, computed once per classifier and evaluate.n.

Real training images scored against the test set exactly as evaluate scores generated images,
i.e. what a perfect generator would score, plus each test image's distance to its nearest
training image (the memorisation baseline) and, as a ceiling beside the floor, the FID of
uniform noise images, so a generator's FID can be placed between the two. A DVC output:
experiments that change only GAN params reuse it instead of recomputing it (it was half of
evaluate's time).
"""

from __future__ import annotations

import numpy as np

from .. import metrics, runtime
from ..config import Config
from ..data import class_balanced
from ..features import FeatureExtractor
from ..io import load_model, write_json, write_npz
from ..paths import CLASSIFIER, REAL_FEATURES, REFERENCE, TEST_NEAREST_TRAIN


def run(cfg: Config) -> None:
    runtime.configure(cfg.seed, cfg.runtime)
    n = cfg.evaluate.n
    real = np.load(REAL_FEATURES)
    test = class_balanced(real["test_labels"], n, cfg.seed)  # every class in its share, whatever n is
    test_features, test_labels = real["test_features"][test], real["test_labels"][test]
    timings = {}
    chosen = class_balanced(real["reference_labels"], n, cfg.seed)
    reference = metrics.suite(real["reference_features"][chosen], real["reference_proba"][chosen],
                              test_features, test_labels, timings)
    distances = metrics.timed(timings, "memorisation", metrics.nearest_distances, test_features,
                              real["train_features"])
    noise = np.random.default_rng(cfg.seed).integers(0, 256, (n, 28, 28, 1), dtype=np.uint8)
    extractor = FeatureExtractor(load_model(CLASSIFIER))
    fid_noise = metrics.timed(timings, "fid_noise", lambda: metrics.fid(extractor.features(noise), test_features))
    write_npz(TEST_NEAREST_TRAIN, distances=distances)
    write_json(REFERENCE, {"n": n, "metrics": reference, "fid_noise": fid_noise,
                           "timings_s": {k: round(v, 2) for k, v in timings.items()}})
    print(f"reference: real train vs test, n={n}: FID {reference['fid']:.3f}, precision {reference['precision']:.3f}, "
          f"recall {reference['recall']:.3f}, {sum(timings.values()):.0f} s -> {REFERENCE}")
