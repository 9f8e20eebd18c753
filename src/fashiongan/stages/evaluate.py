"""evaluate: the standard GAN metrics of the samples against the real test set, each beside its
real-data reference from the reference stage: the same metric for real training images (same
count) against the test set, i.e. what a perfect generator would score.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from .. import metrics, plots, runtime, tracking
from ..config import Config
from ..data import CLASS_NAMES
from ..features import FeatureExtractor
from ..io import load_model, write_json
from .classifier import MODEL as CLASSIFIER, REAL_FEATURES
from .prepare import PREPARED
from .reference import REFERENCE, TEST_NEAREST_TRAIN
from .sample import SAMPLES
from .train import GENERATOR

METRICS = Path("reports/metrics.json")
FIGURES = Path("reports/figures")


def run(cfg: Config) -> None:
    runtime.configure(cfg.seed, cfg.train.threads)
    started = time.perf_counter()
    n = cfg.evaluate.n
    real = np.load(REAL_FEATURES)
    samples = np.load(SAMPLES)
    images, labels, conditional = samples["images"][:n], samples["labels"][:n], bool(samples["conditional"])
    extractor = FeatureExtractor(load_model(CLASSIFIER))
    timings = {}
    features, proba = metrics.timed(timings, "features", extractor.features_and_proba, images)
    test_features, test_labels = real["test_features"][:n], real["test_labels"][:n]

    generated = metrics.suite(features, proba, test_features, test_labels, timings)
    reference = json.loads(REFERENCE.read_text())
    if reference["n"] != n:
        raise ValueError(f"{REFERENCE}: computed for n={reference['n']}, but evaluate.n is {n}: "
                         "run `dvc repro` (or `fashiongan reference`) first")
    reference, fid_noise = reference["metrics"], reference["fid_noise"]
    fake_nn = metrics.timed(timings, "memorisation", metrics.nearest_distances, features, real["train_features"])
    memorised = metrics.memorisation(fake_nn, np.load(TEST_NEAREST_TRAIN)["distances"])
    if conditional:
        generated["label_accuracy"], generated["label_cross_entropy"] = metrics.conditional_accuracy(proba, labels)

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
    model_uri = run.log_generator(
        GENERATOR, register_as=cfg.tracking.experiment if cfg.tracking.register_model else None,
        description=f"FID {result['fid']:.3f} (real-data floor {result['fid_real']:.3f}, n={n}); "
                    f"KID {result['kid']:.4f}, precision {result['precision']:.3f}, recall {result['recall']:.3f}")
    run.end("FINISHED")
    print(f"evaluate: FID {result['fid']:.3f} (real {result['fid_real']:.3f}), KID {result['kid']:.4f}, "
          f"precision {result['precision']:.3f}, recall {result['recall']:.3f}, n={n}, "
          f"{timings['total']:.0f} s -> {METRICS}" + (f", generator logged as {model_uri}" if model_uri else ""))
