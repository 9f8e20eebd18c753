"""reference: the real-data side of every metric, computed once per ruler and evaluate.n.

Real training images scored against the test set exactly as evaluate scores generated images,
i.e. what a perfect generator would score, plus each test image's distance to its nearest
training image (the memorisation baseline) and, as a ceiling beside the floor, the FID of
uniform noise images, so a generator's FID can be placed between the two. A DVC output:
experiments that change only GAN params reuse it instead of recomputing it (it was half of
evaluate's time).
"""

from __future__ import annotations

import numpy as np

from .. import runtime
from ..config import Config
from ..evaluation import metrics, ruler
from ..evaluation.features import FeatureExtractor
from ..io import load_model, write_json, write_npz
from ..paths import CLASSIFIER, REAL_FEATURES, REFERENCE, TEST_NEAREST_TRAIN


def run(cfg: Config) -> None:
    runtime.configure(cfg.seed, cfg.runtime)
    n = cfg.evaluate.n
    real = np.load(REAL_FEATURES)
    test = ruler.evaluation_draw(real, n, cfg.seed)
    test_features, test_labels = real["test_features"][test], real["test_labels"][test]
    timings = {}
    chosen = ruler.reference_draw(real, n, cfg.seed)
    reference = metrics.suite(
        real["reference_features"][chosen],
        real["reference_proba"][chosen],
        test_features,
        test_labels,
        timings,
    )
    distances = metrics.timed(
        timings, "memorisation", metrics.nearest_distances, test_features, real["train_features"]
    )
    extractor = FeatureExtractor(load_model(CLASSIFIER))
    fid_noise = metrics.timed(
        timings,
        "fid_noise",
        lambda: metrics.fid(extractor.features(ruler.noise_images(n, cfg.seed)), test_features),
    )
    ruler_id = ruler.ruler_id(CLASSIFIER)
    write_npz(TEST_NEAREST_TRAIN, distances=distances)
    write_json(
        REFERENCE,
        {
            "n": n,
            "ruler": ruler_id,
            "metrics": reference,
            "fid_noise": fid_noise,
            "timings_s": {k: round(v, 2) for k, v in timings.items()},
        },
    )
    print(
        f"reference: real train vs test, n={n}, ruler {ruler_id}: FID {reference['fid']:.3f}, "
        f"noise {fid_noise:.1f}, precision {reference['precision']:.3f}, recall {reference['recall']:.3f}, "
        f"{sum(timings.values()):.0f} s -> {REFERENCE}"
    )
