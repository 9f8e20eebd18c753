"""Fashion-MNIST: where the files are, that they are the real ones, and how to read them.

Checksums are of the *decompressed* IDX bytes: distributors (Debian among them) recompress
the .gz files, so the compressed bytes differ from upstream while the contents do not.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import DataError

CLASS_NAMES = (
    "t-shirt/top", "trouser", "pullover", "dress", "coat",
    "sandal", "shirt", "sneaker", "bag", "ankle boot",
)
MIRROR = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
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


def parse_idx(raw: bytes, source: str = "<bytes>", labels: bool | None = None) -> np.ndarray:
    """Parse IDX bytes of unsigned bytes (magic 0x00000801 labels, 0x00000803 images)."""
    if len(raw) < 4:
        raise DataError(f"{source}: {len(raw)} bytes, too short for an IDX header")
    zero, dtype_code, ndim = raw[0] << 8 | raw[1], raw[2], raw[3]
    if zero != 0 or dtype_code != 0x08 or ndim not in (1, 3):
        raise DataError(f"{source}: bad IDX magic {raw[:4].hex()}, expected 00000801 or 00000803")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{source}: truncated IDX header")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    if ndim == 3 and shape[1:] != (28, 28):
        raise DataError(f"{source}: image dimensions {shape[1]}x{shape[2]}, expected 28x28")
    expected = int(np.prod(shape)) + header
    if len(raw) != expected:
        raise DataError(f"{source}: {len(raw)} bytes, expected {expected} for shape {shape}")
    array = np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)
    if labels if labels is not None else ndim == 1:
        if ndim != 1:
            raise DataError(f"{source}: expected a 1-d label file, got shape {shape}")
        if array.size and array.max() > 9:
            raise DataError(f"{source}: label {int(array.max())} outside 0-9")
    return array


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


def download(raw_dir: Path) -> Path:
    """Download the four files from the official mirror into raw_dir (each via a temporary name)."""
    raw_dir.mkdir(parents=True, exist_ok=True)
    for f in FILES.values():
        target = raw_dir / f.name
        tmp = target.with_name(target.name + ".part")
        try:
            urllib.request.urlretrieve(MIRROR + f.name, tmp)
        except OSError as e:
            tmp.unlink(missing_ok=True)
            raise DataError(
                f"{target}: not found locally (looked in {raw_dir}, $FASHION_MNIST_DIR, {DEBIAN_DIR}) "
                f"and download from {MIRROR} failed ({e}); install the Debian package dataset-fashion-mnist"
            ) from None
        os.replace(tmp, target)
    return raw_dir


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


def to_unit_range(images) -> np.ndarray:
    """uint8 (N, 28, 28) -> float32 (N, 28, 28, 1) in [-1, 1], the generator's output range."""
    return (np.asarray(images, np.float32)[..., None] / 127.5) - 1.0


def to_uint8(images) -> np.ndarray:
    """Generator output in [-1, 1] (N, 28, 28, 1) -> uint8 (N, 28, 28)."""
    images = np.asarray(images).reshape(-1, 28, 28)
    return np.clip(np.rint((images + 1.0) * 127.5), 0, 255).astype(np.uint8)
