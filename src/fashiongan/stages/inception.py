"""inception: the Inception FID and KID of the samples, the numbers GAN papers print, beside their floor.

Opt-in (inception.n > 0, `make setup INCEPTION=1`): the first inception.n samples against the test
features of inception_reference, in the feature space of the 2015-12-05 Inception graph
(evaluation/inception.py). Recorded as an evaluation of its own (metrics `inception.*`, ruler
inception-2015-12-05), so no table, ranking or champion choice mixes it with the project's ruler.
"""

from __future__ import annotations

import time

import numpy as np
from tqdm import tqdm

from ..config import Config
from ..errors import MissingInput
from ..evaluation import inception, metrics
from ..io import write_json
from ..paths import GENERATOR, INCEPTION_METRICS, INCEPTION_REFERENCE, SAMPLES
from ..tracking.evaluation import data_report, evaluation_identity, record, trained_with
from ..tracking.run import continue_run


def run(cfg: Config) -> None:
    n = cfg.inception.n
    reference = np.load(INCEPTION_REFERENCE)
    if int(reference["n"]) != n:
        raise MissingInput(
            f"{INCEPTION_REFERENCE}: computed for inception.n {int(reference['n'])}, but inception.n is {n}: "
            "run `dvc repro` first"
        )
    if n == 0:
        write_json(INCEPTION_METRICS, {"n": 0, "ruler": inception.RULER})
        print(f"inception: off (inception.n is 0) -> {INCEPTION_METRICS}")
        return
    started = time.perf_counter()
    samples = np.load(SAMPLES)
    identity = evaluation_identity(samples, n, inception.RULER, "inception")
    features = inception.InceptionFeatures()(samples["images"][:n], lambda b: tqdm(b, desc="samples"))
    test_features = reference["test_features"]
    kid, kid_std = metrics.kernel_inception_distance(features, test_features)
    result = {
        "fid": round(metrics.fid(features, test_features), 5),
        "kid": round(kid, 6),
        "kid_std": round(kid_std, 6),
        "fid_real": round(float(reference["fid_real"]), 5),
        "kid_real": round(float(reference["kid_real"]), 6),
        "n": n,
        "seconds": round(time.perf_counter() - started, 1),
        "reference_seconds": round(float(reference["seconds"]), 1),
    }
    write_json(
        INCEPTION_METRICS,
        result | {"ruler": inception.RULER, "resize": inception.RESIZE, "train_inputs": trained_with()},
    )
    _, evaluation_id = record(
        continue_run(cfg.tracking.enabled),
        GENERATOR,
        identity,
        result,
        [(INCEPTION_METRICS, "evaluation")],
        data_report(),
        None,  # the registry's champion is chosen on the project's ruler only
        cfg.data.class_names,
        prefix="inception",
    )
    print(
        f"inception: {inception.RULER}: FID {result['fid']:.3f} (real {result['fid_real']:.3f}), "
        f"KID {result['kid']:.5f}, n={n}, {result['seconds']:.0f} s -> {INCEPTION_METRICS}"
        + (f", evaluation run {evaluation_id}" if evaluation_id else "")
    )
