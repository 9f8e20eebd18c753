"""The experiments the report compares, each with its params, metrics, sample grid and FID curve (by real
images seen): every DVC experiment of the workspace (what `dvc exp show --json` lists, the workspace
included, each file read at its revision), or the latest MLflow training runs, once per evaluation."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from pathlib import Path

from ..errors import MissingInput, TrackingError
from ..io import step_series
from ..paths import FID_HISTORY, GRID, METRICS
from .ranking import Experiment


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
