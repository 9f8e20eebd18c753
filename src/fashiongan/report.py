"""`fashiongan report`: one self-contained reports/index.html (metrics beside their real-data
references, sample grids, loss and FID curves, evaluation figures) with every image inlined, so
it opens offline, unlike `dvc plots show`, whose HTML loads its charting library from a CDN."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

from .errors import MissingInput
from .io import write_text
from .paths import CLASSIFIER_REPORT, FIGURES as FIGURES_DIR, GRID, LOSSES_PLOT, METRICS, REPORT, TRAIN_SUMMARY

FIGURES = [  # (title, PNG written by the pipeline)
    ("Samples (fixed latent seed)", GRID),
    ("Losses and discriminator accuracy", LOSSES_PLOT),
    ("FID during training", FIGURES_DIR / "fid_by_step.png"),
    ("Predicted classes: generated vs real", FIGURES_DIR / "class_histogram.png"),
    ("Generated images and their 3 nearest training images", FIGURES_DIR / "nearest_neighbours.png"),
]


def metrics_rows(metrics: dict) -> list[tuple[str, str, str]]:
    """(name, generated, real-data reference) for each metric that has a `_real` twin, then the rest."""
    def fmt(value):
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    paired = [(k, fmt(v), fmt(metrics[k + "_real"])) for k, v in metrics.items()
              if not k.endswith("_real") and k + "_real" in metrics]
    single = [(k, fmt(v), "") for k, v in metrics.items()
              if not k.endswith("_real") and k + "_real" not in metrics]
    return paired + single


def render(metrics: dict, summaries: dict[str, dict], images: list[tuple[str, bytes]]) -> str:
    esc = html.escape
    rows = "".join(f"<tr><td>{esc(n)}</td><td>{esc(g)}</td><td>{esc(r)}</td></tr>" for n, g, r in metrics_rows(metrics))
    facts = "".join(f"<h3>{esc(title)}</h3><table>" + "".join(
        f"<tr><td>{esc(str(k))}</td><td>{esc(str(v))}</td></tr>" for k, v in summary.items()) + "</table>"
        for title, summary in summaries.items())
    figures = "".join(f'<h3>{esc(title)}</h3><img alt="{esc(title)}" src="data:image/png;base64,'
                      f'{base64.b64encode(png).decode()}">' for title, png in images)
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>fashiongan report</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}td,th{{padding:.2em .8em;text-align:left}}
tr:nth-child(even){{background:#f3f3f3}}img{{max-width:100%}}</style></head><body>
<h1>fashiongan report</h1>
<h2>Metrics</h2><p>Generated images against the test set; the reference column is the same metric for
real training images (what a perfect generator scores).</p>
<table><tr><th>metric</th><th>generated</th><th>real-data reference</th></tr>{rows}</table>
{facts}<h2>Figures</h2>{figures}
</body></html>
"""


def write_report(root: Path = Path(".")) -> Path:
    metrics_path = root / METRICS
    if not metrics_path.is_file():
        raise MissingInput(f"{metrics_path}: no metrics yet; run `dvc repro` first")
    summaries = {title: json.loads((root / path).read_text()) for title, path in
                 (("Training", TRAIN_SUMMARY), ("Classifier", CLASSIFIER_REPORT)) if (root / path).is_file()}
    images = [(title, (root / path).read_bytes()) for title, path in FIGURES if (root / path).is_file()]
    write_text(root / REPORT, render(json.loads(metrics_path.read_text()), summaries, images))
    return root / REPORT
