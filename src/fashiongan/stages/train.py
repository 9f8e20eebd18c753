"""train: build G and D for model.arch, train them, log to MLflow, checkpoint, save the generator.

Interrupted runs resume (see resume.py). Under `train.strategy: multi_worker` every worker runs
this stage; only the chief writes outputs and the MLflow run.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time

import keras
import numpy as np
from tqdm import tqdm

from .. import conditioning, distribute, plots, resume, ruler, runtime, tracking
from ..config import Config, flatten
from ..data import to_uint8
from ..probe import FidProbe
from ..io import load_model, save_model, write_json
from ..losses import make_loss
from ..models import Generator, build_gan, class_shares, grid_latents
from ..paths import CLASSIFIER, DATA_REPORT, FID_HISTORY, GENERATOR, HISTORY, LOSSES_PLOT, PREPARED, REAL_FEATURES, TRAIN_SUMMARY
from ..trainer import METRIC_NAMES, Trainer, fit, steps_per_epoch, use_xla


def run(cfg: Config) -> None:
    runtime.configure(cfg.seed, cfg.runtime)
    strategy = distribute.make_strategy(cfg.train.strategy)  # first: multi_worker must precede any op
    chief = strategy.extended.should_checkpoint  # TensorFlow's rule: the `chief` task, or worker 0
    task = "" if chief else f"{strategy.cluster_resolver.task_type}-{strategy.cluster_resolver.task_id}"
    keras.mixed_precision.set_global_policy(distribute.precision_policy(cfg.train.mixed_precision))
    arrays = np.load(PREPARED)
    images = arrays["train_images"]
    labels = conditioning.training_labels(cfg.model, images, arrays["train_labels"], cfg.seed)
    classes = len(cfg.data.class_names)
    replicas = strategy.num_replicas_in_sync
    with strategy.scope():
        gan = build_gan(cfg.model, synchronized_batch_norm=replicas > 1, classes=classes)
    total_steps = cfg.train.epochs * steps_per_epoch(cfg.train, len(images))
    trainer = Trainer(gan, make_loss(cfg.train.loss, cfg.train.gp_weight), cfg.train, cfg.seed,
                      cfg.model.latent_dim, use_xla(cfg.train, cfg.model.arch, replicas), strategy, total_steps)
    sampler = conditioning.sampling_generator(cfg.model, trainer.sampling_generator, labels)  # samples, FIDs, the model
    state = resume.restore(cfg, trainer.checkpoint, METRIC_NAMES, chief, task)
    # the ruler of fid.csv's FIDs (resume.restore made sure a resumed run's were measured with it too);
    # none when training measures none: evaluate tags the run with the ruler of its metrics
    ruler_id = ruler.ruler_id(CLASSIFIER) if cfg.train.fid_every and CLASSIFIER.is_file() else None

    run, held, fid_seconds = tracking.NoRun(), {}, []
    try:  # from here on, an error or a signal ends the MLflow run as FAILED or KILLED
        if cfg.tracking.enabled and chief:
            run = tracking.start_run(cfg.tracking.experiment, state.run_id)
        if state.resuming:
            # After a kill -9, rows up to the checkpoint may be in the logs while their background
            # log_batch never reached the store: send those now; later steps are recomputed.
            _, held = tracking.sync(run, state.history.series() | {"fid": state.fid_log.series()["fid"]})
        if run.run_id != state.run_id:  # a new run (also when resuming a run that was not tracked there)
            run.log_params(flatten(cfg, ("seed", "runtime", "data", "model", "train")))
            run.set_tags(tracking.provenance_tags() | {
                "model.arch": cfg.model.arch, "train.loss": cfg.train.loss, "model.conditional": cfg.model.conditional,
                "train.replicas": replicas, "train.dtype_policy": keras.mixed_precision.global_policy().name}
                | ({"ruler": ruler_id} if ruler_id else {}))
        state.record(run.run_id, finished=False)
        if DATA_REPORT.is_file():  # prepare's report (a dvc.yaml dep; absent when a stage runs on hand-made data)
            run.log_dataset(json.loads(DATA_REPORT.read_text()), "training")
        already_sent = min(held.get(name, -1) for name in METRIC_NAMES)
        print(f"train: {cfg.model.arch}, {total_steps} steps "
              + (f"(resuming at step {state.start_step})" if state.resuming else "(fresh)")
              + (f" on {replicas} replicas" if replicas > 1 else "") + ("" if chief else f", {task} (not the chief)")
              + (f", MLflow run {run.run_id} in {tracking.masked(tracking.tracking_uri())}" if run.run_id else ""))

        def on_metrics(first_step, rows):
            steps = np.arange(first_step + 1, first_step + 1 + len(rows))
            state.history.append(steps, rows)
            fresh = steps > already_sent
            run.log_series({name: list(zip(steps[fresh], rows[fresh, j])) for j, name in enumerate(METRIC_NAMES)})

        grid_z, grid_labels = grid_latents(cfg.model.latent_dim, 10, 10, cfg.seed, classes)

        def log_samples(step):
            if step > already_sent:  # else logged before the run was interrupted
                grid = to_uint8(Generator(sampler).draw(grid_z, grid_labels))
                run.log_image(plots.image_grid(grid, 10, 10), key="samples", step=step)

        seconds_before, started_training = state.seconds_before(), time.time()
        shares = class_shares(labels, classes) if cfg.model.conditional else [1.0]
        fid_probe = FidProbe(load_model(CLASSIFIER), np.load(REAL_FEATURES)["test_features"], cfg.model.latent_dim,
                             cfg.train.fid_samples, cfg.seed + 1, shares) if cfg.train.fid_every and chief else None

        def log_fid(step):
            started = time.time()
            value = fid_probe(sampler)
            state.fid_log.append([step], [[value, seconds_before + started - started_training]])
            if step > held.get("fid", -1):
                run.log_series({"fid": [(step, value)]})
            fid_seconds.append(time.time() - started)

        # Every worker keeps the same event steps (they cut the compiled chunks, which must line up
        # for the workers' collectives); only the chief's events do anything.
        def chief_only(event):
            return event if chief else (lambda step: None)

        events = [(cfg.train.sample_every, chief_only(log_samples))]
        if cfg.train.fid_every:
            events.append((cfg.train.fid_every, chief_only(log_fid)))
        events.append((cfg.train.checkpoint_every, state.save))  # last: a checkpoint at N follows N's events

        with runtime.deferred_signals() as requested, \
                tqdm(total=total_steps, initial=state.start_step, unit="step", mininterval=2, file=sys.stdout) as bar:
            if not fit(trainer, images, labels, total_steps, events, on_metrics, bar, lambda: bool(requested)):
                step = int(trainer.step.numpy())
                state.save(step)
                print(f"train: stopped by signal {requested[0]} at step {step}; checkpoint saved", file=sys.stderr)
        train_seconds = time.time() - started_training
        if not chief:
            state.discard_scratch()
            print(f"train: {task} done; the chief writes the outputs")
            return

        save_model(sampler, GENERATOR)
        state.publish(HISTORY, FID_HISTORY)
        plots.save_loss_curves(LOSSES_PLOT, state.history.series())
        summary = {"steps": total_steps, "train_seconds": round(train_seconds, 1),
                   "steps_per_second": round((total_steps - state.start_step) / train_seconds, 2),
                   "fid_seconds": round(sum(fid_seconds), 1), "resumed_from_step": state.start_step}
        write_json(TRAIN_SUMMARY, summary | {"ruler": ruler_id})  # beside fid.csv: the ruler of its FIDs
        run.log_series({f"train.{k}": [(total_steps, v)] for k, v in summary.items()})
        run.log_artifact(LOSSES_PLOT, "figures")
        run.flush()
        tracking.write_run_file(run)
        state.record(run.run_id, finished=True)
    except BaseException:
        with contextlib.suppress(Exception):  # a store that refuses these must not hide the error itself
            run.set_tags({"failed_at_step": int(trainer.step.numpy())})
            run.end("KILLED" if isinstance(sys.exc_info()[1], KeyboardInterrupt) else "FAILED")
        raise
    print(f"train: {total_steps - state.start_step} steps in {train_seconds:.0f} s "
          f"({summary['steps_per_second']} steps/s) -> {GENERATOR}")
