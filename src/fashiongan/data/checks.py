"""Params against data.source's files: what params.yaml asks of the data (image counts, class count),
read from the IDX headers alone. It runs with every command that loads params with the data
(params.parse's check_data), validate's among them, which stops `dvc repro` before any stage runs."""

from __future__ import annotations

from ..config import FASHION_MNIST, Config
from ..errors import ConfigError
from .sources import CLASS_NAMES, source_problem, source_sizes


def check_params(cfg: Config) -> None:
    """Params against data.source's files (a Config): that it names an IDX directory, and its image
    counts (from the headers). Not the schema's: it is about the data, and the commands that read none
    skip it (params.parse's check_data)."""
    if problem := source_problem(cfg.data.source):  # a typo'd path is a bad param; a broken file, bad data
        raise ConfigError(f"data.source: {problem}")
    if cfg.data.source == FASHION_MNIST and len(cfg.data.class_names) != len(CLASS_NAMES):
        raise ConfigError(
            f"data.class_names: got {len(cfg.data.class_names)} names, expected "
            f"{len(CLASS_NAMES)} for data.source {FASHION_MNIST}"
        )
    train_images, test_images = source_sizes(cfg.data.source)
    used = min(train_images, cfg.data.train_limit or train_images)  # what train learns from
    if cfg.model.clusters == 1 or cfg.model.clusters > used:
        raise ConfigError(
            f"model.clusters: got {cfg.model.clusters}, expected 0 or 2 to {used} (the training images)"
        )
    if cfg.data.train_limit is not None and cfg.data.train_limit > train_images:
        raise ConfigError(
            f"data.train_limit: got {cfg.data.train_limit}, expected null or at most {train_images} "
            "(the training set)"
        )
    if used < cfg.train.batch_size * cfg.train.d_steps:
        raise ConfigError(
            f"train.batch_size: got {cfg.train.batch_size}, expected at most the {used} training images"
            + (f" / train.d_steps {cfg.train.d_steps}" if cfg.train.d_steps > 1 else "")
        )
    if cfg.evaluate.n > test_images:
        raise ConfigError(f"evaluate.n: got {cfg.evaluate.n}, expected at most {test_images} (the test set)")
    if cfg.inception.n > test_images:
        raise ConfigError(f"inception.n: got {cfg.inception.n}, expected at most {test_images} (the test set)")
    if cfg.train.fid_every and cfg.train.fid_samples > test_images:
        raise ConfigError(
            f"train.fid_samples: got {cfg.train.fid_samples}, expected at most {test_images} (the test set)"
        )
