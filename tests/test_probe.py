"""probe.py: the training-time FID, in the classifier's feature space."""

import numpy as np

from fashiongan import features, metrics, models
from fashiongan.config import ModelConfig
from fashiongan.probe import FidProbe


def test_the_probe_scores_a_generator_as_fid_of_its_fixed_draw():
    classifier = features.build_classifier()
    real = np.random.default_rng(0).integers(0, 256, (200, 28, 28), dtype=np.uint8)
    real_features = features.FeatureExtractor(classifier).features(real)
    generator = models.build_generator(ModelConfig("mlp", 8, True, False, 0))
    probe = FidProbe(classifier, real_features, latent_dim=8, n=100, seed=5)
    value = probe(generator)
    z, labels = models.fixed_latents(8, 100, 5)
    fake_features = features.FeatureExtractor(classifier).features(models.Generator(generator).draw(z, labels))
    assert value == metrics.fid(fake_features, real_features) and value > 0
    assert probe(generator) == value  # the same draw every time
