import numpy as np
import pytest
import scipy.linalg

from fashiongan import metrics


def test_fid_of_a_set_with_itself_is_zero():
    x = np.random.default_rng(0).normal(size=(500, 16))
    assert metrics.fid(x, x) == pytest.approx(0.0, abs=1e-8)


def test_fid_is_symmetric():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(400, 8)), rng.normal(1.0, 2.0, size=(400, 8))
    assert metrics.fid(x, y) == pytest.approx(metrics.fid(y, x), rel=1e-9)


def test_frechet_distance_matches_closed_form_for_gaussians():
    # For commuting (diagonal) covariances: |mu1-mu2|^2 + sum (sqrt(a) - sqrt(b))^2.
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 0.25])
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert metrics.frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-12)


def test_frechet_distance_matches_scipy_sqrtm_on_full_covariances():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(300, 10)) @ rng.normal(size=(10, 10)), rng.normal(size=(300, 10))
    (m1, s1), (m2, s2) = metrics.feature_statistics(x), metrics.feature_statistics(y)
    reference = np.sum((m1 - m2) ** 2) + np.trace(s1 + s2 - 2 * scipy.linalg.sqrtm(s1 @ s2).real)
    assert metrics.frechet_distance(m1, s1, m2, s2) == pytest.approx(reference, rel=1e-8)


def test_fid_from_samples_approaches_the_population_value():
    rng = np.random.default_rng(3)
    x = rng.normal(0.0, 1.0, size=(20000, 4))
    y = rng.normal(0.5, 2.0, size=(20000, 4))
    expected = 4 * 0.25 + 4 * (1.0 - 2.0) ** 2
    assert metrics.fid(x, y) == pytest.approx(expected, rel=0.03)


def test_singular_covariances_do_not_break_it():
    # Dead ReLU units: constant zero columns make the covariance singular.
    rng = np.random.default_rng(4)
    x = np.maximum(rng.normal(size=(200, 6)), 0)
    x[:, :2] = 0
    y = np.maximum(rng.normal(size=(200, 6)), 0)
    y[:, :2] = 0
    value = metrics.fid(x, y)
    assert np.isfinite(value) and value >= 0


def test_statistics_are_unbiased():
    x = np.array([[0.0], [2.0]])
    mu, sigma = metrics.feature_statistics(x)
    assert mu[0] == 1.0 and sigma == pytest.approx(2.0)
