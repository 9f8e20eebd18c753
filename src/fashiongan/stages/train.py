"""train: build G and D for model.arch, train them, log to MLflow, checkpoint, save the generator.

An interrupted run (Ctrl-C, SIGTERM, kill -9) resumes from its last checkpoint on the next
`dvc repro`, in the same MLflow run, when the params are unchanged.

With `train.strategy: multi_worker` every worker runs this stage with its own TF_CONFIG; only the
chief writes models, reports, checkpoints and the MLflow run. The other workers take part in
checkpointing (MultiWorkerMirroredStrategy needs every worker there) into a scratch directory
that they delete when they finish.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from tqdm import tqdm

from .. import distribute, metrics, plots, runtime, tracking
from ..config import Config, flatten
from ..data import to_uint8
from ..features import FeatureExtractor
from ..io import atomic_path, load_model, save_model, write_json
from ..losses import make_loss
from ..models import build_gan, fixed_latents, generate
from ..trainer import METRIC_NAMES, NonFiniteLoss, Trainer, fit, use_xla
from .classifier import MODEL as CLASSIFIER, REAL_FEATURES
from .prepare import PREPARED

GENERATOR = Path("models/generator.keras")
CHECKPOINTS = Path("models/checkpoints")
STATE = CHECKPOINTS / "state.json"
REPORTS = Path("reports/train")


class StepLog:
    """A CSV of rows keyed by a leading `step` column, kept beside the checkpoints so that a
    resumed run continues it (DVC deletes non-persistent outputs before a stage runs)."""

    def __init__(self, path: Path, columns):
        self.path, self.columns = path, ["step", *columns]
        if not path.exists():
            path.write_text(",".join(self.columns) + "\n")

    def rows(self) -> list[list[str]]:
        with self.path.open() as f:
            return list(csv.reader(f))[1:]

    def keep_through(self, step: int) -> None:
        """Drop the rows after `step` (they are recomputed when training resumes from it)."""
        kept = [r for r in self.rows() if int(r[0]) <= step]
        with atomic_path(self.path) as tmp, tmp.open("w", newline="") as f:
            csv.writer(f).writerows([self.columns, *kept])

    def append(self, steps, values) -> None:
        with self.path.open("a", newline="") as f:
            csv.writer(f).writerows([[int(s), *(f"{v:.6g}" for v in row)] for s, row in zip(steps, values)])


def fingerprint(cfg: Config) -> str:
    """What decides the training trajectory: a checkpoint resumes only under the same one."""
    keys = {k: v for k, v in flatten(cfg).items() if k.split(".")[0] in ("seed", "data", "model", "train")}
    return hashlib.sha256(json.dumps(keys, sort_keys=True, default=str).encode()).hexdigest()[:16]


def run(cfg: Config) -> None:
    runtime.configure(cfg.seed, cfg.train.threads)
    strategy = distribute.make_strategy(cfg.train.strategy)  # first: multi_worker must precede any op
    # TensorFlow's own rule: the `chief` task, or worker 0 when the cluster has none
    chief = strategy.extended.should_checkpoint
    task = "" if chief else f"{strategy.cluster_resolver.task_type}-{strategy.cluster_resolver.task_id}"
    keras.mixed_precision.set_global_policy(distribute.precision_policy(cfg.train.mixed_precision))
    arrays = np.load(PREPARED)
    images, labels = arrays["train_images"], arrays["train_labels"]

    replicas = strategy.num_replicas_in_sync
    with strategy.scope():
        gan = build_gan(cfg.model, synchronized_batch_norm=replicas > 1)
    trainer = Trainer(gan, make_loss(cfg.train.loss, cfg.train.gp_weight), cfg.train, cfg.seed,
                      cfg.model.latent_dim, use_xla(cfg.train, cfg.model.arch, replicas), strategy)
    total_steps = cfg.train.epochs * trainer.steps_per_epoch(len(images))

    workdir = CHECKPOINTS if chief else Path(tempfile.mkdtemp(prefix=f"fashiongan-{task}-"))
    CHECKPOINTS.mkdir(parents=True, exist_ok=True)
    latest = tf.train.latest_checkpoint(str(CHECKPOINTS))
    state = json.loads(STATE.read_text()) if STATE.exists() else {}
    resuming = state.get("fingerprint") == fingerprint(cfg) and not state.get("finished") and latest is not None
    if resuming:
        trainer.checkpoint.restore(latest).assert_existing_objects_matched()
    elif chief:
        shutil.rmtree(CHECKPOINTS)
        CHECKPOINTS.mkdir(parents=True)
    manager = tf.train.CheckpointManager(trainer.checkpoint, str(workdir), max_to_keep=3)
    start_step = int(trainer.step.numpy())

    run = tracking.NoRun()
    if cfg.tracking.enabled and chief:
        run = tracking.start_run(cfg.tracking.experiment, state.get("run_id") if resuming else None)
    if not resuming:
        run.log_params(flatten(cfg))
        run.set_tags({"git_commit": tracking.git_commit(tracking.repo_root()),
                      "dvc_exp": os.environ.get("DVC_EXP_NAME"),
                      "model.arch": cfg.model.arch, "train.loss": cfg.train.loss,
                      "model.conditional": cfg.model.conditional,
                      "train.replicas": replicas, "train.dtype_policy": keras.mixed_precision.global_policy().name})
    if chief:
        write_json(STATE, {"fingerprint": fingerprint(cfg), "run_id": run.run_id, "finished": False})
    print(f"train: {cfg.model.arch}, {total_steps} steps "
          + (f"(resuming at step {start_step})" if resuming else "(fresh)")
          + (f" on {replicas} replicas" if replicas > 1 else "")
          + ("" if chief else f", {task} (not the chief: scratch in {workdir})")
          + (f", MLflow run {run.run_id} in {tracking.masked(tracking.tracking_uri())}" if run.run_id else ""))

    history = StepLog(workdir / "history.csv", METRIC_NAMES)
    fid_log = StepLog(workdir / "fid.csv", ["fid", "seconds"])
    history.keep_through(start_step)
    fid_log.keep_through(start_step)
    held = {}
    if resuming and chief:
        # After a kill -9, rows up to the checkpoint may be in the CSVs while their background
        # log_batch never reached the store: send those now. Later steps are recomputed; of
        # those, MLflow may already hold some (asked of MLflow, not of the CSVs).
        _, held = tracking.sync(run, logged_series(history, fid_log))
    already_sent = min(held.get(name, -1) for name in METRIC_NAMES)
    # Training seconds at each FID, for FID against wall-clock; a resumed run counts on from its
    # last FID row (the time between that row and the checkpoint is not counted).
    seconds_before = float(fid_log.rows()[-1][2]) if fid_log.rows() else 0.0

    def on_metrics(first_step, rows):
        steps = np.arange(first_step + 1, first_step + 1 + len(rows))
        bad = ~np.isfinite(rows).all(axis=1)
        if bad.any():
            i = int(np.argmax(bad))
            raise NonFiniteLoss(f"non-finite loss at step {steps[i]}: "
                                + ", ".join(f"{n}={v}" for n, v in zip(METRIC_NAMES, rows[i])))
        history.append(steps, rows)
        fresh = steps > already_sent
        run.log_series({name: list(zip(steps[fresh], rows[fresh, j])) for j, name in enumerate(METRIC_NAMES)})

    grid_z, grid_labels = fixed_latents(cfg.model.latent_dim, 100, cfg.seed)

    def log_samples(step):
        if step <= already_sent:  # logged before the run was interrupted
            return
        grid = plots.image_grid(to_uint8(generate(trainer.sampling_generator, grid_z, grid_labels)), 10, 10)
        run.log_image(grid, key="samples", step=step)

    def save_checkpoint(step):
        manager.save(checkpoint_number=step)

    def chief_only(event):
        # every worker keeps the same event steps: they cut the compiled chunks, which must
        # line up across workers for their collectives to match
        return event if chief else (lambda step: None)

    events = [(cfg.train.sample_every, chief_only(log_samples))]
    fid_seconds = 0.0
    if cfg.train.fid_every:
        if chief:  # a worker keeps the event (see chief_only), not its inputs
            extractor = FeatureExtractor(load_model(CLASSIFIER))
            real_stats = metrics.feature_statistics(np.load(REAL_FEATURES)["test_features"])
        fid_z, fid_labels = fixed_latents(cfg.model.latent_dim, cfg.train.fid_samples, cfg.seed + 1)

        def log_fid(step):
            nonlocal fid_seconds
            started = time.time()
            fake = generate(trainer.sampling_generator, fid_z, fid_labels)
            value = metrics.frechet_distance(*metrics.feature_statistics(extractor.features(fake)), *real_stats)
            fid_log.append([step], [[value, seconds_before + time.time() - started_training]])
            if step > held.get("fid", -1):
                run.log_series({"fid": [(step, value)]})
            fid_seconds += time.time() - started

        events.append((cfg.train.fid_every, chief_only(log_fid)))
    # last, so that a checkpoint at step N means every step-N event has run
    events.append((cfg.train.checkpoint_every, save_checkpoint))

    # Ctrl-C / SIGTERM are deferred to the end of the current chunk, so that metrics, CSV and
    # checkpoint agree on the step where training stopped; then the usual handler runs.
    requested: list[int] = []
    previous = {s: signal.signal(s, lambda signum, frame: requested.append(signum))
                for s in (signal.SIGINT, signal.SIGTERM)}
    started_training = time.time()
    try:
        with tqdm(total=total_steps, initial=start_step, unit="step", mininterval=2, file=sys.stdout) as progress:
            completed = fit(trainer, images, labels, total_steps, events, on_metrics, progress, lambda: bool(requested))
    except BaseException:
        run.set_tags({"failed_at_step": int(trainer.step.numpy())})
        run.end("FAILED")
        raise
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    train_seconds = time.time() - started_training
    if not completed:
        step = int(trainer.step.numpy())
        manager.save(checkpoint_number=step)
        run.set_tags({"failed_at_step": step})
        run.end("KILLED")
        print(f"train: stopped by signal {requested[0]} at step {step}; checkpoint saved, resumes on the next run",
              file=sys.stderr)
        handler = previous[requested[0]]
        if callable(handler):
            handler(requested[0], None)
        raise KeyboardInterrupt
    if not chief:
        shutil.rmtree(workdir)
        print(f"train: {task} done; the chief writes the outputs")
        return

    save_model(trainer.sampling_generator, GENERATOR)
    REPORTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(history.path, REPORTS / "history.csv")
    shutil.copyfile(fid_log.path, REPORTS / "fid.csv")
    table = np.loadtxt(history.path, delimiter=",", skiprows=1, ndmin=2)
    plots.save_loss_curves(REPORTS / "losses.png", table[:, 0], {n: table[:, i + 1] for i, n in enumerate(METRIC_NAMES)})
    summary = {"steps": total_steps, "train_seconds": round(train_seconds, 1),
               "steps_per_second": round((total_steps - start_step) / train_seconds, 2),
               "fid_seconds": round(fid_seconds, 1), "resumed_from_step": start_step}
    write_json(REPORTS / "summary.json", summary)
    run.log_series({f"train.{k}": [(total_steps, v)] for k, v in summary.items()})
    run.log_artifact(REPORTS / "losses.png", "figures")
    run.flush()
    tracking.write_run_file(run)
    write_json(STATE, {"fingerprint": fingerprint(cfg), "run_id": run.run_id, "finished": True})
    print(f"train: {total_steps - start_step} steps in {train_seconds:.0f} s "
          f"({summary['steps_per_second']} steps/s) -> {GENERATOR}")



def logged_series(history: StepLog, fid_log: StepLog) -> dict[str, list[tuple[int, float]]]:
    """The MLflow series the CSVs hold: every per-step metric and the FIDs."""
    rows = history.rows()
    series = {name: [(int(r[0]), float(r[j])) for r in rows] for j, name in enumerate(METRIC_NAMES, start=1)}
    series["fid"] = [(int(r[0]), float(r[1])) for r in fid_log.rows()]
    return series


def sync_tracking(cfg: Config) -> str:
    """`fashiongan tracking sync`: send the run's per-step metrics (and final metrics, once
    evaluate has written them) that MLflow missed while its store was away."""
    if not cfg.tracking.enabled:
        return "tracking.enabled is false: nothing to sync"
    if not STATE.is_file():
        raise FileNotFoundError(f"{STATE}: no training run to sync; run `dvc repro` first")
    run = tracking.open_run(json.loads(STATE.read_text())["run_id"])
    series = logged_series(StepLog(CHECKPOINTS / "history.csv", METRIC_NAMES),
                           StepLog(CHECKPOINTS / "fid.csv", ["fid", "seconds"]))
    final = Path("reports/metrics.json")
    if final.is_file():
        series |= {f"eval.{k}": [(0, v)] for k, v in json.loads(final.read_text()).items()}
    sent, _ = tracking.sync(run, series)
    return f"tracking sync: {sent} metric values sent to run {run.run_id} in {tracking.masked(tracking.tracking_uri())}"
