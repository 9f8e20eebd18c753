"""`fashiongan report` (`make report`): one self-contained reports/index.html comparing experiments
(experiments.py finds them): every DVC experiment of the workspace (what `dvc exp show --json` lists, the
workspace included), or the latest N MLflow runs, ranked as ranking.py ranks them: one table per ruler,
one row per recipe, best mean FID first, the rows within the seed spread of the best marked; the params
that differ, the key metrics (each explained, beside its real-data reference), the sample grids side by
side, FID by images seen overlaid per ruler, and then the workspace's own run in detail. The page is
templates/report.html.j2; every image is inlined, so it opens offline, unlike `dvc plots show`'s, which
loads its charting library from a CDN.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import NamedTuple

import jinja2

from ..errors import MissingInput
from ..io import write_text
from ..paths import CLASSIFIER_REPORT, GRID, LOSSES_PLOT, METRICS, REPORT, TRAIN_SUMMARY
from ..paths import FIGURES as FIGURES_DIR
from .experiments import dvc_experiments, mlflow_experiments
from .ranking import Experiment, differing_params, most_experiments_ruler, ruler_name, ruler_tables


class KeyMetric(NamedTuple):
    name: str  # in reports/metrics.json
    header: str
    format: str
    explanation: str  # one line, in the page's legend


# fmt: off
KEY_METRICS = [
    KeyMetric("fid", "FID", "{:.2f}", "Fréchet distance between Gaussians fitted to classifier features of "
              "generated and test images (Heusel et al. 2017); lower is better"),
    KeyMetric("kid", "KID", "{:.3f}", "kernel (MMD²) distance of the same features, unbiased, so comparable "
              "at any sample count (Bińkowski et al. 2018); lower is better"),
    KeyMetric("precision", "precision", "{:.3f}", "share of generated images inside the real images' "
              "feature manifold: fidelity (Kynkäänniemi et al. 2019)"),
    KeyMetric("recall", "recall", "{:.3f}",
              "share of real images inside the generated images' manifold: variety"),
    KeyMetric("coverage", "coverage", "{:.3f}", "share of real images with a generated image among their 5 "
              "nearest neighbours: outlier-robust variety (Naeem et al. 2020)"),
    KeyMetric("class_kl", "class KL", "{:.4f}", "KL divergence between the predicted-class histograms of "
              "generated and real images; a mode-collapse alarm"),
]
LABELS = {  # reports/metrics.json's keys as the detail table names them
    "fid": "FID", "fid_noise": "FID of uniform noise (a ceiling)",
    "kid": "KID", "kid_std": "KID, std over subsets",
    "classifier_score": "classifier score (Inception-score style)",
    "classifier_score_std": "classifier score, std",
    "precision": "precision", "recall": "recall", "density": "density", "coverage": "coverage",
    "class_kl": "class KL", "classes_under_1pct": "classes under 1% of the images",
    "memorised_fraction": "memorised fraction", "label_accuracy": "label accuracy (asked class read back)",
    "label_cross_entropy": "label cross-entropy", "n": "images per side",
    "ruler": "ruler id (see docs/ruler.md)",
}
# fmt: on
WORKSPACE_FIGURES = [  # (title, PNG or GIF written by the pipeline), for the workspace's run
    ("Samples (fixed latent seed)", GRID),
    ("Losses and discriminator accuracy", LOSSES_PLOT),
    ("FID during training", FIGURES_DIR / "fid_by_step.png"),
    ("Predicted classes: generated vs real", FIGURES_DIR / "class_histogram.png"),
    ("Generated images and their 3 nearest training images", FIGURES_DIR / "nearest_neighbours.png"),
    ("Spherical interpolations between random latents", FIGURES_DIR / "interpolation.gif"),
    ("Class morph: one latent, the class embedding moved to the next class", FIGURES_DIR / "class_morph.png"),
    ("Truncation: quality against variety", FIGURES_DIR / "truncation.png"),
]

TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("fashiongan.use"),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
    undefined=jinja2.StrictUndefined,
)
# a params value as JSON in a plain str, which autoescaping then escapes as text: Jinja's own `tojson` is for
# <script> blocks and writes "<" as \u003c, which a table cell would show as is
TEMPLATES.filters["json"] = json.dumps


def fid_overlay(experiments: list[Experiment]) -> bytes:
    """FID (training-time probe) by images seen, one line per experiment, log scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4), dpi=100)
    for e in experiments:
        if e.fid_curve:
            x, y = zip(*e.fid_curve)
            ax.plot(x, y, marker=".", label=e.name)
    ax.set_yscale("log")
    ax.set_xlabel("training images seen")
    ax.set_ylabel("FID during training (probe samples)")
    if any(e.fid_curve for e in experiments):
        for name in ax.legend(fontsize=8).get_texts():  # run names as written: `$\alpha$` is no TeX here
            name.set(usetex=False, parse_math=False)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def _data_uri(data: bytes, kind: str = "png") -> str:
    return f"data:image/{kind};base64,{base64.b64encode(data).decode()}"


def comparison_section(experiments: list[Experiment], source: str, first_ruler: str | None) -> dict:
    """What the page shows of the experiments: their tables, one per ruler (`first_ruler`'s first), each with
    the params that differ in it; the key metrics any of them has; their grids, best first; FID curves."""
    tables = ruler_tables(experiments, first_ruler)
    return {
        "count": len(experiments),
        "source": source,
        "tables": [(table, differing_params(table.experiments)) for table in tables],
        "metrics": [m for m in KEY_METRICS if any(m.name in e.metrics for e in experiments)],
        "grids": [(e.name, _data_uri(e.grid)) for table in tables for e in table.experiments if e.grid],
        "overlays": [
            (ruler_name(table.ruler), _data_uri(fid_overlay(table.experiments)))
            for table in tables
            if any(e.fid_curve for e in table.experiments)
        ],
    }


def workspace_section(root: Path) -> dict:
    """What the page shows of the workspace's run: each metric and its reference, training facts, figures."""
    metrics = json.loads((root / METRICS).read_text())

    def text(value):
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    return {
        "metrics": [
            (LABELS.get(k, k), text(v), text(metrics.get(k + "_real", "")))
            for k, v in metrics.items()
            if not k.endswith("_real")
        ],
        "facts": [
            (title, json.loads((root / path).read_text()))
            for title, path in (("Training", TRAIN_SUMMARY), ("Classifier", CLASSIFIER_REPORT))
            if (root / path).is_file()
        ],
        "figures": [
            (title, _data_uri((root / path).read_bytes(), path.suffix[1:]))
            for title, path in WORKSPACE_FIGURES
            if (root / path).is_file()
        ],
    }


def render(comparison: dict | None = None, workspace: dict | None = None) -> str:
    """The page of a comparison_section, a workspace_section, or both."""
    return TEMPLATES.get_template("report.html.j2").render(comparison=comparison, workspace=workspace)


def write_report(root: Path = Path("."), mlflow_runs: int = 0, experiment: str = "fashiongan") -> Path:
    """reports/index.html over the DVC experiments, or over the latest `mlflow_runs` MLflow runs."""
    if mlflow_runs:
        experiments = mlflow_experiments(experiment, mlflow_runs)
        source = f"latest MLflow runs of {experiment!r}"
    else:
        experiments, source = dvc_experiments(root), "DVC experiments of the workspace"
    if (root / METRICS).is_file():  # the workspace's ruler leads
        workspace = workspace_section(root)
        first_ruler = json.loads((root / METRICS).read_text()).get("ruler")
    elif experiments:
        workspace, first_ruler = None, most_experiments_ruler(experiments)
    else:
        raise MissingInput(f"{root / METRICS}: no metrics yet; run `dvc repro` first")
    write_text(root / REPORT, render(comparison_section(experiments, source, first_ruler), workspace))
    return root / REPORT
