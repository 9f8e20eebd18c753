"""classifier: the ruler of every metric, shipped or trained, and the real data's features in it.

`classifier.ruler: auto` takes the ruler the project ships for Fashion-MNIST (checked against the
sha256 on its card) and trains nothing; for a user's own data it trains one, as `train` does. The
features of the real test and training images are computed here, once per ruler, so neither the
training-time FID nor evaluate recomputes them per experiment.
"""

from __future__ import annotations

import shutil
import time

import keras
import numpy as np

from .. import runtime
from ..config import Config
from ..errors import ConfigError
from ..evaluation import ruler
from ..evaluation.features import FeatureExtractor
from ..io import atomic_path, load_model, save_model, write_json, write_npz
from ..paths import CLASSIFIER, CLASSIFIER_REPORT, PREPARED, REAL_FEATURES


def run(cfg: Config) -> None:
    runtime.configure(cfg.seed, cfg.runtime)
    arrays = np.load(PREPARED)
    named = ruler.named_file(cfg.classifier.ruler, cfg.data.source)
    started = time.time()
    if named is None:
        model = ruler.trained(
            arrays,
            len(cfg.data.class_names),
            cfg.classifier.epochs,
            cfg.classifier.batch_size,
            cfg.classifier.learning_rate,
        )
        save_model(model, CLASSIFIER)
        made = {"source": "trained", "epochs": cfg.classifier.epochs}
    else:
        ruler.verified_card(named)
        model = load_model(named)
        if model.output_shape[-1] != len(cfg.data.class_names):
            raise ConfigError(
                f"classifier.ruler: {named} tells {model.output_shape[-1]} classes apart, but "
                f"data.class_names names {len(cfg.data.class_names)}"
            )
        with atomic_path(CLASSIFIER) as tmp:  # a byte copy: the ruler's id is its file's sha256
            shutil.copyfile(named, tmp)
        made = {"source": str(named), "card": str(ruler.card_path(named))}
    seconds = time.time() - started

    real = ruler.real_features(FeatureExtractor(model), arrays, cfg.seed)
    feature_seconds = time.time() - started - seconds
    accuracy = float(np.mean(real["test_proba"].argmax(axis=1) == arrays["test_labels"]))
    loss = float(
        keras.ops.mean(
            keras.losses.sparse_categorical_crossentropy(
                arrays["test_labels"], np.clip(real["test_proba"], 1e-12, 1.0)
            )
        )
    )
    write_npz(REAL_FEATURES, **real)
    ruler_id = ruler.ruler_id(CLASSIFIER)
    write_json(
        CLASSIFIER_REPORT,
        {
            "ruler": ruler_id,
            **made,
            "test_accuracy": round(accuracy, 4),
            "test_loss": round(loss, 4),
            "seconds": round(seconds, 1),
            "feature_seconds": round(feature_seconds, 1),
            "feature_dim": int(real["test_features"].shape[1]),
        },
    )
    how = f"trained {cfg.classifier.epochs} epochs" if named is None else f"{named}, sha256 as on its card"
    print(
        f"classifier: ruler {ruler_id} ({how}, {seconds:.0f} s): test accuracy {accuracy:.4f}; features of "
        f"{len(arrays['train_images']) + len(arrays['test_images'])} real images in {feature_seconds:.0f} s"
    )
