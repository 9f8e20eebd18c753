"""A small labelled 28x28 grey set drawn by code, written as the four IDX files of a data.source
directory: squares (label 0) and circles (label 1) of random size, position and brightness."""

import gzip
import struct
from pathlib import Path

import numpy as np

CLASS_NAMES = ["square", "circle"]
NAMES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def idx_bytes(array: np.ndarray) -> bytes:
    magic = bytes([0, 0, 0x08, array.ndim])
    return magic + b"".join(struct.pack(">I", d) for d in array.shape) + array.astype(np.uint8).tobytes()


def draw(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n).astype(np.uint8)
    rows, cols = np.mgrid[:28, :28]
    images = np.zeros((n, 28, 28), np.uint8)
    for image, label in zip(images, labels):
        radius, (cy, cx) = rng.uniform(6, 10), rng.uniform(11, 17, 2)
        inside = (
            np.hypot(rows - cy, cols - cx) <= radius
            if label
            else (np.abs(rows - cy) <= radius * 0.8) & (np.abs(cols - cx) <= radius * 0.8)
        )
        image[inside] = rng.integers(150, 256)
    return images, labels


def write_shapes(directory: Path, train: int = 1200, test: int = 400, gz: bool = False) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (train_images, train_labels), (test_images, test_labels) = draw(train, 1), draw(test, 2)
    arrays = {
        "train_images": train_images,
        "train_labels": train_labels,
        "test_images": test_images,
        "test_labels": test_labels,
    }
    for key, name in NAMES.items():
        raw = idx_bytes(arrays[key])
        (directory / (name + ".gz" if gz else name)).write_bytes(gzip.compress(raw) if gz else raw)
    return directory
