"""evaluate: the standard GAN metrics of the samples against the real test set, each beside its
real-data reference: the same metric for real training images (same count) against the test set,
i.e. what a perfect generator would score.
"""

from __future__ import annotations

import time
from pathlib import Path

import keras
import numpy as np

from .. import metrics, plots, runtime, tracking
from ..config import Config
from ..data import CLASS_NAMES
from ..features import FeatureExtractor
from ..io import write_json
from .classifier import MODEL as CLASSIFIER, REAL_FEATURES
from .prepare import PREPARED
from .sample import SAMPLES

METRICS = Path("reports/metrics.json")
FIGURES = Path("reports/figures")


def timed(timings: dict, name: str, fn, *args):
    """fn(*args), adding its wall time to timings[name] (the bench reports the split by metric)."""
    started = time.perf_counter()
    value = fn(*args)
    timings[name] = timings.get(name, 0.0) + time.perf_counter() - started
    return value


def suite(features, proba, test_features, test_labels, timings: dict) -> dict:
    """Every unconditional metric of one set of images (features, class probabilities) vs the test set."""

    kid, kid_std = timed(timings, "kid", metrics.kernel_inception_distance, features, test_features)
    score, score_std = timed(timings, "classifier_score", metrics.classifier_score, proba)
    precision, recall = timed(timings, "precision_recall", metrics.precision_recall, test_features, features)
    density, coverage = timed(timings, "density_coverage", metrics.density_coverage, test_features, features)
    classes = timed(timings, "class_coverage", metrics.class_coverage, proba, test_labels)
    return {
        "fid": timed(timings, "fid", metrics.fid, features, test_features),
        "kid": kid, "kid_std": kid_std,
        "classifier_score": score, "classifier_score_std": score_std,
        "precision": precision, "recall": recall, "density": density, "coverage": coverage,
        "class_kl": classes["kl"], "classes_under_1pct": classes["classes_under_1pct"],
        "class_histogram": classes["histogram"],
    }


def run(cfg: Config) -> None:
    runtime.configure(cfg.seed, cfg.train.threads)
    started = time.perf_counter()
    n = cfg.evaluate.n
    real = np.load(REAL_FEATURES)
    samples = np.load(SAMPLES)
    images, labels, conditional = samples["images"][:n], samples["labels"][:n], bool(samples["conditional"])
    extractor = FeatureExtractor(keras.models.load_model(CLASSIFIER, safe_mode=True))
    timings = {}
    features, proba = timed(timings, "features", extractor.features_and_proba, images)
    test_features, test_labels = real["test_features"][:n], real["test_labels"][:n]

    generated = suite(features, proba, test_features, test_labels, timings)
    reference = suite(real["reference_features"][:n], real["reference_proba"][:n], test_features, test_labels, {})
    memorised = timed(timings, "memorisation", metrics.memorisation, features, test_features, real["train_features"])
    if conditional:
        generated["label_accuracy"], generated["label_cross_entropy"] = metrics.conditional_accuracy(proba, labels)

    # A ceiling beside the floor: uniform noise images, so a FID can be placed between the two.
    noise = np.random.default_rng(cfg.seed).integers(0, 256, images.shape, dtype=np.uint8)
    fid_noise = metrics.fid(extractor.features(noise), test_features)

    histograms = {"generated": generated.pop("class_histogram"), "real train": reference.pop("class_histogram")}
    result = {**generated, **{f"{k}_real": v for k, v in reference.items()},
              "fid_noise": fid_noise, "memorised_fraction": memorised["fraction_close"], "n": n}
    result = {k: round(v, 5) if isinstance(v, float) else v for k, v in result.items()}
    timings["total"] = time.perf_counter() - started
    details = {"timings_s": {k: round(v, 2) for k, v in timings.items()}, "memorisation": memorised,
               "class_histograms": histograms}

    FIGURES.mkdir(parents=True, exist_ok=True)
    plots.save_class_histogram(FIGURES / "class_histogram.png", histograms, CLASS_NAMES)
    arrays = np.load(PREPARED)
    nearest = metrics.nearest_indices(features[:8], real["train_features"], k=3)
    plots.save_neighbours(FIGURES / "nearest_neighbours.png", images[:8], arrays["train_images"][nearest])
    fid_curve = np.loadtxt("reports/train/fid.csv", delimiter=",", skiprows=1, ndmin=2)
    plots.save_fid_curve(FIGURES / "fid_by_step.png", fid_curve, result["fid_real"])
    write_json(FIGURES.parent / "metrics_details.json", details)
    write_json(METRICS, result)

    run = tracking.continue_run(cfg.tracking.enabled)
    run.log_series({f"eval.{k}": [(0, v)] for k, v in result.items()})
    for path in (METRICS, FIGURES.parent / "metrics_details.json", *sorted(FIGURES.glob("*.png"))):
        run.log_artifact(path, "evaluation")
    run.end("FINISHED")
    print(f"evaluate: FID {result['fid']:.3f} (real {result['fid_real']:.3f}), KID {result['kid']:.4f}, "
          f"precision {result['precision']:.3f}, recall {result['recall']:.3f}, n={n}, "
          f"{timings['total']:.0f} s -> {METRICS}")
