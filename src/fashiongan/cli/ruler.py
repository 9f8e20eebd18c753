"""`fashiongan ruler make|check`: a ruler and its card (evaluation/card.py, docs/ruler.md)."""

from __future__ import annotations

from ..runtime import quiet_tensorflow
from .common import PARAMS_HELP


def add_parser(subcommands) -> None:
    rul = subcommands.add_parser(
        "ruler",
        help="make a ruler (the feature network of every metric) or check one against its card",
        description=(
            "make OUT: train a ruler on data/prepared/ as params.yaml says (seed, classifier.*), save it "
            "without optimizer state to OUT (rulers/<name>.keras) and its card beside it (OUT with .json: "
            "sha256, how it was made, test accuracy, real-data FID floor and uniform-noise ceiling at "
            "evaluate.n). check [FILE]: measure FILE's card values again on this machine and compare them "
            "to 3 significant digits (default: the shipped Fashion-MNIST ruler). Both need `dvc repro "
            "prepare` first. See docs/ruler.md."
        ),
    )
    rul.add_argument("action", choices=["make", "check"])
    rul.add_argument(
        "file", nargs="?", help="the ruler file (make: required; check: default the shipped one)"
    )
    rul.add_argument("--params", default="params.yaml", help=PARAMS_HELP)
    rul.set_defaults(func=run)


def run(args) -> None:
    quiet_tensorflow()
    from ..evaluation.card import command

    command(args)
