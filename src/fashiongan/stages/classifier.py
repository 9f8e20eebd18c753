"""classifier: train the feature network once, report its test accuracy, cache real-data features.

The features of the real test and training images are computed here, once per classifier, so
neither training-time FID nor evaluate recomputes them per experiment.
"""

from __future__ import annotations

import time

import keras
import numpy as np

from .. import runtime
from ..config import Config
from ..data import class_balanced
from ..features import FeatureExtractor, build_classifier, train_classifier
from ..io import save_model, write_json, write_npz
from ..paths import CLASSIFIER, CLASSIFIER_REPORT, PREPARED, REAL_FEATURES


def run(cfg: Config) -> None:
    runtime.configure(cfg.seed, cfg.runtime)
    arrays = np.load(PREPARED)
    model = build_classifier(len(cfg.data.class_names))
    started = time.time()
    train_classifier(model, arrays["train_images"], arrays["train_labels"],
                     cfg.classifier.epochs, cfg.classifier.batch_size, cfg.classifier.learning_rate)
    seconds = time.time() - started

    extractor = FeatureExtractor(model)
    test_features, test_proba = extractor.features_and_proba(arrays["test_images"])
    train_features, train_proba = extractor.features_and_proba(arrays["train_images"])
    # real training images as a "perfect generator": as many as the test set, in the classes' shares
    reference = class_balanced(arrays["train_labels"], len(arrays["test_images"]), cfg.seed)
    accuracy = float(np.mean(test_proba.argmax(axis=1) == arrays["test_labels"]))
    loss = float(keras.ops.mean(keras.losses.sparse_categorical_crossentropy(
        arrays["test_labels"], np.clip(test_proba, 1e-12, 1.0))))

    save_model(model, CLASSIFIER)
    write_npz(REAL_FEATURES, test_features=test_features, test_proba=test_proba, test_labels=arrays["test_labels"],
              train_features=train_features.astype(np.float32),
              reference_features=train_features[reference], reference_proba=train_proba[reference],
              reference_labels=arrays["train_labels"][reference])
    write_json(CLASSIFIER_REPORT, {"test_accuracy": round(accuracy, 4), "test_loss": round(loss, 4),
                        "train_seconds": round(seconds, 1), "feature_dim": int(test_features.shape[1])})
    print(f"classifier: test accuracy {accuracy:.4f} after {cfg.classifier.epochs} epochs ({seconds:.0f} s)")
