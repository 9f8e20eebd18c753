"""train: build G and D for model.arch, train them, log to MLflow, checkpoint, save the generator.

Interrupted runs resume (see gan/resume.py). Under `train.strategy: multi_worker` every worker
runs this stage; only the chief writes outputs and the MLflow run.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time

import keras
import numpy as np
from tqdm import tqdm

from .. import plots, runtime
from ..config import Config, flatten
from ..evaluation import ruler
from ..evaluation.probe import FidProbe
from ..gan import conditioning, distribute, resume
from ..gan.build import build_trainer
from ..gan.loop import fit
from ..gan.models import class_shares
from ..gan.progress import TrainingProgress
from ..gan.trainer import METRIC_NAMES, Trainer, steps_per_epoch
from ..io import load_model, save_model, write_json
from ..paths import (
    CLASSIFIER,
    DATA_REPORT,
    FID_HISTORY,
    GENERATOR,
    HISTORY,
    LOSSES_PLOT,
    PREPARED,
    REAL_FEATURES,
    TRAIN_SUMMARY,
)
from ..tracking.outage import masked
from ..tracking.run import NoRun, send_missing, start_run, write_run_file
from ..tracking.store import provenance_tags, tracking_uri


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
        held = _record_start(cfg, mlflow_run, state, ruler_id, replicas)
        fid_probe = _fid_probe(cfg, labels, classes) if cfg.train.fid_every and chief else None
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
            chooser = _average_chooser(cfg, trainer, labels, classes, mlflow_run, average_fids, state)
            events.insert(0, (total_steps, chooser))
        with (
            runtime.deferred_signals() as requested,
            tqdm(
                total=total_steps, initial=state.start_step, unit="step", mininterval=2, file=sys.stdout
            ) as bar,
        ):
            if not fit(
                trainer,
                images,
                labels,
                total_steps,
                events,
                progress.log_metrics,
                bar,
                lambda: bool(requested),
            ):
                step = int(trainer.step.numpy())
                state.save(step)
                print(
                    f"train: stopped by signal {requested[0]} at step {step}; checkpoint saved",
                    file=sys.stderr,
                )
        train_seconds = time.time() - progress.started
        if not chief:
            state.discard_scratch()
            print(f"train: {task} done; the chief writes the outputs")
            return
        summary = {
            "steps": total_steps,
            # the whole run: a resumed run's earlier segments too (as fid.csv's seconds count them)
            "train_seconds": round(progress.seconds_before + train_seconds, 1),
            "steps_per_second": round((total_steps - state.start_step) / train_seconds, 2),  # this segment's
            "images_seen": total_steps * cfg.train.batch_size * cfg.train.d_steps,  # real images D was shown
            "fid_seconds": round(progress.fid_seconds, 1),
            "resumed_from_step": state.start_step,
        }
        averages = (
            {  # summary.json only: the MLflow run got them when they were measured
                "ema_fid_train": {str(decay): round(fid, 4) for decay, fid in average_fids.items()},
                "ema_published": min(average_fids, key=average_fids.get),
            }
            if average_fids
            else {}
        )
        if "summary" in state.outcome and state.start_step == total_steps:  # killed while writing the outputs
            summary = state.outcome["summary"]
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


def _fid_probe(
    cfg: Config, labels: np.ndarray, classes: int, real: str = "test", offset: int = 1
) -> FidProbe:
    """The training-time FID against the `real` images' features: loaded after the MLflow run opens,
    so that a missing classifier ends that run as FAILED rather than leaving no trace of the attempt."""
    shares = class_shares(labels, classes) if cfg.model.conditional else [1.0]
    return FidProbe(
        load_model(CLASSIFIER),
        np.load(REAL_FEATURES)[f"{real}_features"],
        cfg.model.latent_dim,
        cfg.train.fid_samples,
        cfg.seed + offset,
        shares,
    )


def _average_chooser(
    cfg: Config,
    trainer: Trainer,
    labels: np.ndarray,
    classes: int,
    mlflow_run,
    fids: dict,
    state: resume.TrainingState,
):
    """The last step's event under several train.ema decays: score each weight average against the
    training images (never the test images evaluate uses) and publish the lowest; its FIDs go
    into `fids`, the state (before the last checkpoint, which holds the published weights), the
    MLflow run and the log."""
    probe = _fid_probe(cfg, labels, classes, real="train", offset=2)

    def choose(step: int) -> None:
        fids.update(
            trainer.publish_best_average(
                lambda average: probe(conditioning.published_generator(cfg.model, average, labels))
            )
        )
        best = min(fids, key=fids.get)
        state.record(
            mlflow_run.run_id, finished=False, ema_fid_train={str(d): fid for d, fid in fids.items()}
        )
        mlflow_run.log_series({f"ema_fid_train.{decay}": [(step, fid)] for decay, fid in fids.items()})
        mlflow_run.set_tags({"train.ema_published": best})
        print(
            f"train: FID of G's weight averages against the training images ({cfg.train.fid_samples} samples): "
            + ", ".join(f"decay {decay} {fid:.3f}" for decay, fid in fids.items())
            + f"; publishing decay {best}"
        )

    return choose


def _record_start(
    cfg: Config, mlflow_run, state: resume.TrainingState, ruler_id: str | None, replicas: int
) -> dict[str, int]:
    """Params, tags and the training dataset of a new run; for a resumed one, the step logs' rows
    up to the checkpoint that its background log_batch may not have sent before a kill -9 (later
    steps are recomputed). Returns the last step MLflow holds of each series."""
    held = {}
    if state.resuming:
        _, held = send_missing(mlflow_run, state.history.series() | {"fid": state.fid_log.series()["fid"]})
    if mlflow_run.run_id != state.run_id:  # a new run (also when resuming a run that was not tracked there)
        mlflow_run.log_params(flatten(cfg, ("seed", "runtime", "data", "model", "train")))
        mlflow_run.set_tags(
            provenance_tags([path for path in state.inputs if path.startswith("src/")])
            | {
                "train.inputs_digest": resume.code_and_data_digest(state.inputs),
                "model.arch": cfg.model.arch,
                "train.loss": cfg.train.loss,
                "model.conditional": cfg.model.conditional,
                "train.replicas": replicas,
                "train.dtype_policy": keras.config.dtype_policy().name,
            }
            | ({"ruler": ruler_id} if ruler_id else {})
        )
    state.record(mlflow_run.run_id, finished=False)
    if DATA_REPORT.is_file():  # prepare's report (a dvc.yaml dep; absent when a stage runs on hand-made data)
        mlflow_run.log_dataset(json.loads(DATA_REPORT.read_text()), "training")
    return held


def _write_outputs(
    mlflow_run,
    state: resume.TrainingState,
    sampler: keras.Model,
    summary: dict,
    ruler_id: str | None,
    averages: dict,
) -> None:
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
