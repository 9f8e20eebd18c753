"""`fashiongan report` (`make report`): one self-contained reports/index.html comparing experiments:
every DVC experiment of the workspace (what `dvc exp show --json` lists, the workspace included),
or the latest N MLflow runs, ranked as ranking.py ranks them: one table per ruler, one row per recipe,
best mean FID first, the rows within the seed spread of the best marked; the params that differ, the key
metrics (each explained, beside its real-data reference), the sample grids side by side, FID by images seen
overlaid per ruler, and then the workspace's own run in detail. The page is templates/report.html.j2; every
image is inlined, so it opens offline, unlike `dvc plots show`'s, which loads its charting library from a CDN.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import jinja2

from ..errors import MissingInput, TrackingError
from ..io import step_series, write_text
from ..paths import CLASSIFIER_REPORT, FID_HISTORY, GRID, LOSSES_PLOT, METRICS, REPORT, TRAIN_SUMMARY
from ..paths import FIGURES as FIGURES_DIR
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


def dotted_params(tree: dict, prefix: str = "") -> dict[str, object]:
    """DVC's nested params JSON as dotted keys (`train.batch_size`), as MLflow's params are named."""
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(dotted_params(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out


def fid_curve_points(points, batch_size, d_steps) -> list[tuple[float, float]]:
    """(step, FID) -> (real images seen, FID): D sees train.d_steps batches of train.batch_size a step."""
    per_step = float(batch_size or 1) * float(d_steps or 1)
    return sorted((step * per_step, fid) for step, fid in points)


def fid_curve(csv_text: str, batch_size, d_steps) -> list[tuple[float, float]]:
    """reports/train/fid.csv (step, fid, seconds) -> (images seen, FID)."""
    return fid_curve_points(step_series(csv_text)["fid"], batch_size, d_steps)


def dvc_experiments(root: Path) -> list[Experiment]:
    """What `dvc exp show --json` lists: the workspace, its baseline commit and the experiments on it."""
    command = [sys.executable, "-m", "dvc", "exp", "show", "--json"]
    shown = subprocess.run(command, cwd=root, capture_output=True, text=True)
    if shown.returncode != 0:
        reason = (shown.stderr.strip() or "failed").splitlines()[-1]
        raise MissingInput(f"dvc exp show in {root.resolve()}: {reason}")
    entries = []
    for baseline in json.loads(shown.stdout):
        name = "workspace" if baseline["rev"] == "workspace" else baseline.get("name") or baseline["rev"][:7]
        entries.append((baseline["rev"], name, baseline.get("data")))
        for experiment in baseline.get("experiments") or []:
            revision = experiment["revs"][0]
            name = revision.get("name") or revision["rev"][:7]
            entries.append((revision["rev"], name, revision.get("data")))
    experiments = []
    for rev, name, data in entries:
        if not data:  # queued or failed: nothing to show
            continue
        params = dotted_params((data.get("params") or {}).get("params.yaml", {}).get("data") or {})
        metrics = dict((data.get("metrics") or {}).get(str(METRICS), {}).get("data") or {})
        ruler = metrics.pop("ruler", None)  # strings beside the numbers
        identity = {"code": metrics.pop("train_inputs", None)}  # evaluate.n, sample.* are params here
        at = None if rev == "workspace" else rev
        fid_log, grid = _read_at(root, at, FID_HISTORY), _read_at(root, at, GRID, "rb")
        curve = (
            fid_curve(fid_log, params.get("train.batch_size"), params.get("train.d_steps")) if fid_log else []
        )
        experiments.append(Experiment(name, params, metrics, grid, curve, ruler, identity=identity))
    return experiments


def _read_at(root: Path, rev: str | None, path: Path, mode: str = "r"):
    """A file as it is in a revision (None: the workspace), git-tracked or in DVC's cache; None if absent."""
    import dvc.api

    try:
        return dvc.api.read(str(path), repo=str(root), rev=rev, mode=mode)
    except Exception:  # not produced (yet) in that revision, or gone from the cache
        return None


def mlflow_experiments(experiment: str, max_runs: int) -> list[Experiment]:
    """The latest `max_runs` training runs of the MLflow experiment, each once per evaluation (compare's rows)."""
    import tempfile

    from mlflow.tracking import MlflowClient

    from ..tracking.evaluation import IDENTITY_PARAMS as EVALUATION_PARAMS
    from ..tracking.outage import masked
    from ..tracking.store import tracking_uri
    from .compare import evaluated_runs, run_experiment

    pairs = evaluated_runs(experiment, max_runs)
    if not pairs:
        raise TrackingError(f"no runs in MLflow experiment {experiment!r} at {masked(tracking_uri())}")
    client = MlflowClient(tracking_uri())
    experiments = []
    for run, evaluation in pairs:
        found = run_experiment(run, evaluation)
        # the evaluation's params beside the training's, as a DVC experiment's params.yaml holds them: the
        # page shows them where they differ
        found.params |= {key: found.identity[key] for key in EVALUATION_PARAMS if key in found.identity}
        found.metrics = {
            k.removeprefix("eval."): v for k, v in found.metrics.items() if k.startswith("eval.")
        }
        params = run.data.params
        history = client.get_metric_history(run.info.run_id, "fid")
        found.fid_curve = fid_curve_points(
            [(m.step, m.value) for m in history], params.get("train.batch_size"), params.get("train.d_steps")
        )
        # where evaluate logs sample's grid (older fashiongan: the training run); none before sample ran
        with tempfile.TemporaryDirectory() as tmp, contextlib.suppress(Exception):
            found.grid = Path(
                client.download_artifacts((evaluation or run).info.run_id, "samples/grid.png", tmp)
            ).read_bytes()
        experiments.append(found)
    return experiments


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
