import keras
import numpy as np
import pytest

from fashiongan.config import ModelConfig
from fashiongan.gan import models


@pytest.mark.parametrize("arch", ["mlp", "dcgan"])
@pytest.mark.parametrize("conditional", [False, True])
def test_shapes_and_ranges(arch, conditional):
    cfg = ModelConfig(arch=arch, latent_dim=16, conditional=conditional, spectral_norm=False, clusters=0)
    gan = models.build_gan(cfg)
    z = np.random.default_rng(0).standard_normal((5, 16)).astype(np.float32)
    labels = np.arange(5, dtype=np.int32)
    images = np.asarray(gan.generate(z, labels))
    assert images.shape == (5, 28, 28, 1)
    assert images.min() >= -1.0 and images.max() <= 1.0
    logits = np.asarray(gan.criticize(images, labels))
    assert logits.shape == (5, 1) and np.isfinite(logits).all()
    assert models.TrainedGenerator(gan.generator).conditional == conditional


def test_mlp_is_the_tutorial_architecture():
    g = models.build_generator(
        ModelConfig(arch="mlp", latent_dim=100, conditional=False, spectral_norm=False, clusters=0)
    )
    dense = [layer.units for layer in g.layers if layer.__class__.__name__ == "Dense"]
    assert dense == [256, 512, 1024, 784]
    assert [layer.momentum for layer in g.layers if layer.__class__.__name__ == "BatchNormalization"] == [
        0.8
    ] * 3
    d = models.build_discriminator(
        ModelConfig(arch="mlp", latent_dim=100, conditional=False, spectral_norm=False, clusters=0)
    )
    assert [layer.units for layer in d.layers if layer.__class__.__name__ == "Dense"] == [512, 256, 1]
    assert g.count_params() == 1_493_520


def test_conditional_generator_uses_the_label():
    gan = models.build_gan(
        ModelConfig(arch="mlp", latent_dim=8, conditional=True, spectral_norm=False, clusters=0)
    )
    z = np.zeros((2, 8), np.float32)
    a = np.asarray(gan.generate(z, np.array([0, 0], np.int32)))
    b = np.asarray(gan.generate(z, np.array([0, 7], np.int32)))
    np.testing.assert_allclose(a[0], b[0])
    assert not np.allclose(a[1], b[1])


def test_latents_are_fixed_and_class_labels_hold_every_share_in_every_prefix():
    np.testing.assert_array_equal(models.latents(10, 100, seed=3), models.latents(10, 100, seed=3))
    shares = np.array([0.5, 0.3, 0.15, 0.05])
    labels = models.class_labels(1000, shares)
    for k in (1, 7, 20, 333, 1000):
        counts = np.bincount(labels[:k], minlength=4)
        assert np.abs(counts - k * shares).max() < 1, (k, counts)
    assert models.class_labels(20, np.ones(10)).tolist() == list(range(10)) * 2  # equal shares: round robin


def test_samples_hold_every_class_in_its_share_in_any_first_n():
    """evaluate scores samples[:evaluate.n]: with sample.n 10000 and evaluate.n 5000 that prefix must
    hold all classes, in the training set's shares, not classes 0-4."""
    generator = models.TrainedGenerator(
        models.build_generator(
            ModelConfig(arch="mlp", latent_dim=8, conditional=True, spectral_norm=False, clusters=0),
            classes=10,
        )
    )
    _, labels = generator.sample(1000, seed=1)
    assert np.bincount(labels[:500], minlength=10).tolist() == [50] * 10
    shares = models.class_shares(np.repeat(np.arange(10), [300] + [30] * 9), 10)
    _, labels = generator.sample(570, seed=1, shares=shares)
    assert np.bincount(labels[:285], minlength=10).tolist() == [150] + [15] * 9


def test_truncation_leaves_the_cluster_of_a_self_conditioned_generator_alone():
    """psi scales the latent noise only: the coordinate that picks the cluster keeps its value, so a
    truncated draw picks the same clusters (in their shares) as the untruncated one."""
    conditioned = models.build_generator(
        ModelConfig(arch="mlp", latent_dim=8, conditional=False, spectral_norm=False, clusters=4), classes=10
    )
    generator = models.TrainedGenerator(models.drawing_clusters(conditioned, [10, 20, 30, 40]))
    plain = models.TrainedGenerator(
        models.build_generator(
            ModelConfig(arch="mlp", latent_dim=8, conditional=False, spectral_norm=False, clusters=0)
        )
    )
    z = models.latents(8, 50, seed=2)
    assert generator.draws_clusters and not plain.draws_clusters
    truncated = generator.truncate(z, 0.5)
    np.testing.assert_array_equal(truncated[:, 0], z[:, 0])
    np.testing.assert_allclose(truncated[:, 1:], 0.5 * z[:, 1:])
    np.testing.assert_allclose(plain.truncate(z, 0.5), 0.5 * z)


def test_spectral_norm_keeps_every_weight_layer_of_d_at_unit_spectral_norm():
    import tensorflow as tf

    d = models.build_discriminator(
        ModelConfig(arch="dcgan", latent_dim=8, conditional=True, spectral_norm=True, clusters=0)
    )
    wrapped = [layer for layer in d.layers if isinstance(layer, keras.layers.SpectralNormalization)]
    assert len(wrapped) == 3  # two convolutions and the logit
    d([tf.random.normal((4, 28, 28, 1)), tf.zeros((4,), tf.int32)], training=True)
    for _ in range(20):  # power iteration converges over calls, as over training steps
        d([tf.random.normal((4, 28, 28, 1)), tf.zeros((4,), tf.int32)], training=True)
    for layer in wrapped:
        kernel = layer.kernel.numpy().reshape(-1, layer.kernel.shape[-1])
        assert np.linalg.norm(kernel, 2) == pytest.approx(1.0, abs=0.05)


@pytest.mark.parametrize("conditional", [False, True])
def test_the_generator_interface_draws_in_batches_and_samples_every_class(conditional):
    generator = models.TrainedGenerator(
        models.build_generator(
            ModelConfig(arch="mlp", latent_dim=12, conditional=conditional, spectral_norm=False, clusters=0)
        )
    )
    assert generator.latent_dim == 12 and generator.conditional == conditional
    z = models.latents(12, 30, seed=1)
    labels = models.class_labels(30, np.ones(10)) if conditional else np.zeros(30, np.int32)
    whole = generator.draw(z, labels)
    np.testing.assert_allclose(
        generator.draw(z, labels, batch=7), whole, atol=1e-6
    )  # batching changes nothing
    images, sampled_labels = generator.sample(30, seed=1)
    np.testing.assert_allclose(images, whole, atol=1e-6)
    # conditional: each class in turn; unconditional: no classes, one label for all (ignored)
    assert images.shape == (30, 28, 28, 1)
    assert sampled_labels.tolist() == ([i % 10 for i in range(30)] if conditional else [0] * 30)
    assert generator.classes == (10 if conditional else 0)
    two = models.TrainedGenerator(
        models.build_generator(
            ModelConfig(arch="mlp", latent_dim=12, conditional=True, spectral_norm=False, clusters=0),
            classes=2,
        )
    )
    assert two.classes == 2 and two.sample(6, seed=1)[1].tolist() == [0, 1, 0, 1, 0, 1]


def test_the_projection_discriminator_adds_the_dot_product_of_features_and_label_embedding():
    """Miyato & Koyama 2018: D(x, y) = psi(phi(x)) + <phi(x), E[y]>, so two labels' logits differ by
    <phi(x), E[a] - E[b]> exactly."""
    d = models.build_discriminator(
        ModelConfig(arch="dcgan", latent_dim=8, conditional=True, spectral_norm=False, clusters=0)
    )
    flatten = next(layer for layer in d.layers if isinstance(layer, keras.layers.Flatten))
    embedding = next(layer for layer in d.layers if isinstance(layer, keras.layers.Embedding))
    images = np.random.default_rng(1).standard_normal((4, 28, 28, 1)).astype(np.float32)
    features = np.asarray(keras.Model(d.inputs[0], flatten.output)(images))
    a, b = np.array([3, 3, 3, 3], np.int32), np.array([0, 1, 2, 9], np.int32)
    table = embedding.embeddings.numpy()
    expected = np.sum(features * (table[a] - table[b]), axis=1, keepdims=True)
    np.testing.assert_allclose(np.asarray(d([images, a])) - np.asarray(d([images, b])), expected, atol=1e-4)
