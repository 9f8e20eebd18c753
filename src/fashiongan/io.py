"""Atomic writes: every output goes to a temporary file in its directory, then is renamed, so a
stage killed mid-write leaves the previous good output in place."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str | None = None):
    """Yield a temporary path beside `path`; on success it replaces `path` in one rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix or path.suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it 0600; give it the mode open() would
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_json(path, obj) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def write_text(path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_npz(path, **arrays) -> None:
    with atomic_path(path) as tmp:
        np.savez_compressed(tmp, **arrays)


def load_model(path):
    """A .keras model, loaded with safe_mode (a Lambda layer carrying code is refused, not run);
    any failure is one line naming the file."""
    import keras

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such model file")
    try:
        return keras.models.load_model(path, safe_mode=True)
    except Exception as e:
        # Keras nests the root cause at the end of a long message
        reason = " ".join(str(e).split("Exception encountered:")[-1].split())[:300]
        raise ValueError(f"{path}: not a loadable Keras model ({type(e).__name__}: {reason})") from None


def save_model(model, path) -> None:
    with atomic_path(path) as tmp:
        model.save(tmp)
