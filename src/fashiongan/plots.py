"""Figures: sample grids (also as arrays for MLflow images) and loss curves."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from .io import atomic_path


def _save(fig, path, tight: bool = True) -> None:
    if tight:
        fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def image_grid(images: np.ndarray, rows: int, cols: int, pad: int = 1) -> np.ndarray:
    """uint8 (N, 28, 28) -> one uint8 (rows*(28+pad)+pad, cols*(28+pad)+pad) mosaic, row-major."""
    images = np.asarray(images, np.uint8).reshape(-1, 28, 28)[: rows * cols]
    h, w = images.shape[1:]
    grid = np.zeros((rows * (h + pad) + pad, cols * (w + pad) + pad), np.uint8)
    for i, image in enumerate(images):
        r, c = divmod(i, cols)
        grid[pad + r * (h + pad) : pad + r * (h + pad) + h, pad + c * (w + pad) : pad + c * (w + pad) + w] = (
            image
        )
    return grid


def save_grid(path, images: np.ndarray, rows: int, cols: int, row_labels=None, scale: int = 3) -> None:
    grid = image_grid(images, rows, cols)
    dpi = 100
    label_space = 1.4 if row_labels else 0.0
    fig = plt.figure(
        figsize=(grid.shape[1] * scale / dpi + label_space, grid.shape[0] * scale / dpi), dpi=dpi
    )
    ax = fig.add_axes([label_space / fig.get_figwidth(), 0, 1 - label_space / fig.get_figwidth(), 1])
    ax.imshow(grid, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([29 * r + 15 for r in range(rows)] if row_labels else [])
    if row_labels:
        ax.set_yticklabels(row_labels)
    for spine in ax.spines.values():
        spine.set_visible(False)
    _save(fig, path, tight=False)


def save_loss_curves(path, series: dict[str, list[tuple[int, float]]], smooth: int = 100) -> None:
    """Losses and D's accuracies, each a list of (step, value), smoothed over `smooth` steps."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    for name, points in series.items():
        steps, values = np.array(points, dtype=np.float64).reshape(-1, 2).T
        kernel = np.ones(max(1, min(smooth, len(steps)))) / max(1, min(smooth, len(steps)))
        ax = axes[1] if name.startswith("d_acc") else axes[0]
        ax.plot(steps[: len(steps) - len(kernel) + 1], np.convolve(values, kernel, mode="valid"), label=name)
    axes[0].set_title("losses")
    axes[1].set_title("discriminator accuracy")
    for ax in axes:
        ax.set_xlabel("step")
        ax.legend()
    _save(fig, path)


def save_class_histogram(path, histograms: dict[str, list[float]], class_names) -> None:
    fig, ax = plt.subplots(figsize=(9, 3.5))
    width = 0.8 / len(histograms)
    for i, (name, values) in enumerate(histograms.items()):
        ax.bar(np.arange(len(class_names)) + i * width, values, width, label=name)
    ax.set_xticks(np.arange(len(class_names)) + 0.4 - width / 2, class_names, rotation=30, ha="right")
    ax.set_ylabel("fraction (classifier's prediction)")
    ax.legend()
    _save(fig, path)


def save_neighbours(path, queries: np.ndarray, neighbours: np.ndarray) -> None:
    """Each generated image (first column) beside its nearest training images in feature space."""
    rows = [np.concatenate([q[None], nn]) for q, nn in zip(queries, neighbours)]
    save_grid(path, np.concatenate(rows), len(rows), 1 + neighbours.shape[1])


def save_fid_curve(path, fid: list[tuple[int, float]], floor: float) -> None:
    """fid: the (step, FID) pairs measured during training."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    if fid:
        ax.plot(*zip(*fid), marker="o", label="generator")
    ax.axhline(floor, color="grey", linestyle="--", label="real-data floor")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("FID (classifier features)")
    ax.legend()
    _save(fig, path)


def save_truncation(path, grids: dict[float, np.ndarray], table: list[dict]) -> None:
    """One 8x8 grid per truncation psi, titled, and the table of FID and recall per psi beside them."""
    fig, axes = plt.subplots(
        1,
        len(grids) + 1,
        figsize=(3.2 * len(grids) + 3.2, 3.6),
        gridspec_kw={"width_ratios": [1] * len(grids) + [1.1]},
    )
    for ax, (psi, images) in zip(axes, grids.items()):
        ax.imshow(image_grid(images, 8, 8), cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        ax.set_title(f"truncation {psi:g}")
        ax.axis("off")
    axes[-1].axis("off")
    cells = [[f"{row['truncation']:g}", f"{row['fid']:.2f}", f"{row['recall']:.3f}"] for row in table]
    axes[-1].table(cells, colLabels=["psi", "FID", "recall"], loc="center").scale(1, 1.6)
    axes[-1].set_title(
        f"on {table[0]['n']} samples\n(lower FID: closer to real;\nhigher recall: more variety)", fontsize=9
    )
    _save(fig, path)
