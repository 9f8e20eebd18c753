"""The IDX format of MNIST-like sets: a magic number naming the dimension count, then big-endian sizes."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
from ..errors import DataError


IDX_KINDS = {1: "labels", 3: "images"}  # by dimension count, the magic's last byte


def _idx_kind(ndim: int) -> str:
    return f"000008{ndim:02x} ({IDX_KINDS[ndim]}: {ndim} dimension{'s' * (ndim > 1)})"


def idx_dimensions(raw: bytes, source: str, labels: bool | None) -> int:
    """The dimension count of IDX bytes of unsigned bytes: 1 (labels) or 3 (images), the one
    `labels` asks for when given."""
    if len(raw) < 4:
        raise DataError(f"{source}: {len(raw)} bytes, too short for an IDX header")
    zero, dtype_code, ndim = raw[0] << 8 | raw[1], raw[2], raw[3]
    if zero != 0 or dtype_code != 0x08 or ndim not in IDX_KINDS:
        raise DataError(f"{source}: bad IDX magic {raw[:4].hex()}, expected 00000801 or 00000803")
    if labels is not None and ndim != (wanted := 1 if labels else 3):
        raise DataError(f"{source}: IDX magic {_idx_kind(ndim)}, expected {_idx_kind(wanted)}")
    return ndim


def parse_idx(raw: bytes, source: str = "<bytes>", labels: bool | None = None, classes: int = 10) -> np.ndarray:
    """Parse IDX bytes of unsigned bytes (magic 0x00000801 labels, 0x00000803 images): the kind
    `labels` names if given, else either; labels must be below `classes`."""
    ndim = idx_dimensions(raw, source, labels)
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
    if ndim == 1 and array.size and array.max() >= classes:
        raise DataError(f"{source}: label {int(array.max())} outside 0-{classes - 1} "
                        f"(data.class_names has {classes} names)")
    return array


def idx_head(path: Path, size: int) -> bytes:
    """The first `size` bytes of an IDX file (decompressed if .gz): only its start is read."""
    try:
        with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as f:
            return f.read(size)
    except (OSError, EOFError) as e:  # gzip.BadGzipFile is an OSError
        raise DataError(f"{path}: not readable ({e})") from None
