"""Time the evaluate stage (all metrics of the generated images, figures) and, beside it, the
reference stage (the same metrics for real training images, computed once per classifier and
cached by DVC); print the split by metric. Needs the pipeline's outputs: run `make run` (or
`dvc repro sample`) first.

    python bench/evaluate_speed.py [--params params.yaml]
Writes reports/bench/evaluate_speed.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import harness  # bench/harness.py, beside this script

from fashiongan import params
from fashiongan.paths import (
    CLASSIFIER,
    METRICS_DETAILS,
    PREPARED,
    REAL_FEATURES,
    REFERENCE,
    SAMPLES,
    TRAIN_REPORTS,
)
from fashiongan.stages import evaluate, reference


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)

    cfg = params.load(args.params)
    cfg = cfg.model_copy(update={"tracking": cfg.tracking.model_copy(update={"enabled": False})})
    if not SAMPLES.exists():
        sys.exit(f"{SAMPLES} missing: run `make run` first")
    root = Path.cwd()
    with tempfile.TemporaryDirectory() as scratch:
        # Run in a scratch directory that sees the pipeline's inputs, so no pipeline output is touched.
        os.chdir(scratch)
        for path in (PREPARED.parent, SAMPLES.parent, REAL_FEATURES, CLASSIFIER.parent, TRAIN_REPORTS):
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            os.symlink(root / path, path)
        seconds = {}
        for stage in (reference, evaluate):
            started = time.perf_counter()
            stage.run(cfg)
            seconds[stage.__name__.rsplit(".", 1)[1]] = time.perf_counter() - started
        split = {
            "reference": json.loads(REFERENCE.read_text())["timings_s"],
            "evaluate": json.loads(METRICS_DETAILS.read_text())["timings_s"],
        }
        os.chdir(root)
    result = {
        "n": cfg.evaluate.n,
        "evaluate_s": round(seconds["evaluate"], 1),
        "reference_s": round(seconds["reference"], 1),
        "split_s": split,
    }
    print(
        f"{cfg.evaluate.n} vs {cfg.evaluate.n}, all metrics: evaluate {seconds['evaluate']:.1f} s per experiment; "
        f"reference {seconds['reference']:.1f} s once per classifier"
    )
    for stage, timings in split.items():
        for name, value in timings.items():
            print(f"  {stage:9s} {name:18s} {value:6.2f} s")
    harness.write_result("evaluate_speed", result)


if __name__ == "__main__":
    main()
