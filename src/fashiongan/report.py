"""`fashiongan report` (`make report`): one self-contained reports/index.html comparing experiments:
every DVC experiment of the workspace (what `dvc exp show --json` lists, the workspace included),
or the latest N MLflow runs. One table per ruler (numbers from two rulers are never ranked together),
one row per recipe (experiments whose params differ only in `seed`, each metric as mean ± std over
seeds), best mean FID first, the rows within the seed spread of the best marked; the params that
differ, the key metrics (each explained, beside its real-data reference), the sample grids side by
side, FID by images seen overlaid per ruler, and then the workspace's own run in detail. Every image
is inlined, so the page opens offline, unlike `dvc plots show`'s, which loads its charting library from a CDN.
"""

from __future__ import annotations

import base64
import html
import io
import json
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

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
    "label_cross_entropy": "label cross-entropy", "n": "images per side", "ruler": "ruler id (see docs/ruler.md)",
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
    ruler: str | None = None  # id of the feature network every metric was measured with; None: not recorded
    status: str = ""  # an MLflow run's status


def flatten(tree: dict, prefix: str = "") -> dict[str, object]:
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out


def differing_params(experiments: list[Experiment]) -> list[str]:
    """Params keys whose values differ between experiments; `seed` is not a difference of recipe."""
    keys = sorted({key for e in experiments for key in e.params} - {"seed"})
    return [k for k in keys if len({json.dumps(e.params.get(k)) for e in experiments}) > 1]


@dataclass
class Recipe:
    """Experiments on one ruler whose params are equal except `seed`: one row, their metrics over seeds."""

    experiments: list[Experiment]

    @property
    def names(self) -> list[str]:
        return [e.name for e in self.experiments]

    @property
    def per_seed(self) -> list[Experiment]:
        """The first experiment of each seed: another one with the same params and seed (the workspace and the
        commit it came from, a re-run) is the same draw again, not one more sample of the seed noise."""
        first: dict[str, Experiment] = {}
        for e in self.experiments:
            first.setdefault(str(e.params.get("seed")), e)  # str: DVC gives 42, MLflow "42"
        return list(first.values())

    @property
    def seeds_text(self) -> str:
        seeds = sorted((str(e.params.get("seed")) for e in self.per_seed), key=lambda s: (len(s), s))  # ints >= 0
        return seeds[0] if len(seeds) == 1 else f"{len(seeds)} ({', '.join(seeds)})"

    def values(self, metric: str) -> list[float]:
        return [e.metrics[metric] for e in self.per_seed if metric in e.metrics]

    def mean(self, metric: str) -> float | None:
        values = self.values(metric)
        return float(np.mean(values)) if values else None

    def text(self, metric: str, fmt: str) -> str | None:
        """Mean ± sample std over seeds, the value alone for one seed; None when no seed has the metric."""
        values = self.values(metric)
        if len(values) < 2:
            return fmt.format(values[0]) if values else None
        return f"{fmt.format(np.mean(values))} ± {fmt.format(np.std(values, ddof=1))}"


def recipes(experiments: list[Experiment], fid: str = "fid") -> list[Recipe]:
    """Experiments grouped by their params except `seed`, best mean FID first. Those without an FID (failed,
    unfinished) are rows of their own, last: they are never averaged in with finished ones."""
    groups: dict[tuple[str, bool], list[Experiment]] = {}
    for e in experiments:
        recipe_params = {k: v for k, v in e.params.items() if k != "seed"}
        groups.setdefault((json.dumps(recipe_params, sort_keys=True), fid in e.metrics), []).append(e)
    grouped = [Recipe(members) for members in groups.values()]
    return sorted(grouped, key=lambda r: r.mean(fid) if fid in r.experiments[0].metrics else float("inf"))


def seed_spread(recipes: list[Recipe], fid: str = "fid") -> float | None:
    """Pooled sample std of FID over the recipes with 2 or more seeds (the square root of their variances'
    mean weighted by degrees of freedom, n - 1 each); None when no recipe has 2 seeds."""
    samples = [values for values in (r.values(fid) for r in recipes) if len(values) >= 2]
    if not samples:
        return None
    variances = sum((len(values) - 1) * np.var(values, ddof=1) for values in samples)
    return float(np.sqrt(variances / sum(len(values) - 1 for values in samples)))


SEED_SPREAD_UNKNOWN = ("Seed spread unknown: no recipe here has 2 or more seeds, so an FID difference cannot be told "
                       "from seed noise. Measure it: `dvc exp run --queue -S seed=1,2,3 ...` (the recipe's other -S "
                       "overrides in place of ...), then `dvc queue start`.")


def ruler_name(ruler: str | None) -> str:
    return f"ruler {ruler}" if ruler else "an unknown ruler, none recorded"


@dataclass
class RulerTable:
    """The recipes measured with one ruler, best mean FID first, and the seed spread of their FIDs."""

    ruler: str | None
    recipes: list[Recipe]
    sigma: float | None  # seed_spread of the recipes
    fid: str  # the FID's key in Experiment.metrics

    @property
    def experiments(self) -> list[Experiment]:
        return [e for recipe in self.recipes for e in recipe.experiments]

    def heading(self, first: bool) -> str:
        apart = " (see docs/ruler.md)" if first else ", not comparable with the above"
        return f"Measured with {ruler_name(self.ruler)}{apart}; best mean FID first"

    def spread_cell(self, recipe: Recipe) -> str:
        """Marks a row whose mean FID is within sigma of the best row's: a difference that small is no win."""
        best, mean = self.recipes[0].mean(self.fid), recipe.mean(self.fid)
        if recipe is self.recipes[0] or self.sigma is None or mean is None or abs(mean - best) >= self.sigma:
            return ""
        return f"within seed spread of #1 (sigma {self.sigma:.2f})"

    @property
    def note(self) -> str:
        if self.sigma is None:
            return SEED_SPREAD_UNKNOWN
        pooled = sum(len(r.values(self.fid)) >= 2 for r in self.recipes)
        return (f"Seed spread sigma {self.sigma:.2f}: the pooled sample std of FID over the {pooled} recipe(s) with "
                f"2 or more seeds. A row within sigma of #1 is marked: its difference is seed noise, not a win.")


def ruler_tables(experiments: list[Experiment], first_ruler: str | None, fid: str = "fid") -> list[RulerTable]:
    """One table per ruler: `first_ruler`'s first (when an experiment has it), the others as they first appear."""
    by_ruler: dict[str | None, list[Experiment]] = {}
    for e in experiments:
        by_ruler.setdefault(e.ruler, []).append(e)
    tables = []
    for ruler in sorted(by_ruler, key=lambda r: r != first_ruler):  # stable: the rest keep their order
        grouped = recipes(by_ruler[ruler], fid)
        tables.append(RulerTable(ruler, grouped, seed_spread(grouped, fid), fid))
    return tables


def most_experiments_ruler(experiments: list[Experiment]) -> str | None:
    return Counter(e.ruler for e in experiments).most_common(1)[0][0] if experiments else None


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
        metrics = dict((data.get("metrics") or {}).get(str(METRICS), {}).get("data") or {})
        ruler = metrics.pop("ruler", None)  # a string beside the numbers
        at = None if rev == "workspace" else rev
        curve = _read_at(root, at, FID_HISTORY)
        experiments.append(Experiment(name, params, metrics, _read_at(root, at, GRID, "rb"),
                                      fid_curve(curve, params.get("train.batch_size")) if curve else [], ruler))
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
                                      sorted(curve), run.data.tags.get("ruler")))
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


def comparison_html(experiments: list[Experiment], source: str, first_ruler: str | None) -> str:
    """The experiments' tables, one per ruler (`first_ruler`'s first), their legend, grids and FID curves."""
    esc = html.escape
    tables = ruler_tables(experiments, first_ruler)
    ranked = [e for table in tables for e in table.experiments]
    shown = [m for m in KEY_METRICS if any(m[0] in e.metrics for e in experiments)]

    def metric_cell(recipe, name, fmt):
        value, real = recipe.text(name, fmt), recipe.text(name + "_real", fmt)
        reference = f' <span class="ref">({real})</span>' if real is not None else ""
        return "<td>-</td>" if value is None else f"<td>{value}{reference}</td>"

    def table_html(table, first):
        differing = differing_params(table.experiments)
        head = "".join(f"<th>{esc(k)}</th>" for k in differing) + "".join(f"<th>{esc(h)}</th>" for _, h, _, _ in shown)
        rows = "".join(
            '<tr class="experiment"><td>' + ", ".join(f'<span class="name">{esc(n)}</span>' for n in recipe.names)
            + f"</td><td>{esc(recipe.seeds_text)}</td>"
            + "".join(f"<td>{esc(json.dumps(recipe.experiments[0].params.get(k)))}</td>" for k in differing)
            + "".join(metric_cell(recipe, name, fmt) for name, _, fmt, _ in shown)
            + f"<td>{esc(table.spread_cell(recipe))}</td></tr>" for recipe in table.recipes)
        same = "" if differing else "<p>All these experiments share the same params, seeds apart.</p>"
        return (f"<h3>{esc(table.heading(first))}</h3>{same}<table class=\"experiments\"><tr><th>experiment</th>"
                f"<th>seeds</th>{head}<th>seed spread</th></tr>{rows}</table><p>{esc(table.note)}</p>")

    legend = "".join(f"<li><b>{esc(h)}</b>: {esc(text)}.</li>" for _, h, _, text in shown)
    grids = "".join(f'<figure><img alt="samples of {esc(e.name)}" src="{_data_uri(e.grid)}"><figcaption>'
                    f"{esc(e.name)}</figcaption></figure>" for e in ranked if e.grid)
    curves = "".join(f'<h3>{esc(ruler_name(table.ruler))}</h3><img alt="FID by images seen, '
                     f'{esc(ruler_name(table.ruler))}" src="{_data_uri(fid_overlay(table.experiments))}">'
                     for table in tables if any(e.fid_curve for e in table.experiments))
    return f"""<h2>Experiments ({len(experiments)}, {esc(source)})</h2>
<p>One table per ruler: numbers measured with different rulers are never ranked together. One row per recipe
(experiments whose params differ only in seed): each metric is the mean ± sample std over its seeds.</p>
{"".join(table_html(table, i == 0) for i, table in enumerate(tables))}
<p>In brackets: the same metric for real training images against the test set, i.e. what a perfect
generator scores (the real-data reference), measured with the same ruler as the row: the classifier in whose
feature space every metric is computed (see docs/ruler.md).</p><ul>{legend}</ul>
<h2>Samples side by side</h2><div class="grids">{grids}</div>
<h2>FID by training images seen</h2>{curves}"""


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
    if (root / METRICS).is_file():  # the workspace's ruler leads
        workspace, first_ruler = workspace_html(root), json.loads((root / METRICS).read_text()).get("ruler")
    else:
        workspace, first_ruler = "", most_experiments_ruler(experiments)
    write_text(root / REPORT, render(comparison_html(experiments, source, first_ruler), workspace))
    return root / REPORT
