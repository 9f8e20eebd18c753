"""`fashiongan fid A B`: FID and KID between two sets of images, on the project's ruler or the Inception one,
so a user can score another project's samples exactly as this pipeline scores its own.

A set is a `.npz` file (its `images` array, as the sample stage writes it, or `FILE.npz:ARRAY` for
another array: `data/prepared/fashion_mnist.npz:test_images`) or a folder of PNG / JPEG files
(searched recursively, in name order), each image uint8 of one size.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
RULERS = ("fashion-mnist", "inception")


def read_folder(folder: Path) -> np.ndarray:
    """Every PNG / JPEG below `folder` in name order, as uint8 (N, H, W, 3)."""
    from PIL import Image

    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise DataError(f"{folder}: no {', '.join(IMAGE_SUFFIXES)} images in it")
    images = []
    for path in files:
        try:
            with Image.open(path) as image:
                images.append(np.asarray(image.convert("RGB")))
        except (OSError, ValueError) as e:
            raise DataError(f"{path}: not a readable image ({e})") from None
        if images[-1].shape != images[0].shape:
            raise DataError(
                f"{path}: {images[-1].shape[1]}x{images[-1].shape[0]} pixels, expected "
                f"{images[0].shape[1]}x{images[0].shape[0]} as {files[0]}"
            )
    return np.stack(images)


def read_set(text: str) -> np.ndarray:
    """The images a set argument names (module docstring), uint8."""
    path, _, array = text.partition(".npz:")
    path = Path(path + ".npz" if array else text)
    if path.is_dir():
        return read_folder(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file or folder (expected FILE.npz, FILE.npz:ARRAY or a folder)")
    try:
        with np.load(path) as held:
            key = array or "images"
            if key not in held:
                raise DataError(f"{path}: holds no array {key!r} (it holds {', '.join(held.files)})")
            images = held[key]
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: not a readable .npz file ({e})") from None
    if images.dtype != np.uint8 or images.ndim not in (3, 4):
        raise DataError(f"{text}: {images.dtype} array of shape {images.shape}, expected uint8 images")
    return images


def as_grey_28(images: np.ndarray, name: str) -> np.ndarray:
    """uint8 (N, 28, 28) for the Fashion-MNIST ruler: grey images (equal channels) of 28 x 28 only."""
    if images.ndim == 4:
        if images.shape[-1] == 3 and not (images == images[..., :1]).all():
            raise DataError(
                f"{name}: colour images; the fashion-mnist ruler takes grey ones (try --ruler inception)"
            )
        images = images[..., 0]
    if images.shape[1:] != (28, 28):
        raise DataError(
            f"{name}: {images.shape[2]}x{images.shape[1]} images, the fashion-mnist ruler takes 28x28"
        )
    return images


def command(args) -> None:
    from ..evaluation import metrics

    sets = [read_set(args.a)[: args.n], read_set(args.b)[: args.n]]
    for text, images in zip((args.a, args.b), sets):
        if len(images) < 2:
            raise DataError(f"{text}: {len(images)} image(s), expected at least 2")
    if args.ruler == "inception":
        from ..evaluation import inception

        extract, name = inception.InceptionFeatures(), f"{inception.RULER} (resize {inception.RESIZE})"
    else:
        from ..evaluation import ruler
        from ..evaluation.features import FeatureExtractor
        from ..io import load_model

        path = ruler.SHIPPED[ruler.FASHION_MNIST]
        extract, name = FeatureExtractor(load_model(path)).features, f"fashion-mnist {ruler.ruler_id(path)}"
        sets = [as_grey_28(images, text) for text, images in zip((args.a, args.b), sets)]
    a, b = (extract(images) for images in sets)
    kid, kid_std = metrics.kernel_inception_distance(a, b)
    print(
        f"FID {metrics.fid(a, b):.3f}, KID {kid:.5f} ± {kid_std:.5f}: {len(a)} images of {args.a} against "
        f"{len(b)} of {args.b}, ruler {name}"
    )
