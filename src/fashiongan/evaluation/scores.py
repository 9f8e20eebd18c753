"""evaluate's numbers: every metric of the generated images against the test images, each beside its
real-data reference (the same metric for as many real training images, from the reference stage), the
uniform-noise ceiling, and the share of generated images closer to a training image than test images are."""

from __future__ import annotations

import numpy as np

from . import metrics


def beside_reference(
    features: np.ndarray,
    proba: np.ndarray,
    labels: np.ndarray | None,
    test_features: np.ndarray,
    test_labels: np.ndarray,
    train_features: np.ndarray,
    test_nearest_train: np.ndarray,
    reference: dict,
    n: int,
    timings: dict,
) -> tuple[dict, dict, dict]:
    """The scores of `n` generated images (their features and class probabilities; `labels`, the classes
    they were drawn for, None for an unconditional generator) against the test images the reference was
    scored against. Returns metrics.json's numbers (floats to 5 places), the predicted-class histograms of
    both sides and memorisation's details; each metric's time goes into `timings`."""
    generated = metrics.suite(features, proba, test_features, test_labels, timings)
    fake_nn = metrics.timed(timings, "memorisation", metrics.nearest_distances, features, train_features)
    memorised = metrics.memorisation(fake_nn, test_nearest_train)
    if labels is not None:
        generated["label_accuracy"], generated["label_cross_entropy"] = metrics.conditional_accuracy(
            proba, labels
        )
    real_side = dict(reference["metrics"])  # the caller's reference keeps its histogram
    histograms = {
        "generated": generated.pop("class_histogram"),
        "real train": real_side.pop("class_histogram"),
    }
    result = {
        **generated,
        **{f"{k}_real": v for k, v in real_side.items()},
        "fid_noise": reference["fid_noise"],
        "memorised_fraction": memorised["fraction_close"],
        "n": n,
    }
    return {k: round(v, 5) if isinstance(v, float) else v for k, v in result.items()}, histograms, memorised
