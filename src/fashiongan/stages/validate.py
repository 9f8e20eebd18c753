"""validate: check params.yaml before any other stage runs.

DVC deletes a stage's outputs before running its command, so a bad value found by the stage
itself would already have cost the previous good outputs. Every stage depends on this one's
marker, whose content never changes: it re-runs whenever params.yaml changes, and a bad value
stops `dvc repro` here (one line, exit 2) with every other output untouched.
"""

from __future__ import annotations

from ..config import Config
from ..io import write_text
from ..paths import PARAMS_VALID


def run(cfg: Config) -> None:  # cli.main has validated cfg by the time this runs
    write_text(PARAMS_VALID, "params.yaml is valid\n")
    print(f"validate: params.yaml is valid -> {PARAMS_VALID}")
