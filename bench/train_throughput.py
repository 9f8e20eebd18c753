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
import os
import sys
import tempfile
import time

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from fashiongan.runtime import quiet_tensorflow

quiet_tensorflow()

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from fashiongan import params  # noqa: E402
from fashiongan.data.images import to_unit_range  # noqa: E402
from fashiongan.data.sources import load_arrays, locate  # noqa: E402
from fashiongan.gan import models  # noqa: E402
from fashiongan.gan.build import build_trainer, use_xla  # noqa: E402
from fashiongan.gan.loop import fit  # noqa: E402
from fashiongan.gan.trainer import METRIC_NAMES, epoch_order  # noqa: E402
from fashiongan.io import write_json  # noqa: E402
from fashiongan.paths import BENCH, RAW_DIR  # noqa: E402
from fashiongan.tracking.run import start_run  # noqa: E402

BATCH = 64
OUT = BENCH / "train_throughput.json"


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


def training_arrays():
    """The training images and labels, from wherever `make setup` found Fashion-MNIST."""
    source = locate(RAW_DIR) or sys.exit("Fashion-MNIST not found: run `make setup`")
    arrays = load_arrays(source)
    return arrays["train_images"], arrays["train_labels"]


def make_trainer(cfg, model_cfg, batch, images, labels, build=models.build_gan):
    keras.utils.set_random_seed(0)
    train_cfg = cfg.train.model_copy(update={"batch_size": batch})
    # a run far longer than the bench, so a train.lr_decay schedule is computed but never reached
    trainer = build_trainer(
        cfg.model_copy(update={"model": model_cfg, "train": train_cfg}), total_steps=10**9, build=build
    )
    tensors = (
        tf.constant(images),
        tf.constant(labels.astype(np.int32)),
        epoch_order(cfg.seed, 0, len(images)),
    )
    steps_per_epoch = trainer.steps_per_epoch(len(images))

    def run(steps):
        # Whole chunks of steps_per_call, wrapping within the first epoch as the trainer does.
        done = 0
        while done < steps:
            n = min(train_cfg.steps_per_call, steps - done)
            if int(trainer.step.numpy()) % steps_per_epoch + n > steps_per_epoch:
                trainer.step.assign(0)
            trainer.run_steps(n, *tensors).numpy()
            done += n

    return trainer, run


def steps_per_second(run, steps):
    started = time.perf_counter()
    run(steps)
    return steps / (time.perf_counter() - started)


def interleaved(runs: dict, rounds: int, seconds: float) -> dict:
    """Median steps/s of each runner over `rounds` interleaved rounds of about `seconds` each."""
    sizes = {}
    for name, run in runs.items():  # warm-up (tracing, XLA compile) and sizing
        run(10)
        rate = steps_per_second(run, 20)
        sizes[name] = max(20, int(rate * seconds / 10) * 10)
        run(sizes[name])  # traces every chunk length a timed round uses
    results = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            results[name].append(steps_per_second(run, sizes[name]))
    return {name: float(np.median(r)) for name, r in results.items()} | {
        f"{name}_all": [round(x, 2) for x in r] for name, r in results.items()
    }


def matmul_peak_gflops(n=1024, repeats=20) -> float:
    a = tf.random.normal([n, n])
    b = tf.random.normal([n, n])
    mm = tf.function(lambda a, b: tf.matmul(a, b))
    mm(a, b).numpy()
    best = 0.0
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(repeats):
            c = mm(a, b)
        c.numpy()
        best = max(best, 2 * n**3 * repeats / (time.perf_counter() - started) / 1e9)
    return best


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


def _batch_matmul_flops(op) -> int:
    """2 * batch * m * n * k of a BatchMatMul at its static shapes, its adjoint flags applied."""
    x, y = (input.shape.as_list() for input in op.inputs)
    m, k = (x[-1], x[-2]) if op.get_attr("adj_x") else (x[-2], x[-1])
    n = y[-2] if op.get_attr("adj_y") else y[-1]
    return 2 * int(np.prod(op.outputs[0].shape.as_list()[:-2])) * m * n * k


def profiled_flops_per_step(trainer, images, labels) -> float:
    """FLOPs of one training step (both updates, forward and backward, the optimizers) as
    TensorFlow's profiler counts them in the step's graph: every op with registered FLOP statistics
    (convolutions and their two gradients, matmuls, element-wise arithmetic), at the graph's static
    shapes; traced, never run. The profiler's count of a BatchMatMul ignores its adjoint flags (the
    gradient of the projection discriminator's dot product, 0.4 MFLOP, counts as 1,259 MFLOP), so
    those ops are counted from their shapes here."""
    tensors = (
        tf.constant(images[:1024]),
        tf.constant(labels[:1024].astype(np.int32)),
        tf.range(1024, dtype=tf.int64),
    )
    # one step outside the compiled chunk's while loop, whose body the profiler does not enter
    step = tf.function(lambda: trainer.strategy.run(trainer._train_step, args=tensors))
    graph = step.get_concrete_function().graph
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    profile = tf.compat.v1.profiler.profile(graph, cmd="graph", options=options)
    counted, nodes = {}, list(profile.children)
    while nodes:  # the graph view nests nodes under their inputs: walk all, count each once
        node = nodes.pop()
        nodes.extend(node.children)
        op = graph.get_operation_by_name(node.name)
        counted[node.name] = _batch_matmul_flops(op) if op.type.startswith("BatchMatMul") else node.float_ops
    return float(sum(counted.values()))


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=6.0, help="target length of one timed round")
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)

    cfg = params.load(args.params)
    images, labels = training_arrays()
    # the tutorial's model and loss on both sides: plain D (no spectral norm), BCE
    mlp = cfg.model.model_copy(update={"arch": "mlp", "conditional": False, "spectral_norm": False})
    cfg = cfg.model_copy(update={"train": cfg.train.model_copy(update={"loss": "bce"})})

    tutorial = TutorialLoop(mlp, images)
    g0, d0 = tutorial.generator.get_weights(), tutorial.discriminator.get_weights()
    trainer, trainer_run = make_trainer(cfg, mlp, BATCH, images, labels)
    speeds = interleaved({"tutorial": tutorial.run, "trainer": trainer_run}, args.rounds, args.seconds)
    assert changed(tutorial.generator, g0) and changed(tutorial.discriminator, d0), (
        "tutorial loop is not training"
    )
    ratio = speeds["trainer"] / speeds["tutorial"]
    peak = matmul_peak_gflops()
    achieved = mlp_flops_per_step(trainer.gan, BATCH) * speeds["trainer"] / 1e9
    print(
        f"mlp batch {BATCH}: tutorial {speeds['tutorial']:.1f} steps/s, trainer {speeds['trainer']:.1f} steps/s "
        f"-> B/A = {ratio:.2f}x"
    )
    print(
        f"trainer: {achieved:.1f} GFLOP/s achieved vs {peak:.1f} GFLOP/s float32 matmul peak "
        f"({100 * achieved / peak:.0f}%; {mlp_flops_per_step(trainer.gan, BATCH) / 1e6:.1f} MFLOP/step counted "
        f"from the kernels, {profiled_flops_per_step(trainer, images, labels) / 1e6:.1f} by TensorFlow's profiler)"
    )

    # Tracking overhead: the same fit() with per-step metrics sent to MLflow vs dropped.
    with tempfile.TemporaryDirectory() as store:
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{store}/mlflow.db"
        os.environ["DVC_ROOT"] = store
        run = start_run("bench")
        tracked_trainer, _ = make_trainer(cfg, mlp, BATCH, images, labels)
        untracked_trainer, _ = make_trainer(cfg, mlp, BATCH, images, labels)

        def fit_with(trainer_, on_metrics):
            def go(steps):
                target = int(trainer_.step.numpy()) + steps
                fit(trainer_, images, labels, target, [], on_metrics)

            return go

        def send(first, rows):
            steps = range(first + 1, first + 1 + len(rows))
            run.log_series({n: list(zip(steps, rows[:, j])) for j, n in enumerate(METRIC_NAMES)})

        overhead = interleaved(
            {
                "tracked": fit_with(tracked_trainer, send),
                "untracked": fit_with(untracked_trainer, lambda first, rows: None),
            },
            args.rounds,
            args.seconds,
        )
        run.end()
        del os.environ["MLFLOW_TRACKING_URI"], os.environ["DVC_ROOT"]
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
    default_trainer, default_run = make_trainer(
        default, default.model, default.train.batch_size, images, labels
    )
    _, before_run = make_trainer(before, before.model, before.train.batch_size, images, labels)
    step_cost = interleaved({"before": before_run, "default": default_run}, args.rounds, args.seconds)
    print(
        f"default step ({default.model.arch}, {default.train.loss}): {step_cost['default']:.1f} steps/s vs "
        f"{step_cost['before']:.1f} with constant rates and no EMA warm-up "
        f"-> {step_cost['default'] / step_cost['before']:.3f}x"
    )
    default_flops = profiled_flops_per_step(default_trainer, images, labels)
    default_gflops = default_flops * step_cost["default"] / 1e9
    print(
        f"default step: {default_flops / 1e6:.0f} MFLOP ({default_flops / default.train.batch_size / 1e6:.1f} per "
        f"image, TensorFlow's profiler) -> {default_gflops:.1f} GFLOP/s, {100 * default_gflops / peak:.0f}% of the "
        f"matmul peak"
    )

    dcgan = cfg.model.model_copy(update={"arch": "dcgan", "conditional": False, "spectral_norm": False})
    dcgan_images = {}
    for batch in (64, 128, 256):
        _, run_dcgan = make_trainer(cfg, dcgan, batch, images, labels)
        dcgan_images[batch] = (
            interleaved({"dcgan": run_dcgan}, max(1, args.rounds // 2), args.seconds)["dcgan"] * batch
        )
        print(f"dcgan batch {batch}: {dcgan_images[batch]:.0f} images/s")

    result = {
        "machine": {
            "cpus": os.cpu_count(),
            "tensorflow": tf.__version__,
            "gpus": len(tf.config.list_physical_devices("GPU")),
        },
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
    write_json(OUT, result)
    print(f"-> {OUT}")


if __name__ == "__main__":
    main()
