"""`fashiongan generate`: images from a saved generator (file or MLflow URI) in one PNG grid; the same
images as the served model answers for the same class, count, seed and psi."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..data.images import to_uint8
from ..data.sources import CLASS_NAMES
from ..errors import ConfigError
from ..io import load_model

# A 50x50 grid (4350 px square at save_grid's scale) draws in about 3 s within 1.5 GB, as 1000 images do;
# matplotlib's canvas grows with the grid's area: 10,000 images took 3.4 GB, 100 million would not fit.
MAX_IMAGES = 2500


def _class_index(label: str, class_names) -> int:
    from ..tracking.pyfunc import class_index  # the served model's reading of a class, to the letter

    try:
        return class_index(label, class_names)
    except ValueError as e:
        raise ConfigError(f"--class: {e}") from None


def command(args) -> None:
    # imported here, not above: cli/generate.py reads MAX_IMAGES for every --help, which must not wait for TensorFlow,
    # matplotlib, pydantic or MLflow
    from ..gan.models import TrainedGenerator, class_labels, latents
    from ..params import load
    from ..plots import save_grid
    from ..tracking.model import generator_file

    if not 0 < args.n <= MAX_IMAGES:
        raise ConfigError(f"--n: got {args.n}, expected 1-{MAX_IMAGES} (one PNG grid of 28x28 tiles)")
    if not 0 < args.psi <= 1:
        raise ConfigError(f"--psi: got {args.psi}, expected a number in (0, 1] (1: no truncation)")
    generator = TrainedGenerator(load_model(generator_file(args.model)))
    if not generator.conditional and args.label is not None:
        raise ConfigError(f"--class: {args.model} is an unconditional generator; it takes no class")
    names = list(CLASS_NAMES)
    if Path(args.params).is_file():
        names = load(args.params, check_data=False).data.class_names
    if generator.conditional and len(names) != generator.classes:
        # a model of other data than params.yaml's: its classes by index
        names = [str(i) for i in range(generator.classes)]
    # the served model's {"n", "seed", "psi"} draw these latents too (tracking/pyfunc.py)
    z = generator.truncate(latents(generator.latent_dim, args.n, args.seed), args.psi)
    if args.label is not None:
        labels = np.full(args.n, _class_index(args.label, names), np.int32)
    else:  # every class in turn, in equal shares: a model file does not know its training set's shares
        labels = class_labels(args.n, np.ones(max(generator.classes, 1)))
    cols = math.ceil(math.sqrt(args.n))
    save_grid(args.out, to_uint8(generator.draw(z, labels)), math.ceil(args.n / cols), cols)
    print(f"generate: {args.n} images -> {args.out}")
