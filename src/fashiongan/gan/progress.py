"""What training reports as it goes, at the steps `fit` calls it: per-step metrics (to the step
log and the MLflow run), sample grids (MLflow images), the training-time FID (fid.csv and MLflow)
and checkpoints.

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
from .trainer import METRIC_NAMES

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
