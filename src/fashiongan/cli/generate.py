"""`fashiongan generate`: images from a saved generator into a PNG grid (use/generate.py)."""

from __future__ import annotations

from ..paths import GENERATOR
from ..runtime import quiet_tensorflow
from ..use.generate import MAX_IMAGES
from .common import MODEL_HELP, int_in, output_png


def add_parser(subcommands) -> None:
    gen = subcommands.add_parser(
        "generate",
        help="draw images from a saved generator into a PNG grid",
        description="Draw images from a saved generator into a PNG grid.",
    )
    gen.add_argument("--model", default=str(GENERATOR), help=MODEL_HELP)
    gen.add_argument(
        "--class",
        dest="label",
        help="class name (e.g. sneaker, from data.class_names) or index; conditional models (without it, "
        "every class in turn, in equal shares: a model file does not know its training set's shares)",
    )
    gen.add_argument(
        "--params", default="params.yaml", help="params file naming the classes (default: params.yaml)"
    )
    gen.add_argument("--n", type=int, default=16, help=f"number of images (default 16, at most {MAX_IMAGES})")
    gen.add_argument("--seed", type=int_in(0), default=0, help="latent seed (default 0)")
    gen.add_argument(
        "--psi", type=float, default=1.0, help="truncation in (0, 1]: z scaled by psi (default 1: none)"
    )
    gen.add_argument(
        "--out", type=output_png, default="generated.png", help="output PNG (default generated.png)"
    )
    gen.set_defaults(func=run)


def run(args) -> None:
    quiet_tensorflow()
    from ..use.generate import command

    command(args)
