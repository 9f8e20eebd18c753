"""Self-conditioning: clusters from pixels alone, and a cluster-conditioned G that samples like an unconditional one."""

import keras
import numpy as np
import pytest
from scipy import stats

from fashiongan.config import ModelConfig
from fashiongan.gan import conditioning, models


def squares_and_rings(n, seed=0):
    """uint8 (n, 28, 28): even rows a filled square, odd rows a ring, each at a random offset."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:28, :28]
    images = np.zeros((n, 28, 28), np.uint8)
    for i in range(n):
        dy, dx = rng.integers(-3, 4, 2)
        if i % 2 == 0:
            images[i, 8 + dy : 20 + dy, 8 + dx : 20 + dx] = 255
        else:
            r = np.hypot(yy - 14 - dy, xx - 14 - dx)
            images[i, (r > 7) & (r < 10)] = 255
    return images


def test_clusters_find_the_kinds_of_image_from_pixels_alone():
    images = squares_and_rings(200)
    ids = conditioning.cluster_ids(images, 2, seed=0)
    assert ids.dtype == np.int32 and set(ids) == {0, 1}
    kinds = np.arange(200) % 2
    assert (ids == kinds).all() or (ids == 1 - kinds).all()
    np.testing.assert_array_equal(ids, conditioning.cluster_ids(images, 2, seed=0))


@pytest.mark.parametrize("conditional, clusters", [(False, 3), (False, 0)])
def test_unconditional_models_never_read_the_class_labels(conditional, clusters):
    cfg = ModelConfig(
        arch="dcgan", latent_dim=8, conditional=conditional, spectral_norm=False, clusters=clusters
    )
    images = squares_and_rings(60)
    labels = np.arange(60) % 10
    shuffled = conditioning.training_labels(cfg, images, np.random.default_rng(1).permutation(labels), 0)
    zeroed = conditioning.training_labels(cfg, images, np.zeros(60, np.uint8), 0)
    np.testing.assert_array_equal(shuffled, zeroed)
    assert len(set(shuffled)) == max(clusters, 1)


def test_conditional_models_train_on_the_class_labels():
    labels = np.arange(60) % 10
    got = conditioning.training_labels(
        ModelConfig(arch="dcgan", latent_dim=8, conditional=True, spectral_norm=False, clusters=0),
        squares_and_rings(60),
        labels,
        0,
    )
    np.testing.assert_array_equal(got, labels)


def test_drawing_clusters_samples_each_cluster_by_its_share_from_a_standard_normal(tmp_path):
    cfg = ModelConfig(arch="mlp", latent_dim=8, conditional=False, spectral_norm=False, clusters=3)
    inner = models.build_generator(cfg)
    assert len(inner.inputs) == 2
    generator = conditioning.published_generator(
        cfg, inner, np.repeat([0, 1, 2], [100, 300, 600]).astype(np.int32)
    )
    assert (
        models.TrainedGenerator(generator).conditional is False
        and models.TrainedGenerator(generator).latent_dim == 8
    )

    # what the wrapper must compute: z's first coordinate, through the normal CDF, picks a cluster
    # by share, and its place within that share is mapped back to a standard normal
    z = np.random.default_rng(0).standard_normal((20000, 8)).astype(np.float32)
    u = stats.norm.cdf(z[:, 0])
    cluster = np.searchsorted([0.1, 0.4], u, side="right").astype(np.int32)
    fresh = z.copy()
    fresh[:, 0] = stats.norm.ppf(
        (u - np.array([0.0, 0.1, 0.4])[cluster]) / np.array([0.1, 0.3, 0.6])[cluster]
    )
    np.testing.assert_allclose(np.bincount(cluster, minlength=3) / len(z), [0.1, 0.3, 0.6], atol=0.015)
    for c in range(3):  # within each cluster, G's first latent is again N(0, 1)
        assert stats.kstest(fresh[cluster == c, 0], "norm").pvalue > 1e-3
    np.testing.assert_allclose(
        np.asarray(generator(z[:2000])), np.asarray(inner([fresh[:2000], cluster[:2000]])), atol=2e-3
    )

    images = models.TrainedGenerator(generator).draw(z[:10])
    assert images.shape == (10, 28, 28, 1)
    generator.save(tmp_path / "g.keras")
    loaded = keras.models.load_model(tmp_path / "g.keras", safe_mode=True)
    np.testing.assert_allclose(np.asarray(loaded(z[:10])), images, atol=1e-6)
