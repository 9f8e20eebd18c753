"""Files: atomic writes (every output goes to a temporary file in its directory, then is renamed,
so a stage killed mid-write leaves the previous good output in place), safe model loading, and
the step logs that training appends to."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from .errors import ModelFileError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def file_digest(path: str | Path) -> str:
    """sha256 of a file's bytes, read in chunks."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


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
        raise ModelFileError(f"{path}: no such model file")
    try:
        return keras.models.load_model(path, safe_mode=True)
    except Exception as e:
        # Keras nests the root cause at the end of a long message
        reason = " ".join(str(e).split("Exception encountered:")[-1].split())[:300]
        raise ModelFileError(f"{path}: not a loadable Keras model ({type(e).__name__}: {reason})") from None


def save_model(model, path) -> None:
    with atomic_path(path) as tmp:
        model.save(tmp)


class StepLog:
    """A CSV of rows keyed by a leading `step` column, appended to as training goes; a resumed
    run drops the rows after its checkpoint and continues it."""

    def __init__(self, path: Path, columns):
        self.path, self.columns = Path(path), ["step", *columns]
        if not self.path.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(",".join(self.columns) + "\n")

    @classmethod
    def open(cls, path: Path) -> StepLog:
        """An existing log, its columns read from its header."""
        with Path(path).open() as f:
            return cls(path, next(csv.reader(f))[1:])

    def rows(self) -> list[list[str]]:
        with self.path.open() as f:
            return list(csv.reader(f))[1:]

    def series(self) -> dict[str, list[tuple[int, float]]]:
        """Each column as (step, value) pairs, as MLflow holds a metric's history."""
        return step_series(self.path.read_text())

    def keep_through(self, step: int) -> None:
        """Drop the rows after `step` (they are recomputed when training resumes from it)."""
        kept = [r for r in self.rows() if int(r[0]) <= step]
        with atomic_path(self.path) as tmp, tmp.open("w", newline="") as f:
            csv.writer(f).writerows([self.columns, *kept])

    def append(self, steps, values) -> None:
        with self.path.open("a", newline="") as f:
            csv.writer(f).writerows([[int(s), *(f"{v:.6g}" for v in row)] for s, row in zip(steps, values)])


def step_series(text: str) -> dict[str, list[tuple[int, float]]]:
    """The one reader of a step log's text (history.csv, fid.csv: a header, then a leading `step`
    column): each other column as (step, value) pairs, as MLflow holds a metric's history."""
    header, *rows = [row for row in csv.reader(text.splitlines()) if row]
    return {
        name: [(int(row[0]), float(row[j])) for row in rows] for j, name in enumerate(header[1:], start=1)
    }
