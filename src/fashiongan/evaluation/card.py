"""A ruler's card: how the ruler was made and what it measures, made once and checked on any machine.

`fashiongan ruler make` trains a ruler and writes its card; `fashiongan ruler check` measures the
card's values again. CPUs differ in round-off, not in weights: values agree to CHECKED_DIGITS.
"""

from __future__ import annotations

import json
import math
import platform
from pathlib import Path

import keras
import numpy as np

from .. import runtime
from ..config import FASHION_MNIST
from ..errors import ConfigError, MissingInput, ModelFileError
from ..io import file_digest, load_model, save_model, write_json
from ..lineage import git, git_commit
from ..params import load
from ..paths import DATA_REPORT, PREPARED
from . import metrics
from .features import FeatureExtractor
from .ruler import (
    SHIPPED,
    card_path,
    evaluation_draw,
    noise_images,
    real_features,
    reference_draw,
    ruler_id,
    trained,
    verified_card,
)

CHECKED_DIGITS = 3  # a card's numbers hold on another CPU to this many significant digits


def measured(extractor: FeatureExtractor, arrays, n: int, seed: int) -> dict:
    """What a card records, measured with this extractor on the prepared arrays as the pipeline
    measures it."""
    real = real_features(extractor, arrays, seed)
    test_features = real["test_features"][evaluation_draw(real, n, seed)]
    chosen = reference_draw(real, n, seed)
    return {
        "test_accuracy": float(np.mean(real["test_proba"].argmax(axis=1) == real["test_labels"])),
        "n": n,
        "seed": seed,
        "fid_real": metrics.fid(real["reference_features"][chosen], test_features),
        "fid_noise": metrics.fid(extractor.features(noise_images(n, seed)), test_features),
    }


def make(out: Path, arrays, data_report: dict, classes: int, seed: int, training, n: int) -> dict:
    """Train a ruler (`training`: params' classifier section; the caller seeded the run with `seed`),
    save it to `out` and its card beside it, measured on n images per side; returns the card."""
    model = trained(arrays, classes, training.epochs, training.batch_size, training.learning_rate)
    save_model(model, out)
    commit = git_commit(Path.cwd())
    card = {
        "file": out.name,
        "sha256": file_digest(out),
        "id": ruler_id(out),
        "bytes": out.stat().st_size,
        "feature_layer": "features",
        "feature_dim": int(model.get_layer("features").units),
        "made_by": {
            "command": f"fashiongan ruler make {out}",
            "commit": commit,
            "uncommitted_changes": bool(git(Path.cwd(), "status", "--porcelain", "--untracked-files=no")),
            "seed": seed,
            "epochs": training.epochs,
            "batch_size": training.batch_size,
            "learning_rate": training.learning_rate,
            "data": {"source": data_report.get("source"), "sha256": data_report.get("sha256")},
            "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, "
            f"TensorFlow/Keras {keras.__version__}",
        },
        "measured": _rounded(measured(FeatureExtractor(load_model(out)), arrays, n, seed)),
    }
    write_json(card_path(out), card)
    return card


def _rounded(values: dict) -> dict:
    return {k: float(f"{v:.6g}") if isinstance(v, float) else v for k, v in values.items()}


def agree(value: float, card_value: float, digits: int = CHECKED_DIGITS) -> bool:
    """Within half a unit of the card value's last checked significant digit."""
    unit = 10.0 ** (math.floor(math.log10(abs(card_value))) - digits + 1) if card_value else 10.0**-digits
    return abs(value - card_value) <= unit / 2


def check(path: Path, arrays) -> tuple[dict, list[str]]:
    """Remeasure a ruler's card on this machine: (the measured values, one line per value that
    differs from the card in its first CHECKED_DIGITS significant digits)."""
    card = verified_card(path)
    expected = card["measured"]
    now = measured(FeatureExtractor(load_model(path)), arrays, expected["n"], expected["seed"])
    problems = [
        f"{key}: measured {now[key]:.6g}, card {expected[key]:.6g}"
        for key in ("test_accuracy", "fid_real", "fid_noise")
        if not agree(now[key], expected[key])
    ]
    return _rounded(now), problems


def command(args) -> None:
    """`fashiongan ruler make OUT` and `fashiongan ruler check [FILE]`, on data/prepared/ seeded as the
    params say."""
    cfg = load(args.params)
    if not PREPARED.is_file():
        raise MissingInput(f"{PREPARED}: missing; run `dvc repro prepare` first")
    arrays = np.load(PREPARED)
    runtime.configure(cfg.seed, cfg.runtime)
    if args.action == "make":
        if not args.file or not args.file.endswith(".keras"):
            raise ConfigError(
                f"ruler make: got {args.file!r}, expected the output path, e.g. rulers/<name>.keras"
            )
        card = make(
            Path(args.file),
            arrays,
            json.loads(DATA_REPORT.read_text()),
            len(cfg.data.class_names),
            cfg.seed,
            cfg.classifier,
            cfg.evaluate.n,
        )
        print(
            f"ruler: {args.file} (id {card['id']}, {card['bytes']} bytes), card {card_path(args.file)}: "
            + ", ".join(f"{k} {v}" for k, v in card["measured"].items())
        )
        return
    path = Path(args.file) if args.file else SHIPPED[FASHION_MNIST]
    now, problems = check(path, arrays)
    if problems:
        raise ModelFileError(f"ruler check {path}: differs from its card: " + "; ".join(problems))
    print(
        f"ruler check {path}: id {ruler_id(path)} as on its card; "
        + ", ".join(f"{k} {v}" for k, v in now.items())
        + f" agree with the card to {CHECKED_DIGITS} "
        "significant digits"
    )
