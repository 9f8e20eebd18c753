"""train: build G and D for model.arch, train them, log to MLflow, checkpoint, save the generator.

Interrupted runs resume (see gan/resume.py). Under `train.strategy: multi_worker` every worker
runs this stage; only the chief writes outputs and the MLflow run.
"""

from __future__ import annotations

import contextlib
import sys
import time

import keras
import numpy as np

from .. import plots, runtime
from ..config import Config
from ..evaluation import probe, ruler
from ..gan import conditioning, distribute, resume
from ..gan.build import build_trainer
from ..gan.loop import fit_until_signal
from ..gan.progress import TrainingProgress
from ..gan.trainer import METRIC_NAMES, steps_per_epoch
from ..io import save_model, write_json
from ..paths import CLASSIFIER, FID_HISTORY, GENERATOR, HISTORY, LOSSES_PLOT, PREPARED, TRAIN_SUMMARY
from ..tracking.outage import masked
from ..tracking.run import NoRun, start_run, write_run_file
from ..tracking.store import tracking_uri
from ..tracking.training import record_start


def run(cfg: Config) -> None:
    runtime.configure(cfg.seed, cfg.runtime)
    strategy = distribute.make_strategy(cfg.train.strategy)  # first: multi_worker must precede any op
    chief = strategy.extended.should_checkpoint  # TensorFlow's rule: the `chief` task, or worker 0
    task = "" if chief else f"{strategy.cluster_resolver.task_type}-{strategy.cluster_resolver.task_id}"
    keras.config.set_dtype_policy(distribute.precision_policy(cfg.train.mixed_precision))
    if warning := distribute.missing_gpu_warning():
        print(f"train: warning: {warning}", file=sys.stderr)
    arrays = np.load(PREPARED)
    images = arrays["train_images"]
    labels = conditioning.training_labels(cfg.model, images, arrays["train_labels"], cfg.seed)
    classes, replicas = len(cfg.data.class_names), strategy.num_replicas_in_sync
    total_steps = cfg.train.epochs * steps_per_epoch(cfg.train, len(images))
    trainer = build_trainer(cfg, total_steps, strategy, classes)
    sampler = conditioning.published_generator(cfg.model, trainer.inference_generator, labels)
    state = resume.restore(cfg, trainer.checkpoint, METRIC_NAMES, chief, task, strategy)
    # the ruler of fid.csv's FIDs (resume.restore made sure a resumed run's were measured with it too);
    # none when training measures none: evaluate tags the run with the ruler of its metrics
    ruler_id = ruler.ruler_id(CLASSIFIER) if cfg.train.fid_every and CLASSIFIER.is_file() else None
    mlflow_run = NoRun()
    try:  # from here on, an error or a signal ends the MLflow run as FAILED or KILLED
        if cfg.tracking.enabled and chief:
            mlflow_run = start_run(cfg.tracking.experiment, state.run_id)
        held = record_start(mlflow_run, cfg, state, ruler_id, replicas)
        fid_probe = probe.training_probe(cfg, labels, classes) if cfg.train.fid_every and chief else None
        progress = TrainingProgress(
            mlflow_run, state, sampler, fid_probe, held, chief, cfg.model.latent_dim, cfg.seed, classes
        )
        print(
            f"train: {cfg.model.arch}, {total_steps} steps "
            + (f"(resuming at step {state.start_step})" if state.resuming else "(fresh)")
            + (f" on {replicas} replicas" if replicas > 1 else "")
            + f", on {distribute.devices()}"
            + ("" if chief else f", {task} (not the chief)")
            + (f", MLflow run {mlflow_run.run_id} in {masked(tracking_uri())}" if mlflow_run.run_id else "")
        )
        events = progress.events(cfg.train.sample_every, cfg.train.fid_every, cfg.train.checkpoint_every)
        # several train.ema decays: at the last step, before the last grid, FID and checkpoint, train
        # publishes the average with the lowest FID against the training images (each one's FID here;
        # a run resumed after that step has them from its state)
        average_fids = state.average_fids()
        if len(cfg.train.ema_decays) > 1 and chief:
            against_train = probe.training_probe(cfg, labels, classes, real="train", offset=2)
            chooser = progress.average_chooser(
                trainer,
                against_train,
                lambda average: conditioning.published_generator(cfg.model, average, labels),
                average_fids,
                cfg.train.fid_samples,
            )
            events.insert(0, (total_steps, chooser))
        fit_until_signal(trainer, images, labels, total_steps, events, progress.log_metrics, state)
        train_seconds = time.time() - progress.started
        if not chief:
            state.discard_scratch()
            print(f"train: {task} done; the chief writes the outputs")
            return
        images_per_step = cfg.train.batch_size * cfg.train.d_steps  # real images D is shown a step
        summary, averages = progress.summary(total_steps, images_per_step, train_seconds, average_fids)
        state.record(mlflow_run.run_id, finished=False, summary=summary)  # kept until the outputs are written
        _write_outputs(mlflow_run, state, sampler, summary, ruler_id, averages)
    except BaseException:
        with contextlib.suppress(Exception):  # a store that refuses these must not hide the error itself
            mlflow_run.set_tags({"failed_at_step": int(trainer.step.numpy())})
            mlflow_run.end("KILLED" if isinstance(sys.exc_info()[1], KeyboardInterrupt) else "FAILED")
        raise
    print(
        f"train: {total_steps - state.start_step} steps in {train_seconds:.0f} s "
        f"({summary['steps_per_second']} steps/s) -> {GENERATOR}"
    )


def _write_outputs(mlflow_run, state: resume.TrainingState, sampler, summary, ruler_id, averages) -> None:
    """train's outputs and the MLflow run's last records. The state says finished only after all of them:
    a run killed among them resumes at its last step and writes them all again."""
    save_model(sampler, GENERATOR)
    state.publish(HISTORY, FID_HISTORY)
    plots.save_loss_curves(LOSSES_PLOT, state.history.series())
    # beside fid.csv: the ruler of its FIDs; the digest of train's code and data, which with the params
    # names the recipe evaluate's numbers belong to
    write_json(
        TRAIN_SUMMARY,
        summary | averages | {"ruler": ruler_id, "inputs_digest": resume.code_and_data_digest(state.inputs)},
    )
    mlflow_run.log_series({f"train.{k}": [(summary["steps"], v)] for k, v in summary.items()})
    mlflow_run.log_artifact(LOSSES_PLOT, "figures")
    mlflow_run.flush()
    write_run_file(mlflow_run)
    mlflow_run.end("FINISHED")  # training is done; each evaluation of its generator is a run of its own
    state.record(mlflow_run.run_id, finished=True)  # last: killed before it, train resumes and ends the run
