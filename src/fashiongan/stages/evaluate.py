"""evaluate: the standard GAN metrics of the samples against the real test set, each beside its
real-data reference from the reference stage: the same metric for real training images (same
count) against the test set, i.e. what a perfect generator would score.
"""

from __future__ import annotations

import json
import time

import numpy as np

from .. import plots, runtime
from ..config import Config
from ..errors import MissingInput
from ..evaluation import metrics, ruler
from ..evaluation.features import FeatureExtractor
from ..gan.models import TrainedGenerator, class_shares
from ..io import load_model, step_series, write_json
from ..paths import (
    CLASSIFIER,
    DATA_REPORT,
    FID_HISTORY,
    FIGURES,
    GENERATOR,
    METRICS,
    METRICS_DETAILS,
    PREPARED,
    REAL_FEATURES,
    REFERENCE,
    SAMPLES,
    TEST_NEAREST_TRAIN,
    evaluation_files,
)
from ..tracking.model import log_generator, model_description
from ..tracking.run import continue_run
from ..use import explore


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
    images, labels = (
        samples["images"][:n],
        samples["labels"][:n],
    )  # any first n hold the classes in their shares
    timings = {}
    extractor = FeatureExtractor(load_model(CLASSIFIER))
    features, proba = metrics.timed(timings, "features", extractor.features_and_proba, images)
    test = ruler.evaluation_draw(real, n, cfg.seed)  # the test images reference scored against
    generated = metrics.suite(
        features, proba, real["test_features"][test], real["test_labels"][test], timings
    )
    fake_nn = metrics.timed(
        timings, "memorisation", metrics.nearest_distances, features, real["train_features"]
    )
    memorised = metrics.memorisation(fake_nn, np.load(TEST_NEAREST_TRAIN)["distances"])
    if samples["conditional"]:
        generated["label_accuracy"], generated["label_cross_entropy"] = metrics.conditional_accuracy(
            proba, labels
        )
    real_side = reference["metrics"]
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
    result = {k: round(v, 5) if isinstance(v, float) else v for k, v in result.items()}

    nearest = metrics.nearest_indices(features[:8], real["train_features"], k=3)
    prepared = np.load(PREPARED)
    plots.save_class_histogram(FIGURES / "class_histogram.png", histograms, cfg.data.class_names)
    plots.save_neighbours(FIGURES / "nearest_neighbours.png", images[:8], prepared["train_images"][nearest])
    plots.save_fid_curve(
        FIGURES / "fid_by_step.png", step_series(FID_HISTORY.read_text())["fid"], result["fid_real"]
    )
    generator = TrainedGenerator(load_model(GENERATOR))
    shares = class_shares(prepared["train_labels"], generator.classes) if generator.conditional else None
    truncation = metrics.timed(
        timings,
        "explore",
        lambda: explore.write_figures(
            generator,
            FIGURES,
            extractor,
            real["test_features"],
            real["test_labels"],
            cfg.seed,
            class_names=cfg.data.class_names,
            shares=shares,
        ),
    )
    timings["total"] = time.perf_counter() - started
    write_json(
        METRICS_DETAILS,
        {
            "ruler": ruler_id,
            "timings_s": {k: round(v, 2) for k, v in timings.items()},
            "memorisation": memorised,
            "class_histograms": histograms,
            "truncation": truncation,
        },
    )
    write_json(METRICS, result | {"ruler": ruler_id})

    mlflow_run = continue_run(cfg.tracking.enabled)
    if DATA_REPORT.is_file():  # prepare's report (a dvc.yaml dep; absent when a stage runs on hand-made data)
        mlflow_run.log_dataset(json.loads(DATA_REPORT.read_text()), "evaluation")
    mlflow_run.set_tags({"evaluate.n": n, "ruler": ruler_id})
    mlflow_run.log_series({f"eval.{k}": [(0, v)] for k, v in result.items()})
    for path in evaluation_files():
        mlflow_run.log_artifact(path, "evaluation")
    model_uri = log_generator(
        mlflow_run,
        GENERATOR,
        register_as=cfg.tracking.experiment if cfg.tracking.register_model else None,
        description=model_description(result),
        class_names=cfg.data.class_names,
    )
    mlflow_run.end("FINISHED")
    print(
        f"evaluate: ruler {ruler_id}: FID {result['fid']:.3f} (real {result['fid_real']:.3f}), "
        f"KID {result['kid']:.4f}, "
        f"precision {result['precision']:.3f}, recall {result['recall']:.3f}, n={n}, "
        f"{timings['total']:.0f} s -> {METRICS}" + (f", generator logged as {model_uri}" if model_uri else "")
    )
