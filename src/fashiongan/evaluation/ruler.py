"""The ruler: the classifier in whose feature space every metric is measured.

For Fashion-MNIST the project ships one (rulers/fashion-mnist.keras, its card beside it as .json,
docs/ruler.md), so that an FID measured on any machine, by anyone, at any time is on one scale.
For a user's own data the classifier stage trains one. A ruler is named by its id, the sha256
prefix of its file; every number the pipeline writes carries it, and numbers taken with two
rulers are never ranked together.

A card records how its ruler was made and what it measures: test accuracy, the real-data FID
floor and the uniform-noise ceiling, each recomputable on any machine (`fashiongan ruler check`):
CPUs differ in round-off, not in weights.
"""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np

from ..config import FASHION_MNIST
from ..data.images import class_balanced
from ..errors import ModelFileError
from ..io import file_digest
from .features import FeatureExtractor, build_classifier, train_classifier

RULERS = Path("rulers")


SHIPPED = {FASHION_MNIST: RULERS / "fashion-mnist.keras"}


ID_LENGTH = 12


def ruler_id(path: str | Path) -> str:
    return file_digest(path)[:ID_LENGTH]


def card_path(ruler: str | Path) -> Path:
    return Path(ruler).with_suffix(".json")


def named_file(ruler_param: str, source: str) -> Path | None:
    """The ruler file `classifier.ruler` names for `data.source`; None: the classifier stage trains one."""
    if ruler_param == "train":
        return None
    if ruler_param == "auto":
        return SHIPPED.get(source)
    return Path(ruler_param)


def verified_card(path: Path) -> dict:
    """The card of a ruler file, once the file is the one it describes (its sha256)."""
    card_file = card_path(path)
    try:
        card = json.loads(card_file.read_text())
        expected = card["sha256"]
    except (OSError, ValueError, KeyError) as e:
        raise ModelFileError(f"{card_file}: no readable ruler card with a sha256 for {path} ({e})") from None
    if not path.is_file():
        raise ModelFileError(f"{path}: no such ruler file (its card is {card_file})")
    digest = file_digest(path)
    if digest != expected:
        raise ModelFileError(
            f"{path}: sha256 {digest[:ID_LENGTH]}..., expected {expected[:ID_LENGTH]}... "
            f"(its card {card_file}): not the ruler the card describes"
        )
    return card


def trained(arrays, classes: int, epochs: int, batch_size: int, learning_rate: float) -> keras.Model:
    """A new ruler: the classifier trained on the prepared training images, without its optimizer
    (a ruler is used for inference only; the optimizer state would triple the file)."""
    model = build_classifier(classes)
    train_classifier(model, arrays["train_images"], arrays["train_labels"], epochs, batch_size, learning_rate)
    bare = build_classifier(classes)  # uncompiled (keras.models.clone_model keeps the compile config)
    bare.set_weights(model.get_weights())
    return bare


def real_features(extractor: FeatureExtractor, arrays, seed: int) -> dict[str, np.ndarray]:
    """The real side of every metric as the ruler sees it: the test images, every training image
    (for memorisation) and, as a perfect generator, as many training images as the test set holds,
    each class in its share."""
    test_features, test_proba = extractor.features_and_proba(arrays["test_images"])
    train_features, train_proba = extractor.features_and_proba(arrays["train_images"])
    reference = class_balanced(arrays["train_labels"], len(arrays["test_images"]), seed)
    return dict(
        test_features=test_features,
        test_proba=test_proba,
        test_labels=arrays["test_labels"],
        train_features=train_features.astype(np.float32),
        reference_features=train_features[reference],
        reference_proba=train_proba[reference],
        reference_labels=arrays["train_labels"][reference],
    )


def evaluation_draw(real, n: int, seed: int) -> np.ndarray:
    """The n test images every metric scores against, each class in its share."""
    return class_balanced(real["test_labels"], n, seed)


def reference_draw(real, n: int, seed: int) -> np.ndarray:
    """The n real training images scored as a perfect generator (indices into real's reference_*)."""
    return class_balanced(real["reference_labels"], n, seed)


def noise_images(n: int, seed: int) -> np.ndarray:
    """Uniform noise images: the FID ceiling beside the real-data floor."""
    return np.random.default_rng(seed).integers(0, 256, (n, 28, 28, 1), dtype=np.uint8)
