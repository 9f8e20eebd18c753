"""`fashiongan fid A B`: FID and KID of any two image sets, on either ruler (use/fid.py)."""

from __future__ import annotations

from ..use.fid import RULERS
from .common import int_in


def add_parser(subcommands) -> None:
    fid = subcommands.add_parser(
        "fid",
        help="FID and KID between two sets of images (.npz arrays or image folders), any ruler",
        description=(
            "FID and KID of set A against set B. A set is FILE.npz (its `images` array, as `fashiongan "
            "sample` writes it), FILE.npz:ARRAY (another array, e.g. data/prepared/fashion_mnist.npz:"
            "test_images) or a folder of PNG / JPEG images. --ruler fashion-mnist (the default) measures in "
            "the shipped Fashion-MNIST ruler's features (28 x 28 grey images only); --ruler inception in the "
            "2015-12-05 Inception graph's, the FID papers print (needs `make setup INCEPTION=1`; about 12 "
            "images/s on 2 CPU cores). See docs/ruler.md."
        ),
    )
    fid.add_argument("a", help="the set to score (e.g. data/samples/samples.npz or a folder)")
    fid.add_argument(
        "b", help="the set it is scored against (e.g. data/prepared/fashion_mnist.npz:test_images)"
    )
    fid.add_argument(
        "--ruler", choices=RULERS, default="fashion-mnist", help="feature network (default fashion-mnist)"
    )
    fid.add_argument(
        "--n", type=int_in(2), default=None, help="use the first N images of each set (default: all)"
    )
    fid.set_defaults(func=run)


def run(args) -> None:
    from ..use.fid import command

    command(args)
