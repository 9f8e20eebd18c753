"""sample: sample.n images from a fixed latent seed -> data/samples/samples.npz and a 10x10 grid.

A conditional generator's classes are drawn by their share of the training set (what a generator
that learned the data produces), ordered so that any first k samples hold that mix. The file names
the generator file (its sha256) and the latent seed it was drawn with: evaluate scores only samples
of the generator it records them for."""

from __future__ import annotations

import numpy as np

from .. import runtime
from ..config import Config
from ..data.images import to_uint8
from ..gan.models import TrainedGenerator, class_shares, grid_latents
from ..io import file_digest, load_model, write_npz
from ..paths import GENERATOR, GRID, PREPARED, SAMPLES
from ..plots import save_grid


def run(cfg: Config) -> None:
    runtime.configure(cfg.seed, cfg.runtime)
    generator = TrainedGenerator(load_model(GENERATOR))
    shares = (
        class_shares(np.load(PREPARED)["train_labels"], generator.classes) if generator.conditional else None
    )
    images, labels = generator.sample(cfg.sample.n, cfg.sample.seed, shares)
    images = to_uint8(images)
    write_npz(
        SAMPLES,
        images=images,
        labels=labels,
        conditional=generator.conditional,
        generator_sha256=file_digest(GENERATOR),
        seed=cfg.sample.seed,
    )
    if generator.conditional:  # one row per class (the first 10 classes)
        rows = min(generator.classes, 10)
        save_grid(
            GRID,
            to_uint8(
                generator.draw(
                    *grid_latents(generator.latent_dim, rows, 10, cfg.sample.seed, generator.classes)
                )
            ),
            rows,
            10,
            row_labels=cfg.data.class_names[:rows],
        )
    else:
        save_grid(GRID, images[:100], 10, 10)
    print(f"sample: {len(images)} images -> {SAMPLES}, grid -> {GRID}")
