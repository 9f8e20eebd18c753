"""What training reports as it goes, at the steps `fit` calls it: per-step metrics (to the step
log and the MLflow run), sample grids (MLflow images), the training-time FID (fid.csv and MLflow),
checkpoints, the choice among G's weight averages at the last step; and the run's summary at its end.

A resumed run re-sends nothing the run already holds (`held`: the last step MLflow has of each
series). Under `multi_worker` every worker keeps the same event steps, since they cut the
compiled chunks and must line up for the workers' collectives; only the chief's events act.
"""

from __future__ import annotations

import time

import numpy as np

from .. import plots
from ..data.images import to_uint8
from .models import TrainedGenerator, grid_latents
from .resume import TrainingState
from .trainer import METRIC_NAMES, Trainer

GRID_SIDE = 10  # sample grids of 10 x 10 images


class TrainingProgress:
    def __init__(
        self,
        run,
        state: TrainingState,
        sampler,
        fid_probe,
        held: dict[str, int],
        chief: bool,
        latent_dim: int,
        seed: int,
        classes: int,
    ):
        self.run, self.state, self.sampler, self.fid_probe, self.held, self.chief = (
            run,
            state,
            sampler,
            fid_probe,
            held,
            chief,
        )
        self.metrics_sent = min(held.get(name, -1) for name in METRIC_NAMES)
        self.grid_z, self.grid_labels = grid_latents(latent_dim, GRID_SIDE, GRID_SIDE, seed, classes)
        self.fid_seconds = 0.0
        self.seconds_before, self.started = state.seconds_before(), time.time()

    def events(self, sample_every: int, fid_every: int, checkpoint_every: int) -> list:
        """`fit`'s (every, event) pairs; the checkpoint last, so a checkpoint at N follows N's events."""
        fid = [(fid_every, self.log_fid)] if fid_every else []
        return [(sample_every, self.log_samples), *fid, (checkpoint_every, self.state.save)]

    def log_metrics(self, first_step: int, rows: np.ndarray) -> None:
        steps = np.arange(first_step + 1, first_step + 1 + len(rows))
        self.state.history.append(steps, rows)
        fresh = steps > self.metrics_sent
        self.run.log_series(
            {name: list(zip(steps[fresh], rows[fresh, j])) for j, name in enumerate(METRIC_NAMES)}
        )

    def log_samples(self, step: int) -> None:
        if self.chief and step > self.metrics_sent:  # else logged before the run was interrupted
            grid = to_uint8(TrainedGenerator(self.sampler).draw(self.grid_z, self.grid_labels))
            self.run.log_image(plots.image_grid(grid, GRID_SIDE, GRID_SIDE), key="samples", step=step)

    def log_fid(self, step: int) -> None:
        if not self.chief:
            return
        started = time.time()
        value = self.fid_probe(self.sampler)
        self.state.fid_log.append([step], [[value, self.seconds_before + started - self.started]])
        if step > self.held.get("fid", -1):
            self.run.log_series({"fid": [(step, value)]})
        self.fid_seconds += time.time() - started

    def average_chooser(self, trainer: Trainer, probe, published, fids: dict, samples: int):
        """The last step's event under several train.ema decays: score each weight average, made the
        generator evaluate would sample by `published`, with `probe` (`samples` images against the training
        images, never the test images evaluate uses) and publish the lowest; its FIDs go into `fids`, the
        state (before the last checkpoint, which holds the published weights), the MLflow run and the log."""

        def choose(step: int) -> None:
            fids.update(trainer.publish_best_average(lambda average: probe(published(average))))
            best = min(fids, key=fids.get)
            self.state.record(
                self.run.run_id, finished=False, ema_fid_train={str(d): fid for d, fid in fids.items()}
            )
            self.run.log_series({f"ema_fid_train.{decay}": [(step, fid)] for decay, fid in fids.items()})
            self.run.set_tags({"train.ema_published": best})
            print(
                f"train: FID of G's weight averages against the training images ({samples} samples): "
                + ", ".join(f"decay {decay} {fid:.3f}" for decay, fid in fids.items())
                + f"; publishing decay {best}"
            )

        return choose

    def summary(
        self, total_steps: int, images_per_step: int, seconds: float, average_fids: dict
    ) -> tuple[dict, dict]:
        """summary.json's numbers (the MLflow run's `train.<key>` metrics too), `seconds` being this segment's
        training time, and apart the weight averages' FIDs and choice (summary.json only: the MLflow run got
        them when they were measured). A run killed while writing its outputs writes the summary it meant to."""
        state = self.state
        summary = {
            "steps": total_steps,
            # the whole run: a resumed run's earlier segments too (as fid.csv's seconds count them)
            "train_seconds": round(self.seconds_before + seconds, 1),
            "steps_per_second": round((total_steps - state.start_step) / seconds, 2),  # this segment's
            "images_seen": total_steps * images_per_step,  # real images D was shown
            "fid_seconds": round(self.fid_seconds, 1),
            "resumed_from_step": state.start_step,
        }
        averages = (
            {
                "ema_fid_train": {str(decay): round(fid, 4) for decay, fid in average_fids.items()},
                "ema_published": min(average_fids, key=average_fids.get),
            }
            if average_fids
            else {}
        )
        if "summary" in state.outcome and state.start_step == total_steps:  # killed while writing the outputs
            summary = state.outcome["summary"]
        return summary, averages
