"""sample: sample.n images from a fixed latent seed -> data/samples/samples.npz and a 10x10 grid."""

from __future__ import annotations

from pathlib import Path


from .. import runtime, tracking
from ..config import Config
from ..data import CLASS_NAMES, to_uint8
from ..io import load_model, write_npz
from ..models import fixed_latents, generate, is_conditional
from ..plots import save_grid
from .train import GENERATOR

SAMPLES = Path("data/samples/samples.npz")
GRID = Path("reports/samples/grid.png")


def run(cfg: Config) -> None:
    runtime.configure(cfg.seed, cfg.train.threads)
    generator = load_model(GENERATOR)
    conditional = is_conditional(generator)
    latent_dim = generator.inputs[0].shape[-1]
    z, labels = fixed_latents(latent_dim, cfg.sample.n, cfg.sample.seed)
    images = to_uint8(generate(generator, z, labels))
    write_npz(SAMPLES, images=images, labels=labels, conditional=conditional)

    if conditional:
        grid_z, grid_labels = fixed_latents(latent_dim, 100, cfg.sample.seed)
        grid = to_uint8(generate(generator, grid_z, grid_labels))
        save_grid(GRID, grid, 10, 10, row_labels=list(CLASS_NAMES))
    else:
        save_grid(GRID, images[:100], 10, 10)
    run = tracking.continue_run(cfg.tracking.enabled)
    run.log_artifact(GRID, "samples")
    print(f"sample: {len(images)} images -> {SAMPLES}, grid -> {GRID}")
