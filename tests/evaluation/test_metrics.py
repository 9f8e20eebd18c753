import numpy as np
import prdc
import pytest
import scipy.linalg

from fashiongan.evaluation import metrics


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
    # the dead columns add nothing to either mean or covariance, so they must change nothing
    assert metrics.fid(x, y) == pytest.approx(metrics.fid(x[:, 2:], y[:, 2:]), rel=1e-9)


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


def unbiased_mmd2(a, b):
    """Binkowski et al.'s unbiased MMD^2 with the cubic kernel, written out from the paper."""
    kernel = lambda u, v: (u @ v.T / a.shape[1] + 1) ** 3  # noqa: E731
    m, n = len(a), len(b)
    return (
        (kernel(a, a).sum() - np.trace(kernel(a, a))) / (m * (m - 1))
        + (kernel(b, b).sum() - np.trace(kernel(b, b))) / (n * (n - 1))
        - 2 * kernel(a, b).mean()
    )


def test_kid_matches_a_direct_unbiased_mmd():
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(50, 4)), rng.normal(0.5, 1.0, size=(50, 4))
    mean, std = metrics.kernel_inception_distance(x, y, subsets=3, subset_size=50)
    assert mean == pytest.approx(unbiased_mmd2(x, y)) and std == pytest.approx(0.0, abs=1e-12)


def test_kid_on_subsets_estimates_the_full_sample_mmd_with_the_spread_of_subsets():
    # A subset drawn without replacement gives an unbiased estimate of the full samples' MMD^2, so
    # the mean over subsets lands on it within its standard error; the std is that of subset values.
    rng = np.random.default_rng(11)
    x, y = rng.normal(size=(300, 4)), rng.normal(0.3, 1.0, size=(300, 4))
    subsets, size = 400, 60
    spread = np.std(
        [
            unbiased_mmd2(x[rng.choice(300, size, replace=False)], y[rng.choice(300, size, replace=False)])
            for _ in range(subsets)
        ]
    )
    mean, std = metrics.kernel_inception_distance(x, y, subsets=subsets, subset_size=size)
    assert mean == pytest.approx(unbiased_mmd2(x, y), abs=4 * spread / np.sqrt(subsets))
    assert std == pytest.approx(spread, rel=0.15)


def test_classifier_score_bounds():
    confident_uniform = np.eye(10)[np.arange(1000) % 10]
    assert metrics.classifier_score(confident_uniform, splits=1)[0] == pytest.approx(10.0)
    assert metrics.classifier_score(confident_uniform)[0] > 9.3  # shuffled splits are not exactly balanced
    constant = np.tile(np.eye(10)[3], (1000, 1))
    assert metrics.classifier_score(constant)[0] == pytest.approx(1.0)


def test_classifier_score_does_not_depend_on_sample_order():
    by_class = np.eye(10)[np.arange(1000) // 100] * 0.9 + 0.01  # a conditional generator's order
    assert metrics.classifier_score(by_class)[0] == pytest.approx(
        metrics.classifier_score(by_class[np.random.default_rng(1).permutation(1000)])[0], rel=0.02
    )
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
    # each ball holds its centre and k - 1 neighbours; the k-th sits on its edge, in or out by round-off
    assert coverage == 1.0 and 5 / 5 <= density <= 6 / 5
    assert metrics.density_coverage(x, x + 100.0) == (0.0, 0.0)


def one_mode_and_both(n=100, d=8):
    """(n points, 2n points): the same n points plus n more a mode away, farther than any k-NN ball reaches."""
    rng = np.random.default_rng(12)
    mode = rng.normal(size=(n, d))
    return mode, np.concatenate([mode, rng.normal(100.0, 1.0, size=(n, d))])


def test_precision_recall_when_one_set_holds_the_other():
    one, both = one_mode_and_both()
    # a generator drawing only real images of one mode: all of them realistic, half the real data missed
    assert metrics.precision_recall(real=both, fake=one) == (1.0, 0.5)
    # one drawing the real mode and a mode of its own: half of its images unrealistic, all real ones reached
    assert metrics.precision_recall(real=one, fake=both) == (0.5, 1.0)


def test_density_coverage_when_one_set_holds_the_other():
    # Clusters of k + 1 = 6 real points, far apart: each point's ball (to its 5th neighbour) spans its
    # cluster and nothing more, and holds the cluster's centroid strictly inside.
    rng = np.random.default_rng(14)
    clusters = 100 * rng.normal(size=(20, 1, 8)) + rng.normal(size=(20, 6, 8))
    centroids = clusters.mean(axis=1)
    # fakes at half the clusters' centroids: each inside its cluster's 6 balls (6 / k); half the real points missed
    assert metrics.density_coverage(real=clusters.reshape(-1, 8), fake=centroids[:10]) == (
        pytest.approx(6 / 5),
        0.5,
    )
    # fakes at every centroid, real points of half the clusters: half the fakes in no ball, every real point reached
    assert metrics.density_coverage(real=clusters[:10].reshape(-1, 8), fake=centroids) == (
        pytest.approx(6 / 10),
        1.0,
    )


@pytest.mark.parametrize("k", [None, 2, 4])
def test_precision_recall_density_coverage_match_the_prdc_package(k):
    # prdc is the density/coverage authors' own code (Naeem et al. 2020); k None: our defaults, 3 and 5
    rng = np.random.default_rng(13)
    real, fake = rng.normal(size=(200, 6)), rng.normal(0.3, 1.2, size=(150, 6))
    reference_pr = prdc.compute_prdc(real, fake, nearest_k=k or 3)
    reference_dc = prdc.compute_prdc(real, fake, nearest_k=k or 5)
    by_k = {} if k is None else {"k": k}
    assert metrics.precision_recall(real, fake, **by_k) == (
        pytest.approx(reference_pr["precision"], abs=1e-12),
        pytest.approx(reference_pr["recall"], abs=1e-12),
    )
    assert metrics.density_coverage(real, fake, **by_k) == (
        pytest.approx(reference_dc["density"], abs=1e-12),
        pytest.approx(reference_dc["coverage"], abs=1e-12),
    )


def test_blocked_distances_match_brute_force():
    rng = np.random.default_rng(9)
    q, r = rng.normal(size=(37, 5)), rng.normal(size=(53, 5))
    brute = np.sort(np.linalg.norm(q[:, None] - r[None], axis=2), axis=1)
    np.testing.assert_allclose(metrics.nearest_distances(q, r, k=3, block=7), brute[:, 2], rtol=1e-9)
    np.testing.assert_allclose(metrics.nearest_distances(q, r, block=7), brute[:, 0], rtol=1e-9)  # k=1: a min
    # a query that is a reference: distance 0, not a small negative number's root (NaN)
    np.testing.assert_allclose(metrics.nearest_distances(r[:4] * 1e3, r * 1e3), 0.0, atol=1e-4)
    self_brute = np.sort(np.linalg.norm(r[:, None] - r[None], axis=2), axis=1)
    np.testing.assert_allclose(
        metrics.nearest_distances(r, r, k=2, block=10, exclude_self=True), self_brute[:, 2], rtol=1e-6
    )


def test_class_coverage_raises_the_alarm_on_collapse():
    labels = np.arange(1000) % 10
    balanced = metrics.class_coverage(np.eye(10)[labels], labels)
    assert balanced["classes_under_1pct"] == 0 and balanced["kl"] == pytest.approx(0.0, abs=1e-6)
    collapsed = metrics.class_coverage(np.eye(10)[labels % 3], labels)
    assert collapsed["classes_under_1pct"] == 7 and collapsed["kl"] > 1.0


def test_conditional_accuracy():
    p = np.eye(10)[[1, 2, 3, 4]] * 0.9 + 0.01
    accuracy, ce = metrics.conditional_accuracy(p, [1, 2, 3, 0])
    assert accuracy == 0.75 and ce == pytest.approx(-(3 * np.log(0.91) + np.log(0.01)) / 4)


def test_memorisation_flags_copies():
    rng = np.random.default_rng(10)
    train, test = rng.normal(size=(500, 6)), rng.normal(size=(300, 6))
    copies = train[:200] + 1e-6
    test_nn = metrics.nearest_distances(test, train)
    assert metrics.memorisation(metrics.nearest_distances(copies, train), test_nn)["fraction_close"] == 1.0
    fresh = metrics.nearest_distances(rng.normal(size=(300, 6)), train)
    assert metrics.memorisation(fresh, test_nn)["fraction_close"] < 0.05
