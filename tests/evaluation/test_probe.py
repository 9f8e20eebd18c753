"""probe.py: the training-time FID, in the classifier's feature space, measured as evaluate measures."""

import keras
import numpy as np
import pytest

from fashiongan.config import ModelConfig
from fashiongan.data.images import to_uint8
from fashiongan.errors import Diverged
from fashiongan.evaluation import features, metrics
from fashiongan.evaluation.probe import FidProbe
from fashiongan.gan import models


def test_the_probe_scores_a_generator_as_fid_of_its_fixed_draw_rounded_as_saved():
    classifier = features.build_classifier()
    real = np.random.default_rng(0).integers(0, 256, (200, 28, 28), dtype=np.uint8)
    real_features = features.FeatureExtractor(classifier).features(real)
    generator = models.build_generator(
        ModelConfig(arch="mlp", latent_dim=8, conditional=True, spectral_norm=False, clusters=0)
    )
    probe = FidProbe(classifier, real_features, latent_dim=8, n=100, seed=5, shares=np.ones(10))
    value = probe(generator)
    z, labels = models.latents(8, 100, 5), models.class_labels(100, np.ones(10))
    images = to_uint8(
        models.TrainedGenerator(generator).draw(z, labels)
    )  # evaluate scores the saved uint8 samples
    fake_features = features.FeatureExtractor(classifier).features(images)
    assert value == metrics.fid(fake_features, real_features) and value > 0
    assert probe(generator) == value  # the same draw every time


def copying_generator(templates: np.ndarray) -> keras.Model:
    """A conditional generator whose images of class c are template c plus noise from z: real data
    of any class mix can be drawn from it, so drawn with the data's class mix it is a perfect model."""
    z, label = keras.Input((8,)), keras.Input((), dtype="int32")
    template = keras.layers.Embedding(len(templates), 784, weights=[templates], trainable=False)(label)
    noise = keras.layers.Dense(784, kernel_initializer=keras.initializers.RandomNormal(stddev=0.3, seed=1))(z)
    image = keras.layers.Activation("tanh")(keras.layers.Add()([template, noise]))
    return keras.Model([z, label], keras.layers.Reshape((28, 28, 1))(image))


def test_on_imbalanced_data_a_generator_that_copies_the_data_scores_near_the_floor():
    """90% of the data is class 0: a generator drawn by the training set's class shares is scored as
    the real data is; drawn by equal shares the same generator would look far worse."""
    rng = np.random.default_rng(0)
    templates = np.stack(
        [np.where(np.arange(784) < 392, 1.5, -1.5), np.where(np.arange(784) % 28 < 14, 1.5, -1.5)]
    )
    g = models.TrainedGenerator(copying_generator(templates.astype(np.float32)))
    shares = np.array([0.9, 0.1])

    def real(n, seed):
        labels = rng.permutation(models.class_labels(n, shares))
        return to_uint8(g.draw(models.latents(8, n, seed), labels.astype(np.int32)))

    classifier = features.build_classifier(2)
    extractor = features.FeatureExtractor(classifier)
    test_features, train_features = extractor.features(real(1000, 10)), extractor.features(real(1000, 11))
    floor = metrics.fid(train_features, test_features)
    by_share = FidProbe(classifier, test_features, 8, 1000, seed=12, shares=shares)(g.model)
    by_equal_share = FidProbe(classifier, test_features, 8, 1000, seed=12, shares=np.ones(2))(g.model)
    assert by_share < 2 * floor + 1e-3, (by_share, floor)
    assert by_equal_share > 10 * by_share, (by_equal_share, by_share)


def test_a_generator_with_non_finite_output_is_divergence_not_a_number():
    classifier = features.build_classifier()
    real_features = features.FeatureExtractor(classifier).features(np.zeros((50, 28, 28), np.uint8))
    generator = models.build_generator(
        ModelConfig(arch="mlp", latent_dim=8, conditional=False, spectral_norm=False, clusters=0)
    )
    generator.layers[1].kernel.assign(np.full(generator.layers[1].kernel.shape, np.nan, np.float32))
    with pytest.raises(Diverged, match="not finite"):
        FidProbe(classifier, real_features, 8, 50, seed=1, shares=[1.0])(generator)
