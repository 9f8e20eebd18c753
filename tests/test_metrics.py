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


def test_kid_is_zero_within_noise_for_one_distribution_and_positive_for_shifted():
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(2000, 16)), rng.normal(size=(2000, 16))
    mean, std = metrics.kernel_inception_distance(x, y, subsets=20, subset_size=500)
    assert abs(mean) < 3 * std + 1e-4
    shifted_mean, shifted_std = metrics.kernel_inception_distance(x, y + 1.0, subsets=20, subset_size=500)
    assert shifted_mean > 10 * shifted_std and shifted_mean > 0.1


def test_kid_matches_a_direct_unbiased_mmd():
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(50, 4)), rng.normal(0.5, 1.0, size=(50, 4))
    k = lambda a, b: (a @ b.T / 4 + 1) ** 3  # noqa: E731
    m = 50
    expected = ((k(x, x).sum() - np.trace(k(x, x))) / (m * (m - 1)) + (k(y, y).sum() - np.trace(k(y, y))) / (m * (m - 1))
                - 2 * k(x, y).mean())
    mean, std = metrics.kernel_inception_distance(x, y, subsets=3, subset_size=50)
    assert mean == pytest.approx(expected) and std == pytest.approx(0.0, abs=1e-12)


def test_classifier_score_bounds():
    confident_uniform = np.eye(10)[np.arange(1000) % 10]
    assert metrics.classifier_score(confident_uniform, splits=1)[0] == pytest.approx(10.0)
    assert 9.3 < metrics.classifier_score(confident_uniform)[0] <= 10  # shuffled splits are not exactly balanced
    constant = np.tile(np.eye(10)[3], (1000, 1))
    assert metrics.classifier_score(constant)[0] == pytest.approx(1.0)


def test_classifier_score_does_not_depend_on_sample_order():
    by_class = np.eye(10)[np.arange(1000) // 100] * 0.9 + 0.01  # a conditional generator's order
    assert metrics.classifier_score(by_class)[0] == pytest.approx(
        metrics.classifier_score(by_class[np.random.default_rng(1).permutation(1000)])[0], rel=0.02)
    assert metrics.classifier_score(by_class)[0] > 5


def test_precision_recall_identical_and_disjoint():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(300, 8))
    assert metrics.precision_recall(x, x) == (1.0, 1.0)
    assert metrics.precision_recall(x, x + 100.0) == (0.0, 0.0)


def test_density_coverage_identical_and_disjoint():
    rng = np.random.default_rng(8)
    x = rng.normal(size=(300, 8))
    density, coverage = metrics.density_coverage(x, x)
    assert coverage == 1.0 and density >= 1.0
    assert metrics.density_coverage(x, x + 100.0) == (0.0, 0.0)


def test_blocked_distances_match_brute_force():
    rng = np.random.default_rng(9)
    q, r = rng.normal(size=(37, 5)), rng.normal(size=(53, 5))
    brute = np.sort(np.linalg.norm(q[:, None] - r[None], axis=2), axis=1)
    np.testing.assert_allclose(metrics.nearest_distances(q, r, k=3, block=7), brute[:, 2], rtol=1e-9)
    self_brute = np.sort(np.linalg.norm(r[:, None] - r[None], axis=2), axis=1)
    np.testing.assert_allclose(metrics.nearest_distances(r, r, k=2, block=10, exclude_self=True), self_brute[:, 2],
                               rtol=1e-6)


def test_class_coverage_raises_the_alarm_on_collapse():
    labels = np.arange(1000) % 10
    balanced = metrics.class_coverage(np.eye(10)[labels], labels)
    assert balanced["classes_under_1pct"] == 0 and balanced["kl"] == pytest.approx(0.0, abs=1e-6)
    collapsed = metrics.class_coverage(np.eye(10)[labels % 3], labels)
    assert collapsed["classes_under_1pct"] == 7 and collapsed["kl"] > 1.0


def test_conditional_accuracy():
    p = np.eye(10)[[1, 2, 3, 4]] * 0.9 + 0.01
    accuracy, ce = metrics.conditional_accuracy(p, [1, 2, 3, 0])
    assert accuracy == 0.75 and ce > 0


def test_memorisation_flags_copies():
    rng = np.random.default_rng(10)
    train, test = rng.normal(size=(500, 6)), rng.normal(size=(300, 6))
    copies = train[:200] + 1e-6
    test_nn = metrics.nearest_distances(test, train)
    assert metrics.memorisation(metrics.nearest_distances(copies, train), test_nn)["fraction_close"] == 1.0
    fresh = metrics.nearest_distances(rng.normal(size=(300, 6)), train)
    assert metrics.memorisation(fresh, test_nn)["fraction_close"] < 0.05
