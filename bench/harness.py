"""What the benches in bench/ share: the machine they ran on, the trainer they time, side-by-side
timing rounds, an aligned table, and the JSON each writes.

A bench imports it first among its third-party imports (`import harness`: bench/ is the running
script's directory), so TensorFlow loads here, quietly, before the bench imports it.
"""

from __future__ import annotations

import contextlib
import functools
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

# no MLflow telemetry from a bench, nor from the server it starts (which inherits the environment)
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from fashiongan.runtime import quiet_tensorflow

quiet_tensorflow()

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from fashiongan.data.sources import load_arrays, locate  # noqa: E402
from fashiongan.gan import models  # noqa: E402
from fashiongan.gan.build import build_trainer  # noqa: E402
from fashiongan.gan.trainer import epoch_order  # noqa: E402
from fashiongan.io import write_json  # noqa: E402
from fashiongan.paths import BENCH, RAW_DIR  # noqa: E402
from fashiongan.tracking.run import start_run  # noqa: E402


@functools.cache
def matmul_peak_gflops(n=1024, repeats=20) -> float:
    """The best of 5 timings of `repeats` float32 n x n matmuls: what this machine's cores can do,
    against which a bench's FLOP rates read. Measured once per process, when first asked: ask when
    nothing else runs."""
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


def machine() -> dict:
    """The machine a bench ran on: a time means little without its CPU and matmul peak."""
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    return {
        "cpu": next(
            (line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")),
            platform.processor() or platform.machine(),  # no /proc/cpuinfo, or no model name in it (ARM)
        ),
        "cpus": os.cpu_count(),
        "tensorflow": tf.__version__,
        "gpus": len(tf.config.list_physical_devices("GPU")),
        "matmul_peak_gflops": matmul_peak_gflops(),
    }


def write_result(out: str | Path, result: dict) -> None:
    """Write `result` and machine() to reports/bench/<out>.json (or to `out` when it is a path) in
    one rename, and say where and on what."""
    path = out if isinstance(out, Path) else BENCH / f"{out}.json"
    ran_on = machine()
    write_json(path, {"machine": ran_on, **result})
    print(
        f"-> {path} ({ran_on['cpu']}, {ran_on['cpus']} cores, {ran_on['gpus']} GPUs, "
        f"float32 matmul peak {ran_on['matmul_peak_gflops']:.0f} GFLOP/s)"
    )


def table(header: list[str], rows: list[list]) -> None:
    """Print `rows` under `header`, each column as wide as its widest cell: the first to the left,
    the figures (formatted by the caller) to the right."""
    cells = [header, *([str(cell) for cell in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for row in cells:
        aligned = (cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths)))
        print("  ".join(aligned).rstrip(), flush=True)


def training_arrays():
    """The training images and labels, from wherever `make setup` found Fashion-MNIST."""
    source = locate(RAW_DIR) or sys.exit("Fashion-MNIST not found: run `make setup`")
    arrays = load_arrays(source)
    return arrays["train_images"], arrays["train_labels"]


def make_trainer(cfg, model_cfg, batch, images, labels, build=models.build_gan):
    """The project's trainer for `model_cfg` at `batch`, seeded, and run(steps), which trains it."""
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
    """Median steps/s of each runner over `rounds` interleaved rounds of about `seconds` each, and
    each round's under "<name>_all": a drift in the machine's speed hits every runner alike."""
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


def round_ratios(speeds: dict, name: str, base: str) -> list[float]:
    """`name`'s speed over `base`'s, round by round, from interleaved(): each round is one state of
    the machine, so their median is steadier than the ratio of the two medians."""
    return [a / b for a, b in zip(speeds[f"{name}_all"], speeds[f"{base}_all"])]


@contextlib.contextmanager
def scratch_run(env: dict | None = None, **start):
    """An MLflow run (start_run("bench", **start)) in a throwaway store, `env` set while it lasts."""
    with tempfile.TemporaryDirectory() as store:
        env = {"MLFLOW_TRACKING_URI": f"sqlite:///{store}/mlflow.db", "DVC_ROOT": store, **(env or {})}
        with mock.patch.dict(os.environ, env):  # restores the environment as it was
            run = start_run("bench", **start)
            try:
                yield run
            finally:
                run.end()


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
