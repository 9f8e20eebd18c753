"""`fashiongan generate`: images from a saved generator (file or MLflow URI) in one PNG grid."""

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
    lowered = [name.lower() for name in class_names]
    # "t-shirt/top" may be typed t-shirt-top: a slash is awkward on a command line
    dashed = {name.replace("/", "-"): i for i, name in enumerate(lowered)}
    names = dashed | {name: i for i, name in enumerate(lowered)}
    key = label.strip().lower()
    if key.isdigit() and int(key) < len(class_names):
        return int(key)
    if key in names:
        return names[key]
    raise ConfigError(
        f"--class: got {label!r}, expected 0-{len(class_names) - 1} or one of: {', '.join(class_names)}"
    )


def command(args) -> None:
    # imported here, not above: cli.py reads MAX_IMAGES for every --help, which must not wait for TensorFlow,
    # matplotlib, pydantic or MLflow
    from ..gan.models import TrainedGenerator, latents
    from ..params import load
    from ..plots import save_grid
    from ..tracking.model import generator_file

    if not 0 < args.n <= MAX_IMAGES:
        raise ConfigError(f"--n: got {args.n}, expected 1-{MAX_IMAGES} (one PNG grid of 28x28 tiles)")
    generator = TrainedGenerator(load_model(generator_file(args.model)))
    if not generator.conditional and args.label is not None:
        raise ConfigError(f"--class: {args.model} is an unconditional generator; it takes no class")
    names = list(CLASS_NAMES)
    if Path(args.params).is_file():
        names = load(args.params, check_data=False).data.class_names
    if generator.conditional and len(names) != generator.classes:
        # a model of other data than params.yaml's: its classes by index
        names = [str(i) for i in range(generator.classes)]
    z = latents(generator.latent_dim, args.n, args.seed)
    labels = np.full(args.n, _class_index(args.label, names) if args.label else 0, np.int32)
    cols = math.ceil(math.sqrt(args.n))
    save_grid(args.out, to_uint8(generator.draw(z, labels)), math.ceil(args.n / cols), cols)
    print(f"generate: {args.n} images -> {args.out}")
