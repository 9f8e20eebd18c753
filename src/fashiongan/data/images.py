"""Images as the pipeline holds them: uint8 on disk, float32 in [-1, 1] in the models; subsets by class."""

from __future__ import annotations

import numpy as np


def class_balanced(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Indices of n of the labelled images (all of them, in order, if n is their count) holding
    each class in its share: a seeded stratified draw, so that a subset of a set stored class by
    class still holds every class (the first n would hold the first classes only). Each class
    gets its share of n rounded by largest remainder (scikit-learn's stratified split refuses
    an n that leaves fewer images than classes)."""
    if n >= len(labels):
        return np.arange(len(labels))
    classes, counts = np.unique(labels, return_counts=True)
    quotas = counts * n / len(labels)
    taken = np.floor(quotas).astype(int)
    taken[np.argsort(taken - quotas, kind="stable")[:n - taken.sum()]] += 1
    rng = np.random.default_rng(seed)
    return np.sort(np.concatenate([rng.choice(np.flatnonzero(labels == c), k, replace=False)
                                   for c, k in zip(classes, taken)]))


def to_unit_range(images) -> np.ndarray:
    """uint8 (N, 28, 28) -> float32 (N, 28, 28, 1) in [-1, 1], the generator's output range."""
    return (np.asarray(images, np.float32)[..., None] / 127.5) - 1.0


def to_uint8(images) -> np.ndarray:
    """Generator output in [-1, 1] (N, 28, 28, 1) -> uint8 (N, 28, 28)."""
    images = np.asarray(images).reshape(-1, 28, 28)
    return np.clip(np.rint((images + 1.0) * 127.5), 0, 255).astype(np.uint8)
