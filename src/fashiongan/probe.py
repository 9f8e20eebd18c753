"""The FID of a generator while it trains: a fixed latent draw scored against the real test set in
the classifier's feature space, as evaluate scores the final samples."""

from __future__ import annotations

import keras
import numpy as np

from . import metrics
from .features import FeatureExtractor
from .models import Generator, fixed_latents


class FidProbe:
    def __init__(self, classifier: keras.Model, test_features: np.ndarray, latent_dim: int, n: int, seed: int,
                 classes: int = 10):
        self.extractor = FeatureExtractor(classifier)
        self.real_statistics = metrics.feature_statistics(test_features)
        self.z, self.labels = fixed_latents(latent_dim, n, seed, classes)

    def __call__(self, generator: keras.Model) -> float:
        features = self.extractor.features(Generator(generator).draw(self.z, self.labels))
        return metrics.frechet_distance(*metrics.feature_statistics(features), *self.real_statistics)
