"""`fashiongan <stage>`: what dvc.yaml runs, one subcommand per module of fashiongan.stages."""

from __future__ import annotations

import importlib
from pathlib import Path

from ..errors import MissingInput
from ..params import load
from ..paths import PARAMS_VALID
from ..runtime import quiet_tensorflow
from .common import PARAMS_HELP

STAGES = {
    "validate": "check params.yaml before any stage runs (a bad value stops dvc repro with outputs intact)",
    "prepare": (
        "read and check data.source's IDX files (Fashion-MNIST: found and verified), write data/prepared/"
    ),
    "classifier": (
        "the ruler of every metric (shipped for Fashion-MNIST, else trained), cache real-data features"
    ),
    "reference": "score real training images against the test set: each metric's real-data reference",
    "train": "train the GAN (resumes from models/checkpoints when interrupted), log to MLflow",
    "sample": "generate sample.n images from a fixed seed and a 10x10 grid",
    "evaluate": "FID against the test set beside the real-data floor -> reports/metrics.json",
    "inception_reference": "opt-in (inception.n > 0): the test set's Inception features and real-data floor",
    "inception": "opt-in (inception.n > 0): the Inception FID and KID papers print -> reports/inception.json",
}
NO_TENSORFLOW = ("validate", "prepare")  # numpy only: importing TensorFlow would cost them seconds each
DVC_YAML = Path("dvc.yaml")


def add_parser(subcommands) -> None:
    for name, text in STAGES.items():
        stage = subcommands.add_parser(name, help=text, description=text)
        stage.add_argument("--params", default="params.yaml", help=PARAMS_HELP)
        stage.set_defaults(func=run)


def missing_input(stage: str) -> str | None:
    """The first of `stage`'s deps in dvc.yaml that another stage makes and that is not made yet, as a line
    saying how to make it; None when all are there, or when no dvc.yaml is here to say (a stage run in a
    directory of its own). validate's marker is not asked for: every stage checks params.yaml itself."""
    if not DVC_YAML.is_file():
        return None
    from ruamel.yaml import YAML

    stages = YAML(typ="safe", pure=True).load(DVC_YAML.read_text())["stages"]
    made_by = {
        next(iter(out)) if isinstance(out, dict) else out: name  # `- path` or `- path: {cache: false}`
        for name, spec in stages.items()
        for kind in ("outs", "metrics", "plots")
        for out in spec.get(kind) or []
    }
    for dep in stages.get(stage, {}).get("deps") or []:
        if dep in made_by and dep != str(PARAMS_VALID) and not Path(dep).exists():
            return (
                f"{dep}: missing; the {made_by[dep]} stage makes it: run `dvc repro {made_by[dep]}` first "
                "(or `dvc repro`: the whole pipeline)"
            )
    return None


def run(args) -> None:
    cfg = load(args.params)
    # before the stage runs: otherwise a FileNotFoundError's traceback, after some outputs are written
    missing = missing_input(args.command)
    if missing:
        raise MissingInput(missing)
    if args.command not in NO_TENSORFLOW:
        quiet_tensorflow()
    importlib.import_module(f"fashiongan.stages.{args.command}").run(cfg)
