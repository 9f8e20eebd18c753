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
import math
import platform
import subprocess
from pathlib import Path

import keras
import numpy as np

from . import metrics
from .data import FASHION_MNIST, class_balanced
from .errors import ModelFileError
from .features import FeatureExtractor, build_classifier, train_classifier
from .io import file_digest, load_model, save_model, write_json

RULERS = Path("rulers")
SHIPPED = {FASHION_MNIST: RULERS / "fashion-mnist.keras"}
ID_LENGTH = 12
CHECKED_DIGITS = 3  # a card's numbers hold on another CPU to this many significant digits


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
        raise ModelFileError(f"{path}: sha256 {digest[:ID_LENGTH]}..., expected {expected[:ID_LENGTH]}... "
                             f"(its card {card_file}): not the ruler the card describes")
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
    return dict(test_features=test_features, test_proba=test_proba, test_labels=arrays["test_labels"],
                train_features=train_features.astype(np.float32), reference_features=train_features[reference],
                reference_proba=train_proba[reference], reference_labels=arrays["train_labels"][reference])


def evaluation_draw(real, n: int, seed: int) -> np.ndarray:
    """The n test images every metric scores against, each class in its share."""
    return class_balanced(real["test_labels"], n, seed)


def reference_draw(real, n: int, seed: int) -> np.ndarray:
    """The n real training images scored as a perfect generator (indices into real's reference_*)."""
    return class_balanced(real["reference_labels"], n, seed)


def noise_images(n: int, seed: int) -> np.ndarray:
    """Uniform noise images: the FID ceiling beside the real-data floor."""
    return np.random.default_rng(seed).integers(0, 256, (n, 28, 28, 1), dtype=np.uint8)


def measured(extractor: FeatureExtractor, arrays, n: int, seed: int) -> dict:
    """What a card records, measured with this extractor on the prepared arrays, as the pipeline measures it."""
    real = real_features(extractor, arrays, seed)
    test_features = real["test_features"][evaluation_draw(real, n, seed)]
    chosen = reference_draw(real, n, seed)
    return {"test_accuracy": float(np.mean(real["test_proba"].argmax(axis=1) == real["test_labels"])),
            "n": n, "seed": seed,
            "fid_real": metrics.fid(real["reference_features"][chosen], test_features),
            "fid_noise": metrics.fid(extractor.features(noise_images(n, seed)), test_features)}


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def make(out: Path, arrays, data_report: dict, classes: int, seed: int, training, n: int) -> dict:
    """Train a ruler (`training`: params' classifier section; the caller seeded the run with `seed`),
    save it to `out` and its card beside it, measured on n images per side; returns the card."""
    model = trained(arrays, classes, training.epochs, training.batch_size, training.learning_rate)
    save_model(model, out)
    commit = _git("rev-parse", "HEAD") or None
    card = {
        "file": out.name, "sha256": file_digest(out), "id": ruler_id(out), "bytes": out.stat().st_size,
        "feature_layer": "features", "feature_dim": int(model.get_layer("features").units),
        "made_by": {"command": f"fashiongan ruler make {out}", "commit": commit,
                    "uncommitted_changes": bool(_git("status", "--porcelain", "--untracked-files=no")),
                    "seed": seed, "epochs": training.epochs, "batch_size": training.batch_size,
                    "learning_rate": training.learning_rate,
                    "data": {"source": data_report.get("source"), "sha256": data_report.get("sha256")},
                    "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, "
                               f"TensorFlow/Keras {keras.__version__}"},
        "measured": _rounded(measured(FeatureExtractor(load_model(out)), arrays, n, seed)),
    }
    write_json(card_path(out), card)
    return card


def _rounded(values: dict) -> dict:
    return {k: float(f"{v:.6g}") if isinstance(v, float) else v for k, v in values.items()}


def agree(value: float, card_value: float, digits: int = CHECKED_DIGITS) -> bool:
    """Within half a unit of the card value's last checked significant digit."""
    unit = 10.0 ** (math.floor(math.log10(abs(card_value))) - digits + 1) if card_value else 10.0 ** -digits
    return abs(value - card_value) <= unit / 2


def check(path: Path, arrays) -> tuple[dict, list[str]]:
    """Remeasure a ruler's card on this machine: (the measured values, one line per value that
    differs from the card in its first CHECKED_DIGITS significant digits)."""
    card = verified_card(path)
    expected = card["measured"]
    now = measured(FeatureExtractor(load_model(path)), arrays, expected["n"], expected["seed"])
    problems = [f"{key}: measured {now[key]:.6g}, card {expected[key]:.6g}"
                for key in ("test_accuracy", "fid_real", "fid_noise")
                if not agree(now[key], expected[key])]
    return _rounded(now), problems
