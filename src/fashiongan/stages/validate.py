"""validate: check params.yaml, and a user's data.source directory, before any other stage runs.

DVC deletes a stage's outputs before running its command, so a bad value found by the stage
itself would already have cost the previous good outputs. Every stage depends on this one's
marker, whose content never changes: it re-runs whenever params.yaml (or data.source's files)
change, and a bad value or file stops `dvc repro` here (one line, non-zero exit) with every
other output untouched.
"""

from __future__ import annotations

from pathlib import Path

from ..config import Config
from ..data.sources import FASHION_MNIST, read_directory
from ..io import write_text
from ..paths import PARAMS_VALID


def run(cfg: Config) -> None:  # cli.main has validated cfg by the time this runs
    if cfg.data.source != FASHION_MNIST:  # Fashion-MNIST is verified by checksum in prepare
        read_directory(Path(cfg.data.source), len(cfg.data.class_names))
    write_text(PARAMS_VALID, "params.yaml is valid\n")
    print(f"validate: params.yaml is valid -> {PARAMS_VALID}")
