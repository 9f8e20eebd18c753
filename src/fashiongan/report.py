"""`fashiongan report` (`make report`): one self-contained reports/index.html comparing experiments:
every DVC experiment of the workspace (what `dvc exp show --json` lists, the workspace included),
or the latest N MLflow runs. It holds the params that differ, the key metrics best FID first (each
explained, beside its real-data reference), the sample grids side by side, FID by images seen
overlaid, and then the workspace's own run in detail. Every image is inlined, so the page opens
offline, unlike `dvc plots show`'s, which loads its charting library from a CDN.
"""

from __future__ import annotations

import base64
import html
import io
import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .errors import MissingInput, TrackingError
from .io import write_text
from .paths import CLASSIFIER_REPORT, FID_HISTORY, FIGURES as FIGURES_DIR, GRID, LOSSES_PLOT, METRICS, REPORT, \
    TRAIN_SUMMARY

KEY_METRICS = [  # (name in reports/metrics.json, header, format, one-line explanation)
    ("fid", "FID", "{:.2f}", "Fréchet distance between Gaussians fitted to classifier features of generated and "
                            "test images (Heusel et al. 2017); lower is better"),
    ("kid", "KID", "{:.3f}", "kernel (MMD²) distance of the same features, unbiased, so comparable at any sample "
                            "count (Bińkowski et al. 2018); lower is better"),
    ("precision", "precision", "{:.3f}", "share of generated images inside the real images' feature manifold: "
                                         "fidelity (Kynkäänniemi et al. 2019)"),
    ("recall", "recall", "{:.3f}", "share of real images inside the generated images' manifold: variety"),
    ("coverage", "coverage", "{:.3f}", "share of real images with a generated image among their 5 nearest "
                                       "neighbours: outlier-robust variety (Naeem et al. 2020)"),
    ("class_kl", "class KL", "{:.4f}", "KL divergence between the predicted-class histograms of generated and "
                                       "real images; a mode-collapse alarm"),
]
LABELS = {  # reports/metrics.json's keys as the detail table names them
    "fid": "FID", "fid_noise": "FID of uniform noise (a ceiling)", "kid": "KID", "kid_std": "KID, std over subsets",
    "classifier_score": "classifier score (Inception-score style)", "classifier_score_std": "classifier score, std",
    "precision": "precision", "recall": "recall", "density": "density", "coverage": "coverage",
    "class_kl": "class KL", "classes_under_1pct": "classes under 1% of the images",
    "memorised_fraction": "memorised fraction", "label_accuracy": "label accuracy (asked class read back)",
    "label_cross_entropy": "label cross-entropy", "n": "images per side",
}
FIGURES = [  # (title, PNG or GIF written by the pipeline), for the workspace's run
    ("Samples (fixed latent seed)", GRID),
    ("Losses and discriminator accuracy", LOSSES_PLOT),
    ("FID during training", FIGURES_DIR / "fid_by_step.png"),
    ("Predicted classes: generated vs real", FIGURES_DIR / "class_histogram.png"),
    ("Generated images and their 3 nearest training images", FIGURES_DIR / "nearest_neighbours.png"),
    ("Spherical interpolations between random latents", FIGURES_DIR / "interpolation.gif"),
    ("Class morph: one latent, the class embedding moved to the next class", FIGURES_DIR / "class_morph.png"),
    ("Truncation: quality against variety", FIGURES_DIR / "truncation.png"),
]


@dataclass
class Experiment:
    """One row of the comparison, wherever it came from."""

    name: str
    params: dict[str, object]  # dotted keys
    metrics: dict[str, float]  # as in reports/metrics.json
    grid: bytes | None = None  # PNG
    fid_curve: list[tuple[float, float]] = field(default_factory=list)  # (images seen, FID)


def flatten(tree: dict, prefix: str = "") -> dict[str, object]:
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out


def differing_params(experiments: list[Experiment]) -> list[str]:
    keys = sorted({key for e in experiments for key in e.params})
    return [k for k in keys if len({json.dumps(e.params.get(k)) for e in experiments}) > 1]


def fid_curve(csv_text: str, batch_size) -> list[tuple[float, float]]:
    """reports/train/fid.csv (step, fid, seconds) -> (images seen, FID)."""
    rows = [line.split(",") for line in csv_text.strip().splitlines()[1:] if line.strip()]
    return [(float(step) * float(batch_size or 1), float(fid)) for step, fid, *_ in rows]


def dvc_experiments(root: Path) -> list[Experiment]:
    """What `dvc exp show --json` lists: the workspace, its baseline commit and the experiments on it."""
    shown = subprocess.run([sys.executable, "-m", "dvc", "exp", "show", "--json"], cwd=root, capture_output=True,
                           text=True)
    if shown.returncode != 0:
        raise MissingInput(f"dvc exp show in {root.resolve()}: {(shown.stderr.strip() or 'failed').splitlines()[-1]}")
    entries = []
    for baseline in json.loads(shown.stdout):
        name = "workspace" if baseline["rev"] == "workspace" else baseline.get("name") or baseline["rev"][:7]
        entries.append((baseline["rev"], name, baseline.get("data")))
        for experiment in baseline.get("experiments") or []:
            revision = experiment["revs"][0]
            entries.append((revision["rev"], revision.get("name") or revision["rev"][:7], revision.get("data")))
    experiments = []
    for rev, name, data in entries:
        if not data:  # queued or failed: nothing to show
            continue
        params = flatten((data.get("params") or {}).get("params.yaml", {}).get("data") or {})
        metrics = (data.get("metrics") or {}).get(str(METRICS), {}).get("data") or {}
        at = None if rev == "workspace" else rev
        curve = _read_at(root, at, FID_HISTORY)
        experiments.append(Experiment(name, params, metrics, _read_at(root, at, GRID, "rb"),
                                      fid_curve(curve, params.get("train.batch_size")) if curve else []))
    return experiments


def _read_at(root: Path, rev: str | None, path: Path, mode: str = "r"):
    """A file as it is in a revision (None: the workspace), git-tracked or in DVC's cache; None if absent."""
    import dvc.api

    try:
        return dvc.api.read(str(path), repo=str(root), rev=rev, mode=mode)
    except Exception:  # not produced (yet) in that revision, or gone from the cache
        return None


def mlflow_experiments(experiment: str, max_runs: int) -> list[Experiment]:
    """The latest `max_runs` runs of the MLflow experiment."""
    import tempfile

    import mlflow
    from mlflow.tracking import MlflowClient

    from . import tracking

    runs = tracking.latest_runs(experiment, max_runs)
    if not runs:
        raise TrackingError(f"no runs in MLflow experiment {experiment!r} at {tracking.masked(tracking.tracking_uri())}")
    client = MlflowClient(tracking.tracking_uri())
    experiments = []
    for run in runs:
        metrics = {k.removeprefix("eval."): v for k, v in run.data.metrics.items() if k.startswith("eval.")}
        batch = run.data.params.get("train.batch_size")
        curve = [(m.step * float(batch or 1), m.value) for m in client.get_metric_history(run.info.run_id, "fid")]
        with tempfile.TemporaryDirectory() as tmp:
            try:
                grid = Path(mlflow.artifacts.download_artifacts(  # where the sample stage logs its grid
                    run_id=run.info.run_id, artifact_path="samples/grid.png", dst_path=tmp,
                    tracking_uri=tracking.tracking_uri())).read_bytes()
            except Exception:  # a run that stopped before sample
                grid = None
        experiments.append(Experiment(run.info.run_name or run.info.run_id[:8], dict(run.data.params), metrics, grid,
                                      sorted(curve)))
    return experiments


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


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
        ax.legend(fontsize=8)
    fig.tight_layout()
    return _png(fig)


def _data_uri(data: bytes, kind: str = "png") -> str:
    return f"data:image/{kind};base64,{base64.b64encode(data).decode()}"


def comparison_html(experiments: list[Experiment], source: str) -> str:
    esc = html.escape
    experiments = sorted(experiments, key=lambda e: e.metrics.get("fid", float("inf")))
    differing = differing_params(experiments)
    shown = [m for m in KEY_METRICS if any(m[0] in e.metrics for e in experiments)]
    head = "".join(f"<th>{esc(k)}</th>" for k in differing) + "".join(f"<th>{esc(h)}</th>" for _, h, _, _ in shown)

    def metric_cell(e, name, fmt):
        if name not in e.metrics:
            return "<td>-</td>"
        real = e.metrics.get(name + "_real")
        reference = f' <span class="ref">({fmt.format(real)})</span>' if real is not None else ""
        return f"<td>{fmt.format(e.metrics[name])}{reference}</td>"

    rows = "".join(
        f'<tr class="experiment"><td>{esc(e.name)}</td>'
        + "".join(f"<td>{esc(json.dumps(e.params.get(k)))}</td>" for k in differing)
        + "".join(metric_cell(e, name, fmt) for name, _, fmt, _ in shown) + "</tr>" for e in experiments)
    legend = "".join(f"<li><b>{esc(h)}</b>: {esc(text)}.</li>" for _, h, _, text in shown)
    grids = "".join(f'<figure><img alt="samples of {esc(e.name)}" src="{_data_uri(e.grid)}"><figcaption>'
                    f"{esc(e.name)}</figcaption></figure>" for e in experiments if e.grid)
    same = "" if differing else "<p>All experiments share the same params.</p>"
    return f"""<h2>Experiments ({len(experiments)}, {esc(source)}), best FID first</h2>{same}
<table id="experiments"><tr><th>experiment</th>{head}</tr>{rows}</table>
<p>In brackets: the same metric for real training images against the test set, i.e. what a perfect
generator scores (the real-data reference). Every metric is computed in the feature space of this
project's Fashion-MNIST classifier on the test set.</p><ul>{legend}</ul>
<h2>Samples side by side</h2><div class="grids">{grids}</div>
<h2>FID by training images seen</h2><img alt="FID by images seen" src="{_data_uri(fid_overlay(experiments))}">"""


def workspace_html(root: Path) -> str:
    """The workspace's run in detail: every metric beside its reference, training facts, figures."""
    esc = html.escape
    metrics = json.loads((root / METRICS).read_text())

    def fmt(value):
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    rows = "".join(f"<tr><td>{esc(LABELS.get(k, k))}</td><td>{fmt(v)}</td><td>{fmt(metrics.get(k + '_real', ''))}</td></tr>"
                   for k, v in metrics.items() if not k.endswith("_real"))
    facts = "".join(f"<h3>{esc(title)}</h3><table>" + "".join(
        f"<tr><td>{esc(str(k))}</td><td>{esc(str(v))}</td></tr>" for k, v in json.loads((root / path).read_text()).items())
        + "</table>" for title, path in (("Training", TRAIN_SUMMARY), ("Classifier", CLASSIFIER_REPORT))
        if (root / path).is_file())
    figures = "".join(f'<h3>{esc(title)}</h3><img alt="{esc(title)}" src="'
                      f'{_data_uri((root / path).read_bytes(), path.suffix[1:])}">'
                      for title, path in FIGURES if (root / path).is_file())
    return f"""<h2>The workspace's run in detail</h2>
<table><tr><th>metric</th><th>generated</th><th>real-data reference</th></tr>{rows}</table>{facts}{figures}"""


def render(comparison: str, workspace: str) -> str:
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>fashiongan report</title>
<style>body{{font-family:sans-serif;max-width:75em;margin:2em auto}}td,th{{padding:.2em .8em;text-align:left}}
tr:nth-child(even){{background:#f3f3f3}}img{{max-width:100%}}.ref{{color:#777;font-size:85%}}
.grids{{display:flex;flex-wrap:wrap;gap:1em}}.grids figure{{margin:0;width:18em}}</style></head><body>
<h1>fashiongan report</h1>
{comparison}
{workspace}
</body></html>
"""


def write_report(root: Path = Path("."), mlflow_runs: int = 0, experiment: str = "fashiongan") -> Path:
    """reports/index.html over the DVC experiments, or over the latest `mlflow_runs` MLflow runs."""
    if mlflow_runs:
        experiments, source = mlflow_experiments(experiment, mlflow_runs), f"latest MLflow runs of {experiment!r}"
    else:
        experiments, source = dvc_experiments(root), "DVC experiments of the workspace"
    if not experiments and not (root / METRICS).is_file():
        raise MissingInput(f"{root / METRICS}: no metrics yet; run `dvc repro` first")
    workspace = workspace_html(root) if (root / METRICS).is_file() else ""
    write_text(root / REPORT, render(comparison_html(experiments, source), workspace))
    return root / REPORT
