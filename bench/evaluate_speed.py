"""Time the whole evaluate stage (all metrics, generated and real-reference sides, figures) and
print the split by metric. Needs the pipeline's outputs: run `make run` (or `dvc repro sample`) first.

    python bench/evaluate_speed.py
Writes reports/bench/evaluate_speed.json.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from fashiongan import config  # noqa: E402
from fashiongan.config import TrackingConfig  # noqa: E402
from fashiongan.stages import evaluate  # noqa: E402
from fashiongan.stages.sample import SAMPLES  # noqa: E402

OUT = Path("reports/bench/evaluate_speed.json")


def main():
    cfg = dataclasses.replace(config.load("params.yaml"), tracking=TrackingConfig(enabled=False, experiment="bench"))
    if not SAMPLES.exists():
        sys.exit(f"{SAMPLES} missing: run `make run` first")
    root = Path.cwd()
    with tempfile.TemporaryDirectory() as scratch:
        # Run in a scratch directory that sees the pipeline's inputs, so no pipeline output is touched.
        os.chdir(scratch)
        os.symlink(root / "data", "data")
        os.symlink(root / "models", "models")
        Path("reports").mkdir()
        os.symlink(root / "reports/train", "reports/train")
        started = time.perf_counter()
        evaluate.run(cfg)
        total = time.perf_counter() - started
        details = json.loads((evaluate.FIGURES.parent / "metrics_details.json").read_text())
        os.chdir(root)
    result = {"n": cfg.evaluate.n, "total_s": round(total, 1), "split_s": details["timings_s"]}
    print(f"evaluate, {cfg.evaluate.n} vs {cfg.evaluate.n}, all metrics: {total:.1f} s")
    for name, seconds in details["timings_s"].items():
        print(f"  {name:18s} {seconds:6.2f} s (generated side)")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
