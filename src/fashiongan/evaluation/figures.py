"""What a trained generator learned, in pictures: latent interpolations, class morphs and the
truncation trade-off. `evaluate` writes them for the pipeline's generator (and logs them with its
evaluation), beside its figures of the samples it scored; `fashiongan explore` (use/explore.py) for any
generator, file or MLflow URI.

- Interpolations are spherical (slerp, White 2016): z ~ N(0, I) lives near a sphere of radius
  sqrt(latent_dim), and a straight line between two draws passes through improbably short z.
- The class morph keeps one z and moves the class embedding linearly from each class to the next,
  through embeddings no label has: what G does between the classes it was taught.
- Truncation scales z toward the mean of its distribution (0) by psi (StyleGAN's truncation, in z
  since these models have no mapping network): psi 1.0 is the untruncated generator; smaller psi
  trades variety (recall) for typicality. Each psi is scored by FID and recall on the same 2k latents,
  classes drawn by the training set's shares (as evaluate's samples); a self-conditioned
  generator's cluster-picking coordinate is not truncated (TrainedGenerator.truncate).
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
from PIL import Image

from .. import plots
from ..data.images import class_balanced, to_uint8
from ..gan.models import TrainedGenerator, class_labels, class_shares, latents
from ..io import atomic_path
from . import metrics

TRUNCATIONS = (1.0, 0.7, 0.5)
TRUNCATION_SAMPLES = 2000  # as the training-time FID probe: enough to rank, seconds to score


def slerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Spherical interpolation from a to b (vectors) at fractions t: (len(t), dim)."""
    t = np.asarray(t, np.float64)[:, None]
    cos = np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b))
    omega = np.arccos(np.clip(cos, -1.0, 1.0))
    if omega < 1e-6:  # (anti)parallel within float error: the arc is the line
        return (1 - t) * a + t * b
    return (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)


def interpolation_latents(latent_dim: int, rows: int, steps: int, seed: int) -> np.ndarray:
    """rows pairs of random latents, each slerped in `steps`: (rows, steps, latent_dim) float32."""
    ends = np.random.default_rng(seed).standard_normal((rows, 2, latent_dim))
    return np.stack([slerp(a, b, np.linspace(0, 1, steps)) for a, b in ends]).astype(np.float32)


def interpolations(generator: TrainedGenerator, rows: int = 8, steps: int = 10, seed: int = 0) -> np.ndarray:
    """uint8 (rows, steps, 28, 28); conditional generators keep one class per row (row i: class i mod K)."""
    z = interpolation_latents(generator.latent_dim, rows, steps, seed)
    labels = np.repeat(np.arange(rows) % max(generator.classes, 1), steps).astype(np.int32)
    return to_uint8(generator.draw(z.reshape(rows * steps, -1), labels)).reshape(rows, steps, 28, 28)


def class_morph(generator: TrainedGenerator, steps: int = 10, seed: int = 0) -> np.ndarray:
    """uint8 (classes, steps, 28, 28): row c moves one z's class embedding from class c to c + 1."""
    embedding = next(layer for layer in generator.model.layers if isinstance(layer, keras.layers.Embedding))
    by_vector = keras.Model([generator.model.inputs[0], embedding.output], generator.model.output)
    table = np.asarray(embedding.embeddings)
    t = np.linspace(0, 1, steps)[:, None]
    vectors = np.concatenate(
        [(1 - t) * table[c] + t * table[(c + 1) % len(table)] for c in range(len(table))]
    )
    z = np.repeat(
        np.random.default_rng(seed).standard_normal((1, generator.latent_dim)), len(vectors), axis=0
    )
    images = by_vector([z.astype(np.float32), vectors.astype(np.float32)], training=False)
    return to_uint8(images).reshape(len(table), steps, 28, 28)


def truncation_tradeoff(
    generator: TrainedGenerator,
    extractor,
    test_features: np.ndarray,
    test_labels: np.ndarray,
    n: int = TRUNCATION_SAMPLES,
    seed: int = 0,
    truncations=TRUNCATIONS,
    shares=None,
) -> tuple[dict[float, np.ndarray], list[dict]]:
    """Images (uint8 (n, 28, 28)) per psi, and a table row per psi: FID vs `test_features`, recall
    vs n of them in their classes' shares. `shares`: the training set's class shares (None: equal)."""
    z = latents(generator.latent_dim, n, seed)
    labels = class_labels(n, np.ones(max(generator.classes, 1)) if shares is None else shares)
    real = test_features[class_balanced(test_labels, n, seed)]
    images, table = {}, []
    for psi in truncations:
        images[psi] = to_uint8(generator.draw(generator.truncate(z, psi), labels))
        features = extractor.features(images[psi])
        _, recall = metrics.precision_recall(real, features)
        table.append(
            {
                "truncation": psi,
                "fid": round(metrics.fid(features, test_features), 3),
                "recall": round(recall, 4),
                "n": n,
            }
        )
    return images, table


def save_strip_and_gif(png: Path, gif: Path, frames: np.ndarray, milliseconds: int = 120) -> None:
    """frames uint8 (rows, steps, 28, 28): a PNG with one interpolation per row, and a GIF whose
    frame t shows every row at step t (forth and back, looping)."""
    rows, steps = frames.shape[:2]
    plots.save_grid(png, frames.reshape(rows * steps, 28, 28), rows, steps)
    pictures = [
        Image.fromarray(plots.image_grid(frames[:, t], 1, rows)).resize(
            ((rows * 29 + 1) * 3, 30 * 3), Image.NEAREST
        )
        for t in [*range(steps), *range(steps - 2, 0, -1)]
    ]
    with atomic_path(gif) as tmp:
        pictures[0].save(
            tmp, format="GIF", save_all=True, append_images=pictures[1:], duration=milliseconds, loop=0
        )


def write_figures(
    generator: TrainedGenerator,
    out: Path,
    extractor,
    test_features: np.ndarray,
    test_labels: np.ndarray,
    seed: int = 0,
    n: int = TRUNCATION_SAMPLES,
    class_names=None,
    shares=None,
) -> list[dict]:
    """Every figure of this module into `out`; returns the truncation table."""
    out.mkdir(parents=True, exist_ok=True)
    save_strip_and_gif(
        out / "interpolation.png", out / "interpolation.gif", interpolations(generator, seed=seed)
    )
    if generator.conditional:
        morph = class_morph(generator, seed=seed)
        names = class_names or [str(c) for c in range(len(morph))]
        plots.save_grid(
            out / "class_morph.png",
            morph.reshape(-1, 28, 28),
            *morph.shape[:2],
            row_labels=[f"{a} → {b}" for a, b in zip(names, [*names[1:], names[0]], strict=True)],
        )
    images, table = truncation_tradeoff(
        generator, extractor, test_features, test_labels, n, seed, shares=shares
    )
    plots.save_truncation(out / "truncation.png", {psi: grid[:64] for psi, grid in images.items()}, table)
    return table


def write_evaluation_figures(
    out: Path,
    generator: TrainedGenerator,
    extractor,
    images: np.ndarray,
    features: np.ndarray,
    real,
    prepared,
    histograms: dict,
    fid_by_step: list[tuple[int, float]],
    fid_real: float,
    seed: int,
    class_names,
    timings: dict,
) -> list[dict]:
    """evaluate's figures into `out`: the predicted-class histograms, the first 8 scored `images` beside the
    3 training images nearest in the ruler's features, training's FID by step over the real-data floor, then
    write_figures' (timed as timings["explore"]); returns the truncation table. `real`: the ruler's
    features of the real images (ruler.py); `prepared`: the prepared data's arrays."""
    nearest = metrics.nearest_indices(features[:8], real["train_features"], k=3)
    plots.save_class_histogram(out / "class_histogram.png", histograms, class_names)
    plots.save_neighbours(out / "nearest_neighbours.png", images[:8], prepared["train_images"][nearest])
    plots.save_fid_curve(out / "fid_by_step.png", fid_by_step, fid_real)
    shares = class_shares(prepared["train_labels"], generator.classes) if generator.conditional else None
    return metrics.timed(
        timings,
        "explore",
        lambda: write_figures(
            generator,
            out,
            extractor,
            real["test_features"],
            real["test_labels"],
            seed,
            class_names=class_names,
            shares=shares,
        ),
    )
