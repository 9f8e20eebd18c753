"""inception_reference: the test side of the Inception FID and its real-data floor, once per inception.n.

The Inception features of inception.n test images (a DVC output: 10,000 of them take 14 minutes on 2
CPU cores, the expensive half of every Inception FID), and the same metrics for as many real training
images against them, the floor a perfect generator would score. Both draws are the images the
reference stage scores on the project's ruler. inception.n 0 (the default) writes that it is off.
"""

from __future__ import annotations

import time

import numpy as np
from tqdm import tqdm

from ..config import Config
from ..data.images import class_balanced
from ..evaluation import inception, metrics
from ..io import write_npz
from ..paths import INCEPTION_REFERENCE, PREPARED


def draws(prepared, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the n test and n training images: those of ruler.evaluation_draw and
    ruler.reference_draw (the reference pool is a class-balanced draw the size of the test set)."""
    test_labels, train_labels = prepared["test_labels"], prepared["train_labels"]
    pool = class_balanced(train_labels, len(test_labels), seed)
    return class_balanced(test_labels, n, seed), pool[class_balanced(train_labels[pool], n, seed)]


def run(cfg: Config) -> None:
    n = cfg.inception.n
    if n == 0:
        write_npz(INCEPTION_REFERENCE, n=0)
        print(f"inception_reference: off (inception.n is 0) -> {INCEPTION_REFERENCE}")
        return
    started = time.perf_counter()
    features = inception.InceptionFeatures()
    prepared = np.load(PREPARED)
    test, train = draws(prepared, n, cfg.seed)
    test_features = features(prepared["test_images"][test], lambda b: tqdm(b, desc="test images"))
    train_features = features(prepared["train_images"][train], lambda b: tqdm(b, desc="training images"))
    fid_real = metrics.fid(train_features, test_features)
    kid_real, kid_real_std = metrics.kernel_inception_distance(train_features, test_features)
    seconds = time.perf_counter() - started
    write_npz(
        INCEPTION_REFERENCE,
        n=n,
        ruler=inception.RULER,
        resize=inception.RESIZE,
        test_features=test_features,
        fid_real=fid_real,
        kid_real=kid_real,
        kid_real_std=kid_real_std,
        seconds=seconds,
    )
    print(
        f"inception_reference: real train vs test, n={n}, {inception.RULER}: FID {fid_real:.3f}, "
        f"KID {kid_real:.5f}, {seconds:.0f} s -> {INCEPTION_REFERENCE}"
    )
