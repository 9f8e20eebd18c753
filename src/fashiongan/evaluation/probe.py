"""The FID of a generator while it trains: a fixed latent draw scored against real images in the
classifier's feature space, measured as evaluate measures the final samples (classes drawn by the
training set's shares, images rounded to uint8 as they are saved). Against the test set it is
fid.csv's metric, the one metrics.json holds; against the training set it chooses among G's weight
averages at the end of a run, so that the choice never sees the images evaluate scores with."""

from __future__ import annotations

import keras
import numpy as np

from ..config import Config
from ..data.images import to_uint8
from ..errors import Diverged
from ..gan.models import TrainedGenerator, class_labels, class_shares, latents
from ..io import load_model
from ..paths import CLASSIFIER, REAL_FEATURES
from . import metrics
from .features import FeatureExtractor


class FidProbe:
    def __init__(
        self, classifier: keras.Model, real_features: np.ndarray, latent_dim: int, n: int, seed: int, shares
    ):
        self.extractor = FeatureExtractor(classifier)
        self.real_statistics = metrics.feature_statistics(real_features)
        self.z, self.labels = latents(latent_dim, n, seed), class_labels(n, shares)

    def __call__(self, generator: keras.Model) -> float:
        images = TrainedGenerator(generator).draw(self.z, self.labels)
        if not np.isfinite(images).all():  # rounding to uint8 would hide it
            raise Diverged("the generator's output is not finite")
        features = self.extractor.features(to_uint8(images))
        return metrics.frechet_distance(*metrics.feature_statistics(features), *self.real_statistics)


def training_probe(
    cfg: Config, labels: np.ndarray, classes: int, real: str = "test", offset: int = 1
) -> FidProbe:
    """train's probe against the `real` images' features ("test": fid.csv's; "train": the choice among
    weight averages), its latents seeded `offset` past the run's seed so that the two never share a draw.
    train builds it after the MLflow run opens, so that a missing classifier ends that run as FAILED
    rather than leaving no trace of the attempt."""
    shares = class_shares(labels, classes) if cfg.model.conditional else [1.0]
    return FidProbe(
        load_model(CLASSIFIER),
        np.load(REAL_FEATURES)[f"{real}_features"],
        cfg.model.latent_dim,
        cfg.train.fid_samples,
        cfg.seed + offset,
        shares,
    )
