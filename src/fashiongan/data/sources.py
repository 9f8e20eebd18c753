"""The training data: Fashion-MNIST (found and verified), or a directory of the four IDX files of
any 28x28 grey labelled set (MNIST, KMNIST, ...), checked for structure and recorded by sha256.

Fashion-MNIST's checksums are of the *decompressed* IDX bytes: distributors (Debian among them)
recompress the .gz files, so the compressed bytes differ from upstream while the contents do not.
A user's directory has no checksum this project could know: it is checked for IDX structure,
sizes and label range, and the sha256 of each file as found is recorded (reports/data.json).
"""

from __future__ import annotations

import gzip
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ..config import FASHION_MNIST
from ..errors import DataError
from .idx import idx_dimensions, idx_head, parse_idx


HOME = "https://github.com/zalandoresearch/fashion-mnist"  # where the set is published (download.py: mirrors)


CLASS_NAMES = (
    "t-shirt/top", "trouser", "pullover", "dress", "coat",
    "sandal", "shirt", "sneaker", "bag", "ankle boot",
)


DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")


@dataclass(frozen=True)
class IdxFile:
    name: str
    sha256: str  # of the decompressed bytes
    shape: tuple[int, ...]  # expected (count, rows, cols) or (count,)


FILES = {
    "train_images": IdxFile("train-images-idx3-ubyte.gz",
                            "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888", (60000, 28, 28)),
    "train_labels": IdxFile("train-labels-idx1-ubyte.gz",
                            "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9", (60000,)),
    "test_images": IdxFile("t10k-images-idx3-ubyte.gz",
                           "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b", (10000, 28, 28)),
    "test_labels": IdxFile("t10k-labels-idx1-ubyte.gz",
                           "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34", (10000,)),
}


def read_verified(path: Path, expected: IdxFile) -> bytes:
    """Decompress `path` and check its sha256; raise DataError naming the file otherwise."""
    if not path.exists():
        raise DataError(f"{path}: missing")
    if not path.is_file():
        raise DataError(f"{path}: not a regular file")
    try:
        raw = gzip.decompress(path.read_bytes())
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise DataError(f"{path}: not a readable gzip file ({e})") from None
    digest = hashlib.sha256(raw).hexdigest()
    if digest != expected.sha256:
        raise DataError(f"{path}: sha256 of decompressed bytes is {digest}, expected {expected.sha256} (altered or truncated)")
    return raw


def _verified_dir(directory: Path) -> bool:
    try:
        for f in FILES.values():
            read_verified(directory / f.name, f)
    except DataError:
        return False
    return True


def locate(raw_dir: Path) -> Path | None:
    """The first source of the four files: raw_dir (only if verified), $FASHION_MNIST_DIR, Debian's.

    Only raw_dir is skipped when damaged (it is a cache); a damaged file in a source the user
    named is reported by load_arrays rather than silently passed over.
    """
    if _verified_dir(raw_dir):
        return raw_dir
    candidates = [Path(os.environ["FASHION_MNIST_DIR"])] if os.environ.get("FASHION_MNIST_DIR") else []
    candidates.append(DEBIAN_DIR)
    for directory in candidates:
        if all((directory / f.name).exists() for f in FILES.values()):
            return directory
    return None


def load_arrays(directory: Path) -> dict[str, np.ndarray]:
    """Verified, parsed arrays: train_images, train_labels, test_images, test_labels."""
    arrays = {}
    for key, f in FILES.items():
        path = directory / f.name
        array = parse_idx(read_verified(path, f), str(path), labels=key.endswith("labels"))
        if array.shape != f.shape:
            raise DataError(f"{path}: shape {array.shape}, expected {f.shape}")
        arrays[key] = array
    return arrays


def _idx_path(directory: Path, name: str) -> Path | None:
    return next((p for p in (directory / name, directory / f"{name}.gz") if p.is_file()), None)


def _idx_bytes(directory: Path, name: str) -> tuple[Path, bytes]:
    """The IDX file `name` (or `name`.gz) of a directory that source_problem passed, decompressed."""
    path = _idx_path(directory, name)
    try:
        raw = path.read_bytes()
        return path, gzip.decompress(raw) if path.suffix == ".gz" else raw
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise DataError(f"{path}: not readable ({e})") from None


USER_FILES = {key: f.name.removesuffix(".gz") for key, f in FILES.items()}  # MNIST's names, .gz optional


def source_problem(source: str) -> str | None:
    """Why data.source names no source (not a directory, or one without an IDX file); None if it does.
    What is wrong inside the files is read_directory's to say."""
    if source == FASHION_MNIST:
        return None
    directory, expected = Path(source), ", ".join(USER_FILES.values())
    if not directory.is_dir():
        return f"{directory}: not a directory (expected {FASHION_MNIST} or a directory holding {expected})"
    for name in USER_FILES.values():
        if _idx_path(directory, name) is None:
            return f"{directory / name}: missing (nor {name}.gz); a data.source directory holds {expected}"
    return None


def _check_directory(directory: Path) -> None:
    if problem := source_problem(str(directory)):
        raise DataError(problem)


def read_directory(directory: Path, classes: int) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """A user's four IDX files, checked: magic, 28x28 images, sizes, labels below `classes`, as
    many labels as images. Returns the arrays and {file name: sha256 of the file as found}."""
    _check_directory(directory)
    arrays, sha256s, paths = {}, {}, {}
    for key, name in USER_FILES.items():
        path, raw = _idx_bytes(directory, name)
        arrays[key] = parse_idx(raw, str(path), labels=key.endswith("labels"), classes=classes)
        sha256s[path.name], paths[key] = hashlib.sha256(path.read_bytes()).hexdigest(), path
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if len(images) != len(labels):
            raise DataError(f"{paths[f'{split}_labels']}: {len(labels)} labels for {len(images)} images in "
                            f"{paths[f'{split}_images'].name}")
        if not len(images):
            raise DataError(f"{paths[f'{split}_images']}: no images")
    return arrays, sha256s


def source_sizes(source: str) -> tuple[int, int]:
    """(training images, test images) of data.source, from the IDX headers alone."""
    if source == FASHION_MNIST:
        return FILES["train_images"].shape[0], FILES["test_images"].shape[0]
    _check_directory(Path(source))
    counts = []
    for key in ("train_images", "test_images"):
        path = _idx_path(Path(source), USER_FILES[key])
        head = idx_head(path, 8)  # magic and image count
        idx_dimensions(head, str(path), labels=False)
        if len(head) < 8:
            raise DataError(f"{path}: truncated IDX header")
        counts.append(int.from_bytes(head[4:8], "big"))
    return counts[0], counts[1]
