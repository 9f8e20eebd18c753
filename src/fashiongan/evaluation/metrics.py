"""GAN metrics on classifier features and probabilities. Pure functions: arrays in, numbers out."""

from __future__ import annotations

import time

import numpy as np
import scipy.linalg


def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased (1/(n-1)) covariance, in float64."""
    features = np.asarray(features, np.float64)
    if features.ndim != 2 or len(features) < 2:
        raise ValueError(f"features: expected a 2-d array with at least 2 rows, got shape {features.shape}")
    return features.mean(axis=0), np.cov(features, rowvar=False)


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    """Symmetric square root of a positive semi-definite matrix (tiny negative eigenvalues clipped)."""
    eigenvalues, eigenvectors = scipy.linalg.eigh(matrix)
    return (eigenvectors * np.sqrt(np.clip(eigenvalues, 0, None))) @ eigenvectors.T


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2).

    Tr((S1 S2)^1/2) is computed as Tr((S1^1/2 S2 S1^1/2)^1/2): the inner matrix is symmetric PSD,
    so both roots are symmetric eigen-decompositions, with no imaginary parts to drop and no
    failure on the singular covariances that dead ReLU units produce.
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    root1 = _sqrt_psd(sigma1)
    inner = root1 @ sigma2 @ root1
    covmean_trace = np.sqrt(np.clip(scipy.linalg.eigvalsh((inner + inner.T) / 2), 0, None)).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * covmean_trace)


def fid(features1: np.ndarray, features2: np.ndarray) -> float:
    return frechet_distance(*feature_statistics(features1), *feature_statistics(features2))


def kernel_inception_distance(
    features1, features2, subsets: int = 100, subset_size: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """KID (Binkowski et al. 2018): unbiased MMD^2 with k(x, y) = (x.y / d + 1)^3, mean and std
    over `subsets` random subsets of `subset_size` from each side (drawn without replacement)."""
    x, y = np.asarray(features1, np.float64), np.asarray(features2, np.float64)
    d, m = x.shape[1], min(subset_size, len(x), len(y))
    rng = np.random.default_rng(seed)
    values = np.empty(subsets)
    for i in range(subsets):
        a = x[rng.choice(len(x), m, replace=False)]
        b = y[rng.choice(len(y), m, replace=False)]
        k_aa, k_bb, k_ab = (a @ a.T / d + 1) ** 3, (b @ b.T / d + 1) ** 3, (a @ b.T / d + 1) ** 3
        values[i] = (
            (k_aa.sum() - np.trace(k_aa)) / (m * (m - 1))
            + (k_bb.sum() - np.trace(k_bb)) / (m * (m - 1))
            - 2 * k_ab.mean()
        )
    return float(values.mean()), float(values.std())


def classifier_score(probabilities, splits: int = 10, seed: int = 0) -> tuple[float, float]:
    """Inception-Score style with our classifier: exp(E_x KL(p(y|x) || p(y))), mean and std over splits.

    Rows are shuffled (seeded) before splitting: samples ordered by class, as a conditional
    generator's are, would otherwise give one class per split and a score near 1."""
    p = np.asarray(probabilities, np.float64)
    p = p[np.random.default_rng(seed).permutation(len(p))]
    scores = []
    for part in np.array_split(p, splits):
        marginal = part.mean(axis=0, keepdims=True)
        kl = np.sum(
            part * (np.log(np.clip(part, 1e-12, None)) - np.log(np.clip(marginal, 1e-12, None))), axis=1
        )
        scores.append(np.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))


def _squared_distances(a, b):
    return np.maximum((a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T, 0)


def nearest_distances(
    queries, references, k: int = 1, block: int = 1000, exclude_self: bool = False
) -> np.ndarray:
    """Distance from each query to its k-th nearest reference, in row blocks (memory stays
    block x len(references)). exclude_self: queries are the references (skip the zero distance)."""
    q, r = np.asarray(queries, np.float64), np.asarray(references, np.float64)
    kth = k if exclude_self else k - 1
    r_norms = (r * r).sum(1)
    out = np.empty(len(q))
    for start in range(0, len(q), block):
        part = q[start : start + block]
        # the ranking along a row needs only |r|^2 - 2 q.r (|q|^2 is the row's constant, added to
        # the chosen one), built in place: the block is the memory traffic that sets the time
        d2 = part @ r.T
        d2 *= -2.0
        d2 += r_norms
        chosen = d2.min(axis=1) if kth == 0 else np.partition(d2, kth, axis=1)[:, kth]
        out[start : start + block] = np.sqrt(np.maximum(chosen + (part * part).sum(1), 0))
    return out


def nearest_indices(queries, references, k: int = 1) -> np.ndarray:
    """(len(queries), k) indices of each query's k nearest references, nearest first."""
    d2 = _squared_distances(np.asarray(queries, np.float64), np.asarray(references, np.float64))
    nearest = np.argpartition(d2, k - 1, axis=1)[:, :k]
    return np.take_along_axis(nearest, np.argsort(np.take_along_axis(d2, nearest, axis=1), axis=1), axis=1)


def _within_balls(queries, centres, radii, block: int = 1000) -> np.ndarray:
    """(len(queries),) count of centres whose ball (radius radii[i]) holds each query."""
    q, c = np.asarray(queries, np.float64), np.asarray(centres, np.float64)
    counts = np.zeros(len(q), np.int64)
    for start in range(0, len(c), block):
        d2 = _squared_distances(c[start : start + block], q)
        counts += (d2 <= radii[start : start + block, None] ** 2).sum(axis=0)
    return counts


def precision_recall(real, fake, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkaanniemi et al. 2019) with k-NN balls."""
    real_radii = nearest_distances(real, real, k, exclude_self=True)
    fake_radii = nearest_distances(fake, fake, k, exclude_self=True)
    precision = float(np.mean(_within_balls(fake, real, real_radii) > 0))
    recall = float(np.mean(_within_balls(real, fake, fake_radii) > 0))
    return precision, recall


def density_coverage(real, fake, k: int = 5) -> tuple[float, float]:
    """Density and coverage (Naeem et al. 2020) with k-NN balls around real samples."""
    radii = nearest_distances(real, real, k, exclude_self=True)
    density = float(_within_balls(fake, real, radii).sum() / (k * len(fake)))
    fake_nearest = nearest_distances(real, fake, 1)
    coverage = float(np.mean(fake_nearest <= radii))
    return density, coverage


def class_coverage(probabilities, real_labels) -> dict:
    """Histogram of predicted classes of generated images, KL(real || generated) of the class
    distributions (large when a class is missing), and the count of classes under 1% (mode collapse)."""
    num_classes = np.asarray(probabilities).shape[1]
    predicted = np.bincount(np.asarray(probabilities).argmax(axis=1), minlength=num_classes) / len(
        probabilities
    )
    real = np.bincount(np.asarray(real_labels), minlength=num_classes) / len(real_labels)
    eps = 1e-6
    kl = float(np.sum(real * (np.log(real + eps) - np.log(predicted + eps))))
    return {"histogram": predicted.tolist(), "kl": kl, "classes_under_1pct": int(np.sum(predicted < 0.01))}


def conditional_accuracy(probabilities, labels) -> tuple[float, float]:
    """Accuracy and cross-entropy of the classifier on the labels images were generated for."""
    p = np.asarray(probabilities, np.float64)
    labels = np.asarray(labels)
    accuracy = float(np.mean(p.argmax(axis=1) == labels))
    cross_entropy = float(-np.mean(np.log(np.clip(p[np.arange(len(p)), labels], 1e-12, None))))
    return accuracy, cross_entropy


def memorisation(fake_nn, test_nn, percentile: float = 1.0) -> dict:
    """From nearest-training-image distances of generated (fake_nn) and real test images (test_nn):
    the fraction of generated images closer to a training image than the `percentile`-th percentile
    of test images (a test image is never a copy, so about percentile/100 is what an honest
    generator scores)."""
    threshold = np.percentile(test_nn, percentile)
    return {
        "fraction_close": float(np.mean(np.asarray(fake_nn) < threshold)),
        "threshold": float(threshold),
        "median_fake": float(np.median(fake_nn)),
        "median_test": float(np.median(test_nn)),
    }


def timed(timings: dict, name: str, fn, *args):
    """fn(*args), adding its wall time to timings[name] (the evaluate bench reports the split)."""
    started = time.perf_counter()
    value = fn(*args)
    timings[name] = timings.get(name, 0.0) + time.perf_counter() - started
    return value


def suite(features, proba, test_features, test_labels, timings: dict) -> dict:
    """Every unconditional metric of one set of images (features, class probabilities) vs the test set."""
    kid, kid_std = timed(timings, "kid", kernel_inception_distance, features, test_features)
    score, score_std = timed(timings, "classifier_score", classifier_score, proba)
    precision, recall = timed(timings, "precision_recall", precision_recall, test_features, features)
    density, coverage = timed(timings, "density_coverage", density_coverage, test_features, features)
    classes = timed(timings, "class_coverage", class_coverage, proba, test_labels)
    return {
        "fid": timed(timings, "fid", fid, features, test_features),
        "kid": kid,
        "kid_std": kid_std,
        "classifier_score": score,
        "classifier_score_std": score_std,
        "precision": precision,
        "recall": recall,
        "density": density,
        "coverage": coverage,
        "class_kl": classes["kl"],
        "classes_under_1pct": classes["classes_under_1pct"],
        "class_histogram": classes["histogram"],
    }
