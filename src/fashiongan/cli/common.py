"""What several commands' arguments share: argparse types whose refusal is one line, and the store's
failures as one line."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..paths import GENERATOR

MODEL_HELP = (
    f"generator: a .keras file (default {GENERATOR}), runs:/<id>/generator or models:/<name>/<version>"
)
PARAMS_HELP = "params file (default: params.yaml)"

# The most runs one MLflow search returns (mlflow.store.tracking.SEARCH_MAX_RESULTS_THRESHOLD, not imported:
# --help must not wait for MLflow); it refuses to search for more
MAX_RUNS = 50_000
MAX_RUNS_WHY = " (the most runs one MLflow search returns)"


def int_in(low: int, high: int | None = None, why: str = ""):
    """An argparse type: an integer from `low` to `high` (None: no bound above)."""
    expected = f"an integer >= {low}" if high is None else f"an integer from {low} to {high}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"got {text}, expected {expected}{why}")
        return value

    return parse


def _file_above(path: Path) -> Path | None:
    """An existing file at `path` or among its parents: where no directory can be made."""
    return next((p for p in (path, *path.parents) if p.exists() and not p.is_dir()), None)


def output_directory(text: str) -> str:
    """An argparse type: a directory to write into, made if missing (so not below an existing file)."""
    taken = _file_above(Path(text))
    if taken:
        raise argparse.ArgumentTypeError(
            f"got {text}, but {taken} is a file; expected a directory (made if missing)"
        )
    return text


def output_png(text: str) -> str:
    """An argparse type: a PNG file to write, replaced if it exists (so not a directory)."""
    if Path(text).is_dir():
        raise argparse.ArgumentTypeError(f"got {text}, a directory; expected the path of a PNG file")
    taken = _file_above(Path(text).parent)
    if taken:
        raise argparse.ArgumentTypeError(f"got {text}, but {taken} is a file; expected a directory there")
    return text


def store_errors_in_one_line():
    """MLflow's failures to read the runs, an unreachable store first of all, as one line naming the store;
    importing tracking.store bounds MLflow's HTTP retries to seconds."""
    from ..tracking.outage import one_line_errors
    from ..tracking.store import tracking_uri

    return one_line_errors(tracking_uri())
