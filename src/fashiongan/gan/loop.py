"""The training loop: compiled chunks of steps between the events that need the host (metrics,
samples, FIDs, checkpoints), with every event guarded against a diverged model; and the same loop
under a progress bar, stopped by Ctrl-C or SIGTERM only between chunks, where it checkpoints."""

from __future__ import annotations

import sys

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from .. import runtime
from ..errors import Diverged
from .resume import TrainingState
from .trainer import METRIC_NAMES, Trainer, epoch_order


def fit(
    trainer: Trainer,
    images: np.ndarray,
    labels: np.ndarray,
    total_steps: int,
    events,
    on_metrics,
    progress=None,
    stop_requested=lambda: False,
) -> bool:
    """Train until `total_steps`, calling `on_metrics(first_step, rows)` every log_every steps and,
    for each `(every, event)` in events, `event(step)` whenever step is a multiple of `every` and
    at the end (samples, checkpoints, FID). Returns False when `stop_requested()` ended it early.

    Chunks end at epoch boundaries (where the data order changes) and at event steps. Every event
    sees finite losses up to its step and finite weights: a non-finite loss raises `Diverged`
    naming its first step, non-finite weights name the step after which they were found, so no
    sample, FID or checkpoint is ever made of a diverged model.
    """
    cfg = trainer.cfg
    images = tf.constant(images)
    labels = tf.constant(labels.astype(np.int32))
    steps_per_epoch = trainer.steps_per_epoch(len(images))
    stops = {cfg.log_every, *(every for every, _ in events)}
    pending, pending_from = [], int(trainer.step.numpy())
    order_epoch, order = None, None
    step = int(trainer.step.numpy())

    def checked_rows():
        nonlocal pending
        rows = np.concatenate([np.asarray(p) for p in pending])
        pending = [rows]
        bad = ~np.isfinite(rows).all(axis=1)
        if bad.any():
            i = int(np.argmax(bad))
            raise Diverged(
                f"non-finite loss at step {pending_from + 1 + i}: "
                + ", ".join(f"{n}={v}" for n, v in zip(METRIC_NAMES, rows[i]))
            )
        if bad_variables := trainer.non_finite_variables():
            raise Diverged(
                f"non-finite weights after step {step} (every loss up to it was finite): "
                + ", ".join(bad_variables[:3])
                + (" ..." if len(bad_variables) > 3 else "")
            )
        return rows

    def hand_over_metrics():
        nonlocal pending, pending_from
        on_metrics(pending_from, checked_rows())
        pending, pending_from = [], step

    while step < total_steps:
        epoch = step // steps_per_epoch
        if epoch != order_epoch:
            order_epoch, order = epoch, epoch_order(trainer.seed, epoch, len(images))
        next_stop = min(
            [total_steps, (epoch + 1) * steps_per_epoch, step + cfg.steps_per_call]
            + [(step // every + 1) * every for every in stops]
        )
        pending.append(trainer.run_steps(next_stop - step, images, labels, order))
        step = next_stop
        if step % cfg.log_every == 0 or step == total_steps:
            hand_over_metrics()
        if progress is not None:
            progress.update(step - progress.n)
        due = [event for every, event in events if step % every == 0 or step == total_steps]
        if due and pending:
            checked_rows()
        for event in due:
            event(step)
        if stop_requested() and step < total_steps:
            if pending:
                hand_over_metrics()
            return False
    return True


def fit_until_signal(
    trainer: Trainer,
    images: np.ndarray,
    labels: np.ndarray,
    total_steps: int,
    events,
    on_metrics,
    state: TrainingState,
) -> None:
    """`fit` under a progress bar, with Ctrl-C and SIGTERM deferred to the end of the chunk they arrive in
    (runtime.deferred_signals): the state is checkpointed at that step before the signal is delivered, so a
    stopped run resumes there."""
    with (
        runtime.deferred_signals() as requested,
        tqdm(total=total_steps, initial=state.start_step, unit="step", mininterval=2, file=sys.stdout) as bar,
    ):
        if not fit(trainer, images, labels, total_steps, events, on_metrics, bar, lambda: bool(requested)):
            step = int(trainer.step.numpy())
            state.save(step)
            print(
                f"train: stopped by signal {requested[0]} at step {step}; checkpoint saved", file=sys.stderr
            )
