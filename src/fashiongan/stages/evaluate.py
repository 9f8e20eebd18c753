"""evaluate: the standard GAN metrics of the samples against the real test set, each beside its
real-data reference from the reference stage: the same metric for real training images (same
count) against the test set, i.e. what a perfect generator would score.

Each evaluation is recorded as an MLflow run of its own under the training run (tracking/evaluation.py),
named by what it measured with: the ruler, n, the samples' seed and count, the generator and this code.
Evaluating again with any of them changed adds a record; none is overwritten.
"""

from __future__ import annotations

import json
import time

import numpy as np

from .. import runtime
from ..config import Config
from ..errors import MissingInput
from ..evaluation import figures, metrics, ruler, scores
from ..evaluation.features import FeatureExtractor
from ..gan.models import TrainedGenerator
from ..io import file_digest, load_model, step_series, write_json
from ..paths import (
    CLASSIFIER,
    FID_HISTORY,
    FIGURES,
    GENERATOR,
    GRID,
    METRICS,
    METRICS_DETAILS,
    PREPARED,
    REAL_FEATURES,
    REFERENCE,
    SAMPLES,
    TEST_NEAREST_TRAIN,
    evaluation_files,
)
from ..tracking.evaluation import data_report, evaluation_artifacts, evaluation_identity, record, trained_with
from ..tracking.run import continue_run


def run(cfg: Config) -> None:
    runtime.configure(cfg.seed, cfg.runtime)
    started, n = time.perf_counter(), cfg.evaluate.n
    reference, ruler_id = json.loads(REFERENCE.read_text()), ruler.ruler_id(CLASSIFIER)
    if (reference["n"], reference.get("ruler")) != (n, ruler_id):
        raise MissingInput(
            f"{REFERENCE}: computed for n={reference['n']} with ruler {reference.get('ruler')}, but "
            f"evaluate.n is {n} and {CLASSIFIER} is ruler {ruler_id}: run `dvc repro` first"
        )
    real, samples = np.load(REAL_FEATURES), np.load(SAMPLES)
    identity = evaluation_identity(samples, n, ruler_id, "evaluate")
    # any first n hold the classes in their shares
    images, labels = samples["images"][:n], samples["labels"][:n]
    timings = {}
    extractor = FeatureExtractor(load_model(CLASSIFIER))
    features, proba = metrics.timed(timings, "features", extractor.features_and_proba, images)
    test = ruler.evaluation_draw(real, n, cfg.seed)  # the test images reference scored against
    result, histograms, memorised = scores.beside_reference(
        features,
        proba,
        labels if samples["conditional"] else None,
        real["test_features"][test],
        real["test_labels"][test],
        real["train_features"],
        np.load(TEST_NEAREST_TRAIN)["distances"],
        reference,
        n,
        timings,
    )
    truncation = figures.write_evaluation_figures(
        FIGURES,
        TrainedGenerator(load_model(GENERATOR)),
        extractor,
        images,
        features,
        real,
        np.load(PREPARED),
        histograms,
        step_series(FID_HISTORY.read_text())["fid"],
        result["fid_real"],
        cfg.seed,
        cfg.data.class_names,
        timings,
    )
    timings["total"] = time.perf_counter() - started
    # what the evaluation's record holds beside the two reports: sample's grid and these figures, each named
    # with its digest so that `tracking sync` sends exactly these files, whatever a checkout did to file times
    drawn = [GRID, *(path for path in evaluation_files() if path not in (METRICS, METRICS_DETAILS))]
    write_json(
        METRICS_DETAILS,
        {
            "ruler": ruler_id,
            "identity": identity,  # what the evaluation's MLflow record is named by (tracking sync reads it)
            "artifacts": {path.as_posix(): file_digest(path) for path in drawn},
            "timings_s": {k: round(v, 2) for k, v in timings.items()},
            "memorisation": memorised,
            "class_histograms": histograms,
            "truncation": truncation,
        },
    )
    write_json(METRICS, result | {"ruler": ruler_id, "train_inputs": trained_with()})

    mlflow_run = continue_run(cfg.tracking.enabled)
    model_uri, evaluation_id = record(
        mlflow_run,
        GENERATOR,
        identity,
        result,
        evaluation_artifacts(),
        data_report(),
        cfg.tracking.experiment if cfg.tracking.register_model else None,
        cfg.data.class_names,
    )
    print(
        f"evaluate: ruler {ruler_id}: FID {result['fid']:.3f} (real {result['fid_real']:.3f}), "
        f"KID {result['kid']:.4f}, "
        f"precision {result['precision']:.3f}, recall {result['recall']:.3f}, n={n}, "
        f"{timings['total']:.0f} s -> {METRICS}"
        + (f", generator {model_uri}, evaluation run {evaluation_id}" if evaluation_id else "")
    )
