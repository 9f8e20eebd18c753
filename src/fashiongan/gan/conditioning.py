"""What G and D are conditioned on while they train: the class labels (`model.conditional`),
k-means clusters of the training images (`model.clusters`, self-conditioning), or nothing.

Self-conditioning (Liu et al., "Diverse Image Generation via Self-Conditioned GANs", CVPR 2020)
gives an unconditional model the conditional recipe's help without any label: the clusters come
from the pixels alone (PCA, then k-means), never from the class labels, the evaluation
classifier or the test set. The trained G then draws clusters as often as they occur in the
training set (models.drawing_clusters), so from outside it is an unconditional generator.
"""

from __future__ import annotations

import numpy as np
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA

from ..config import ModelConfig
from .models import drawing_clusters

PCA_COMPONENTS = 50  # enough to keep the shape of a garment, few enough for k-means to be quick


def cluster_ids(images: np.ndarray, k: int, seed: int) -> np.ndarray:
    """k-means cluster (0..k-1) of each uint8 (N, 28, 28) image, on its pixels' leading principal components."""
    pixels = images.reshape(len(images), -1).astype(np.float32) / 255.0
    components = PCA(min(PCA_COMPONENTS, *pixels.shape), random_state=seed).fit_transform(pixels)
    return KMeans(k, n_init=3, random_state=seed).fit_predict(components).astype(np.int32)


def training_labels(cfg: ModelConfig, images: np.ndarray, class_labels: np.ndarray, seed: int) -> np.ndarray:
    """The label of each training image as G and D see it; unconditional models never read `class_labels`."""
    if cfg.conditional:
        return class_labels.astype(np.int32)
    if cfg.clusters:
        return cluster_ids(images, cfg.clusters, seed)
    return np.zeros(len(images), np.int32)


def published_generator(cfg: ModelConfig, generator, labels: np.ndarray):
    """What samples, FIDs and the saved model come from: `generator` itself, or for self-conditioning,
    `generator` drawing each cluster with its share of `labels`."""
    if not cfg.clusters:
        return generator
    return drawing_clusters(generator, np.bincount(labels, minlength=cfg.clusters))
