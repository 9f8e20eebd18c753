"""Training throughput, measured side by side in one run (interleaved A/B rounds after warm-up).

A: the Keras GAN tutorial loop (generator.predict, two discriminator.train_on_batch calls and a
   combined.train_on_batch per step), with D's `trainable` flag toggled every step so that it is a
   working GAN (asserted: both models' weights change).
B: the project's trainer at its default settings, same `mlp` architecture and BCE loss, batch 64.
Also: achieved GFLOP/s against a measured float32 matmul peak (the MLP's and the default step's,
whose FLOPs TensorFlow's profiler counts in the step's graph), images/s of `dcgan` at batch 64,
128 and 256, the MLflow tracking overhead (per-step tracking vs tracking off), and the default
step against the same step with constant rates and no EMA warm-up.

    python bench/train_throughput.py [--rounds 5] [--seconds 6]
Writes reports/bench/train_throughput.json.
"""

from __future__ import annotations

import argparse

import harness  # bench/harness.py, beside this script
import keras
import numpy as np

from fashiongan import params
from fashiongan.data.images import to_unit_range
from fashiongan.gan import models
from fashiongan.gan.build import use_xla
from fashiongan.gan.loop import fit
from fashiongan.gan.trainer import METRIC_NAMES

BATCH = 64


class TutorialLoop:
    """The tutorial's per-step Keras calls, fixed for Keras 3's reading of `trainable`."""

    def __init__(self, model_cfg, images):
        self.images = to_unit_range(images)
        self.generator = models.build_generator(model_cfg)
        self.discriminator = models.build_discriminator(model_cfg)
        bce = keras.losses.BinaryCrossentropy(from_logits=True)
        self.discriminator.compile(optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5), loss=bce)
        z = keras.Input((model_cfg.latent_dim,))
        self.combined = keras.Model(z, self.discriminator(self.generator(z)))
        self.combined.compile(optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5), loss=bce)
        self.rng = np.random.default_rng(0)
        self.ones, self.zeros = np.ones((BATCH, 1), np.float32), np.zeros((BATCH, 1), np.float32)
        self.latent_dim = model_cfg.latent_dim

    def step(self):
        real = self.images[self.rng.integers(0, len(self.images), BATCH)]
        noise = self.rng.standard_normal((BATCH, self.latent_dim)).astype(np.float32)
        fake = self.generator.predict(noise, verbose=0)
        self.discriminator.trainable = True
        self.discriminator.train_on_batch(real, self.ones)
        self.discriminator.train_on_batch(fake, self.zeros)
        self.discriminator.trainable = False
        self.combined.train_on_batch(noise, self.ones)

    def run(self, steps):
        for _ in range(steps):
            self.step()


def changed(model, before):
    return any(not np.allclose(a, b) for a, b in zip(before, model.get_weights()))


def mlp_flops_per_step(gan, batch) -> float:
    """Dense-layer FLOPs of one trainer step (alternating updates), from the models' kernel sizes.

    D update: G forward on B, D forward on 2B, D backward (weight grads) on 2B.
    G update: G forward, D forward, D backward to its input, G backward (input + weight grads).
    A backward pass costs about 2 forwards (1 when only input gradients are needed).
    """

    def macs(model):
        return sum(int(np.prod(w.shape)) for w in model.trainable_weights if len(w.shape) == 2)

    g, d = macs(gan.generator), macs(gan.discriminator)
    per_sample = (g + 2 * d + 2 * 2 * d) + (g + d + d + 2 * g)
    return 2.0 * per_sample * batch


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=6.0, help="target length of one timed round")
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)

    cfg = params.load(args.params)
    images, labels = harness.training_arrays()
    # the tutorial's model and loss on both sides: plain D (no spectral norm), BCE
    mlp = cfg.model.model_copy(update={"arch": "mlp", "conditional": False, "spectral_norm": False})
    cfg = cfg.model_copy(update={"train": cfg.train.model_copy(update={"loss": "bce"})})

    tutorial = TutorialLoop(mlp, images)
    g0, d0 = tutorial.generator.get_weights(), tutorial.discriminator.get_weights()
    trainer, trainer_run = harness.make_trainer(cfg, mlp, BATCH, images, labels)
    speeds = harness.interleaved(
        {"tutorial": tutorial.run, "trainer": trainer_run}, args.rounds, args.seconds
    )
    assert changed(tutorial.generator, g0) and changed(tutorial.discriminator, d0), (
        "tutorial loop is not training"
    )
    ratio = speeds["trainer"] / speeds["tutorial"]
    peak = harness.matmul_peak_gflops()
    kernel_flops = mlp_flops_per_step(trainer.gan, BATCH)
    achieved = kernel_flops * speeds["trainer"] / 1e9
    print(
        f"mlp batch {BATCH}: tutorial {speeds['tutorial']:.1f} steps/s, trainer {speeds['trainer']:.1f} steps/s "
        f"-> B/A = {ratio:.2f}x"
    )
    print(
        f"trainer: {achieved:.1f} GFLOP/s achieved vs {peak:.1f} GFLOP/s float32 matmul peak "
        f"({100 * achieved / peak:.0f}%; {kernel_flops / 1e6:.1f} MFLOP/step counted from the kernels, "
        f"{harness.profiled_flops_per_step(trainer, images, labels) / 1e6:.1f} by TensorFlow's profiler)"
    )

    # Tracking overhead: the same fit() with per-step metrics sent to MLflow vs dropped.
    with harness.scratch_run() as run:
        tracked_trainer, _ = harness.make_trainer(cfg, mlp, BATCH, images, labels)
        untracked_trainer, _ = harness.make_trainer(cfg, mlp, BATCH, images, labels)

        def fit_with(trainer_, on_metrics):
            def go(steps):
                target = int(trainer_.step.numpy()) + steps
                fit(trainer_, images, labels, target, [], on_metrics)

            return go

        def send(first, rows):
            steps = range(first + 1, first + 1 + len(rows))
            run.log_series({n: list(zip(steps, rows[:, j])) for j, n in enumerate(METRIC_NAMES)})

        overhead = harness.interleaved(
            {
                "tracked": fit_with(tracked_trainer, send),
                "untracked": fit_with(untracked_trainer, lambda first, rows: None),
            },
            args.rounds,
            args.seconds,
        )
    tracking_cost = 1.0 - overhead["tracked"] / overhead["untracked"]
    print(
        f"MLflow per-step tracking: {overhead['tracked']:.1f} vs {overhead['untracked']:.1f} steps/s untracked "
        f"-> overhead {100 * tracking_cost:.1f}%"
    )

    # The default step as params.yaml sets it against the step of the default before train.lr_decay
    # and train.ema_warmup (both at their old values: constant rates, plain moving average).
    default = params.load(args.params)
    before = default.model_copy(
        update={"train": default.train.model_copy(update={"lr_decay": 0.0, "ema_warmup": False})}
    )
    default_trainer, default_run = harness.make_trainer(
        default, default.model, default.train.batch_size, images, labels
    )
    _, before_run = harness.make_trainer(before, before.model, before.train.batch_size, images, labels)
    step_cost = harness.interleaved({"before": before_run, "default": default_run}, args.rounds, args.seconds)
    print(
        f"default step ({default.model.arch}, {default.train.loss}): {step_cost['default']:.1f} steps/s vs "
        f"{step_cost['before']:.1f} with constant rates and no EMA warm-up "
        f"-> {step_cost['default'] / step_cost['before']:.3f}x"
    )
    default_flops = harness.profiled_flops_per_step(default_trainer, images, labels)
    default_gflops = default_flops * step_cost["default"] / 1e9
    print(
        f"default step: {default_flops / 1e6:.0f} MFLOP ({default_flops / default.train.batch_size / 1e6:.1f} per "
        f"image, TensorFlow's profiler) -> {default_gflops:.1f} GFLOP/s, {100 * default_gflops / peak:.0f}% of the "
        f"matmul peak"
    )

    dcgan = cfg.model.model_copy(update={"arch": "dcgan", "conditional": False, "spectral_norm": False})
    dcgan_images = {}
    for batch in (64, 128, 256):
        _, run_dcgan = harness.make_trainer(cfg, dcgan, batch, images, labels)
        dcgan_images[batch] = (
            harness.interleaved({"dcgan": run_dcgan}, max(1, args.rounds // 2), args.seconds)["dcgan"] * batch
        )
        print(f"dcgan batch {batch}: {dcgan_images[batch]:.0f} images/s")

    result = {
        "trainer_settings": {
            "steps_per_call": cfg.train.steps_per_call,
            "jit_compile": use_xla(cfg.train, "mlp"),
            "ema": cfg.train.ema,
            "log_every": cfg.train.log_every,
        },
        "mlp_batch64_steps_per_s": {
            "tutorial": speeds["tutorial"],
            "trainer": speeds["trainer"],
            "rounds": {"tutorial": speeds["tutorial_all"], "trainer": speeds["trainer_all"]},
        },
        "ratio_trainer_over_tutorial": ratio,
        "trainer_gflops": achieved,
        "matmul_peak_gflops": peak,
        "tracking": {
            "tracked_steps_per_s": overhead["tracked"],
            "untracked_steps_per_s": overhead["untracked"],
            "overhead_fraction": tracking_cost,
            "rounds": {"tracked": overhead["tracked_all"], "untracked": overhead["untracked_all"]},
        },
        "dcgan_images_per_s": dcgan_images,
        "default_step": {
            "steps_per_s": step_cost["default"],
            "before_lr_decay_and_ema_warmup": step_cost["before"],
            "ratio": step_cost["default"] / step_cost["before"],
            "rounds": {"default": step_cost["default_all"], "before": step_cost["before_all"]},
            "profiled_flops": default_flops,
            "gflops": default_gflops,
            "fraction_of_matmul_peak": default_gflops / peak,
        },
    }
    harness.write_result("train_throughput", result)


if __name__ == "__main__":
    main()
