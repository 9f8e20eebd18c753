"""`fashiongan explore`: figures of what a generator learned (use/explore.py)."""

from __future__ import annotations

from ..paths import GENERATOR
from ..runtime import quiet_tensorflow
from .common import MODEL_HELP, int_in, output_directory


def add_parser(subcommands) -> None:
    exp = subcommands.add_parser(
        "explore",
        help="figures of what a generator learned: interpolations, class morph, truncation trade-off",
        description=(
            "Write into --out: interpolation.png (rows of spherical interpolations between random "
            "latents) and interpolation.gif (the same, animated); class_morph.png (conditional "
            "generators: one latent, the class embedding moved from each class to the next); "
            "truncation.png and truncation.json (grids at truncation psi 1.0 / 0.7 / 0.5 with the FID "
            "and recall of each on 2000 samples, in the pipeline classifier's feature space)."
        ),
    )
    exp.add_argument("--model", default=str(GENERATOR), help=MODEL_HELP)
    exp.add_argument(
        "--out", type=output_directory, default="explore", help="output directory (default explore)"
    )
    exp.add_argument("--seed", type=int_in(0), default=0, help="latent seed (default 0)")
    exp.set_defaults(func=run)


def run(args) -> None:
    quiet_tensorflow()
    from ..use.explore import command

    command(args)
