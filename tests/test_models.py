import keras
import numpy as np
import pytest

from fashiongan import models
from fashiongan.config import ModelConfig


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
    assert models.Generator(gan.generator).conditional == conditional


def test_mlp_is_the_tutorial_architecture():
    g = models.build_generator(ModelConfig("mlp", 100, False, False, 0))
    dense = [layer.units for layer in g.layers if layer.__class__.__name__ == "Dense"]
    assert dense == [256, 512, 1024, 784]
    assert [layer.momentum for layer in g.layers if layer.__class__.__name__ == "BatchNormalization"] == [0.8] * 3
    d = models.build_discriminator(ModelConfig("mlp", 100, False, False, 0))
    assert [layer.units for layer in d.layers if layer.__class__.__name__ == "Dense"] == [512, 256, 1]
    assert g.count_params() == 1_493_520


def test_conditional_generator_uses_the_label():
    gan = models.build_gan(ModelConfig("mlp", 8, True, False, 0))
    z = np.zeros((2, 8), np.float32)
    a = np.asarray(gan.generate(z, np.array([0, 0], np.int32)))
    b = np.asarray(gan.generate(z, np.array([0, 7], np.int32)))
    np.testing.assert_allclose(a[0], b[0])
    assert not np.allclose(a[1], b[1])


def test_fixed_latents_are_fixed_and_balanced():
    z1, labels = models.fixed_latents(10, 100, seed=3)
    z2, _ = models.fixed_latents(10, 100, seed=3)
    np.testing.assert_array_equal(z1, z2)
    assert np.bincount(labels).tolist() == [10] * 10


def test_spectral_norm_keeps_every_weight_layer_of_d_at_unit_spectral_norm():
    import tensorflow as tf

    d = models.build_discriminator(ModelConfig("dcgan", 8, True, True, 0))
    wrapped = [layer for layer in d.layers if isinstance(layer, keras.layers.SpectralNormalization)]
    assert len(wrapped) == 3  # two convolutions and the logit
    d([tf.random.normal((4, 28, 28, 1)), tf.zeros((4,), tf.int32)], training=True)
    for _ in range(20):  # power iteration converges over calls, as over training steps
        d([tf.random.normal((4, 28, 28, 1)), tf.zeros((4,), tf.int32)], training=True)
    for layer in wrapped:
        kernel = layer.kernel.numpy().reshape(-1, layer.kernel.shape[-1])
        assert np.linalg.norm(kernel, 2) == pytest.approx(1.0, abs=0.05)


@pytest.mark.parametrize("conditional", [False, True])
def test_the_generator_interface_draws_in_batches_and_samples_class_ordered(conditional):
    generator = models.Generator(models.build_generator(ModelConfig("mlp", 12, conditional, False, 0)))
    assert generator.latent_dim == 12 and generator.conditional == conditional
    z, labels = models.fixed_latents(12, 30, seed=1)
    whole = generator.draw(z, labels)
    np.testing.assert_allclose(generator.draw(z, labels, batch=7), whole, atol=1e-6)  # batching changes nothing
    images, sampled_labels = generator.sample(30, seed=1)
    np.testing.assert_allclose(images, whole, atol=1e-6)
    # conditional: each class in turn; unconditional: no classes, one label for all (ignored)
    assert images.shape == (30, 28, 28, 1)
    assert sampled_labels.tolist() == ([i // 3 for i in range(30)] if conditional else [0] * 30)
    assert generator.classes == (10 if conditional else 0)
    two = models.Generator(models.build_generator(ModelConfig("mlp", 12, True, False, 0), classes=2))
    assert two.classes == 2 and two.sample(6, seed=1)[1].tolist() == [0, 0, 0, 1, 1, 1]
