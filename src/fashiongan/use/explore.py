"""`fashiongan explore`: evaluation/figures.py's figures of what a generator learned (interpolations,
class morph, truncation trade-off), for any generator, a file or an MLflow URI, into a directory, with
the truncation table measured on the pipeline's ruler."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import MissingInput
from ..evaluation.features import FeatureExtractor
from ..evaluation.figures import write_figures
from ..evaluation.ruler import ruler_id
from ..gan.models import TrainedGenerator, class_shares
from ..io import load_model, write_json
from ..paths import CLASSIFIER, PREPARED, REAL_FEATURES
from ..tracking.model import generator_file


def command(args) -> None:
    """`fashiongan explore`: write_figures for --model into --out, the truncation table in truncation.json."""
    for path in (CLASSIFIER, REAL_FEATURES):
        if not path.is_file():
            raise MissingInput(
                f"{path}: missing; the truncation FIDs use the pipeline's classifier: "
                "run `dvc repro reference` first"
            )
    generator = TrainedGenerator(load_model(generator_file(args.model)))
    out = Path(args.out)
    shares = None  # equal shares, unless this is the pipeline's data (then its training set's, as evaluate)
    if generator.conditional and PREPARED.is_file():
        train_labels = np.load(PREPARED)["train_labels"]
        if train_labels.max() < generator.classes:
            shares = class_shares(train_labels, generator.classes)
    if generator.conditional:
        drawn_by = f"their shares in {PREPARED}" if shares is not None else "equal shares"
        print(f"explore: classes drawn by {drawn_by}")
    real = np.load(REAL_FEATURES)
    table = write_figures(
        generator,
        out,
        FeatureExtractor(load_model(CLASSIFIER)),
        real["test_features"],
        real["test_labels"],
        args.seed,
        shares=shares,
    )
    measured_with = ruler_id(CLASSIFIER)
    write_json(out / "truncation.json", [row | {"ruler": measured_with} for row in table])
    for row in table:
        print(
            f"explore: truncation {row['truncation']:g}: FID {row['fid']:.2f}, recall {row['recall']:.3f} "
            f"(n={row['n']})"
        )
    print(f"explore: {', '.join(sorted(p.name for p in out.iterdir()))} -> {out}")
