"""Where the default training step's time goes: the default step against the same step with one
part taken out and against the previous model, timed side by side in one process (interleaved
rounds after warm-up), beside the FLOPs TensorFlow's profiler counts in each step's graph; then the
default step's time op by op, from the profiler's trace of 200 steps.

    python bench/step_profile.py [--rounds 3] [--seconds 8]
Writes reports/bench/step_profile.json; docs/step_profile.md reads one run of it.
"""

from __future__ import annotations

import argparse
import collections
import tempfile
from pathlib import Path

import harness  # bench/harness.py, beside this script
import keras
import numpy as np
import tensorflow as tf
from keras import layers
from tensorflow.tsl.profiler.protobuf import xplane_pb2  # shipped with TensorFlow

from fashiongan import params
from fashiongan.gan import models


def previous_dcgan(cfg, synchronized_batch_norm: bool = False, classes: int = 10) -> models.GAN:
    """The conditional dcgan as it was before 2026-12-03, for the comparison: the projection term of
    D as a layers.Dot, which TensorFlow runs as a batched matmul of 1 x 3,136 rows (one device only)."""
    image, label = keras.Input(models.IMAGE_SHAPE), keras.Input((), dtype="int32")
    features = models.dcgan_discriminator_body(image, layers.SpectralNormalization)
    logit = layers.SpectralNormalization(layers.Dense(1, dtype="float32"))(features)
    projection = layers.Dot(axes=1, dtype="float32")(
        [features, layers.Embedding(classes, features.shape[-1])(label)]
    )
    discriminator = keras.Model([image, label], layers.Add(dtype="float32")([logit, projection]))
    return models.GAN(
        models.build_generator(cfg, synchronized_batch_norm, classes), discriminator, conditional=True
    )


def model_of(scope: str) -> str:
    """Which model an op's name scope belongs to (Keras names each call of a layer anew, so the
    layer itself is not reliably named there)."""
    return next((kind for kind in ("generator", "discriminator") if kind in scope), "optimizers, EMA, losses")


def time_by_op(run, steps: int) -> dict[str, float]:
    """Milliseconds per step spent in each kind of op, from TensorFlow's profiler trace of `steps`
    steps: the ops' own durations on the executor's threads, summed over threads (so the total is
    about the step's wall time times the cores kept busy). Keyed by op type, the model it
    belongs to, and forward or gradient."""
    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        run(steps)
        tf.profiler.experimental.stop()
        space = xplane_pb2.XSpace()
        space.ParseFromString(next(Path(logdir).rglob("*.xplane.pb")).read_bytes())
    spent = collections.Counter()
    for plane in space.planes:
        names = {key: meta.name for key, meta in plane.event_metadata.items()}
        for line in plane.lines:
            if not line.name.startswith("tf_Compute"):
                continue
            for event in line.events:
                name = names[event.metadata_id]
                if name.startswith("ExecutorState"):  # the executor's own span, holding the ops
                    continue
                scope, _, op = name.rpartition(":")
                spent[
                    f"{op} ({model_of(scope)}, {'gradient' if 'gradient_tape' in scope else 'forward'})"
                ] += event.duration_ps / 1e9 / steps
    return dict(spent.most_common())


# each variant: the default with these model / train keys changed, or another model
VARIANTS = {
    "default": ({}, {}),
    "no spectral norm in D": ({"spectral_norm": False}, {}),
    "no EMA of G": ({}, {"ema": None}),
    "five weight averages of G (train.ema list)": ({}, {"ema": [0.999, 0.99, 0.995, 0.998, 0.9999]}),
    "unconditional (no label embedding or projection)": ({"conditional": False}, {}),
    "bce loss instead of hinge": ({}, {"loss": "bce"}),
    "the previous dcgan (before 2026-12-03)": ({}, {}, previous_dcgan),
}


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8.0, help="target length of one timed round")
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)

    cfg = params.load(args.params)
    images, labels = harness.training_arrays()
    trainers, runs = {}, {}
    for name, (model_keys, train_keys, *build) in VARIANTS.items():
        variant = cfg.model_copy(
            update={
                "model": cfg.model.model_copy(update=model_keys),
                "train": cfg.train.model_copy(update=train_keys),
            }
        )
        trainers[name], runs[name] = harness.make_trainer(
            variant, variant.model, variant.train.batch_size, images, labels, *build
        )
    speeds = harness.interleaved(runs, args.rounds, args.seconds)
    peak = harness.matmul_peak_gflops()
    rows, lines = {}, []
    print(
        f"{cfg.model.arch} batch {cfg.train.batch_size}, {args.rounds} interleaved rounds; matmul peak "
        f"{peak:.0f} GFLOP/s; time saved vs the default: the median of the rounds' ratios"
    )
    for name in VARIANTS:
        flops = harness.profiled_flops_per_step(trainers[name], images, labels)
        rate = speeds[name]
        gflops = flops * rate / 1e9
        saved = 1 - float(np.median(harness.round_ratios(speeds, "default", name)))
        rows[name] = {
            "steps_per_s": rate,
            "rounds": speeds[f"{name}_all"],
            "mflop_per_step": flops / 1e6,
            "step_ms": 1000 / rate,
            "gflops": gflops,
            "time_saved_vs_default": round(saved, 3),
        }
        figures = [f"{rate:.2f}", f"{1000 / rate:.1f}", f"{flops / 1e6:.0f}", f"{gflops:.1f}"]
        than_default = "" if name == "default" else f"{100 * saved:+.0f}%"
        lines.append([name, *figures, f"{100 * gflops / peak:.0f}%", than_default])
    harness.table(["variant", "steps/s", "ms/step", "MFLOP", "GFLOP/s", "of peak", "time saved"], lines)
    ops = time_by_op(runs["default"], 200)
    total = sum(ops.values())
    print(
        f"the default step's time by op (profiler trace of 200 steps; {total:.1f} ms/step over all threads):"
    )
    for op, ms in list(ops.items())[:15]:
        print(f"  {ms:6.2f} ms  {op}")
    result = {
        "arch": cfg.model.arch,
        "batch_size": cfg.train.batch_size,
        "variants": rows,
        "default_ms_per_step_by_op": ops,
    }
    harness.write_result("step_profile", result)


if __name__ == "__main__":
    main()
