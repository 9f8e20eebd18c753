"""MLflow: where the store is, one run across the train/sample/evaluate stages, batched logging.

The store is `MLFLOW_TRACKING_URI` when set, else `sqlite:///<repo>/mlflow.db` with artifacts in
`<repo>/mlruns`, as absolute paths from `DVC_ROOT`: queued DVC experiments run in a temporary
copy of the repo that is deleted afterwards, and must still write to the repo's store.
"""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
# MLflow's HTTP client retries a dead server for minutes per call by default; a training run
# should notice in seconds and go on without it (see _survives_outage).
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
# A stage prints one line per event: MLflow's progress bars for a model's few files and its INFO
# lines (creating tables, validating the input example) are noise in a DVC log.
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")

import filelock  # noqa: E402

from .errors import MissingInput, ModelFileError, TrackingError  # noqa: E402
from .paths import (FID_LOG, HISTORY_LOG, METRICS, MLFLOW_DB, MLFLOW_LOCK, MLRUNS, RUN_FILE, SERVER_ARTIFACTS,  # noqa: E402
                    SERVER_DB, TRAIN_STATE)

# The MLflow UI opens an experiment on the view of its kind; untagged ones open on the GenAI
# overview (traces, token usage) instead of the training runs.
EXPERIMENT_TAGS = {"mlflow.experimentKind": "custom_model_development"}


def repo_root() -> Path:
    return Path(os.environ.get("DVC_ROOT") or os.getcwd()).resolve()


def tracking_uri(root: Path | None = None) -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{(root or repo_root()) / MLFLOW_DB}"


def server_command(root: Path, host: str, port: int) -> tuple[list[str], dict]:
    """`mlflow server` for a team: SQLite store and proxied artifacts under `root`, one worker and
    no job runner (the defaults start 4 workers and job processes: ~3 GB and ~30 s here)."""
    command = [sys.executable, "-m", "mlflow", "server",
               "--backend-store-uri", f"sqlite:///{root / SERVER_DB}",
               "--artifacts-destination", str(root / SERVER_ARTIFACTS), "--serve-artifacts",
               "--host", host, "--port", str(port), "--workers", "1"]
    return command, os.environ | {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}


def masked(uri: str) -> str:
    """The text (a URI, or an error message quoting one) with any user:password replaced."""
    return re.sub(r"//[^/@\s]+@", "//***@", uri)


def git_commit(root: Path) -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
    except OSError:
        return None
    return out.stdout.strip() or None


def _survives_outage(method):
    """Once the store stops answering mid-run, warn once and go on without it: a stage's outputs
    matter more than its tracking, every per-step metric is also in the train stage's CSVs, and
    `fashiongan tracking sync` re-sends what MLflow missed."""
    @functools.wraps(method)
    def guarded(self, *args, **kwargs):
        from mlflow.exceptions import MlflowException

        if self.lost is not None:
            return None
        try:
            return method(self, *args, **kwargs)
        except (MlflowException, OSError) as e:
            if self.lost is not None:  # a nested guarded call already warned
                return None
            self.lost = masked(f"{type(e).__name__}: {(str(e).splitlines() or [''])[0]}")[:300]
            print(f"fashiongan: warning: MLflow store {masked(tracking_uri())} stopped answering ({self.lost}); "
                  "going on without it. The metrics stay in models/checkpoints/*.csv and reports/: "
                  "re-send them with `fashiongan tracking sync` once the store is back", file=sys.stderr)
            return None
    return guarded


class Run:
    """One MLflow run, written through MlflowClient (no global fluent state across stages)."""

    def __init__(self, client, run_id: str):
        self.client, self.run_id = client, run_id
        self._pending = []
        self.lost = None  # why the store stopped answering, once it has

    def log_params(self, params: dict) -> None:
        from mlflow.entities import Param

        items = [Param(k, str(v)) for k, v in params.items()]
        for start in range(0, len(items), 100):
            self.client.log_batch(self.run_id, params=items[start:start + 100])

    @_survives_outage
    def log_series(self, series: dict[str, list[tuple[int, float]]]) -> None:
        """Many (step, value) pairs per metric, sent in batches in the background."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(name, float(value), now, int(step)) for name, points in series.items()
                   for step, value in points]
        for start in range(0, len(metrics), 1000):
            self._pending.append(self.client.log_batch(self.run_id, metrics=metrics[start:start + 1000],
                                                       synchronous=False))

    def last_step(self, key: str) -> int:
        """The highest step logged for metric `key` (-1 if none): what a resumed run already sent."""
        return max((m.step for m in self.client.get_metric_history(self.run_id, key)), default=-1)

    @_survives_outage
    def log_image(self, image, key: str, step: int) -> None:
        # synchronous must be explicit: MLflow 3.17 treats None as asynchronous here, and the
        # queued image is lost when the process exits before its background thread flushes.
        self.client.log_image(self.run_id, image, key=key, step=step, synchronous=True)

    @_survives_outage
    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        self.client.log_artifact(self.run_id, str(path), artifact_path)

    @_survives_outage
    def log_generator(self, path: Path, register_as: str | None = None, description: str = "") -> str:
        """The .keras generator as an MLflow pyfunc model at `runs:/<run>/generator` (signature and
        input example included), optionally registered; returns the model URI."""
        from importlib.metadata import version

        import keras
        import mlflow
        import numpy as np
        from mlflow.models import ModelSignature
        from mlflow.types import Schema, TensorSpec

        from .io import load_model
        from .models import Generator

        generator = Generator(load_model(path))
        inputs = [TensorSpec(np.dtype(np.float32), (-1, generator.latent_dim), "z")]
        example = {"z": np.random.default_rng(0).standard_normal((2, generator.latent_dim)).astype(np.float32)}
        if generator.conditional:
            inputs.append(TensorSpec(np.dtype(np.int32), (-1,), "label"))
            example["label"] = np.array([0, generator.classes - 1], np.int32)  # the first and last class
        signature = ModelSignature(Schema(inputs), Schema([TensorSpec(np.dtype(np.float32), (-1, 28, 28, 1))]))
        mlflow.set_tracking_uri(self.client.tracking_uri)
        # The fluent API is the only way to log a model; resuming the run and leaving the context
        # would end it, so the run stays active (and is ended by the caller, as every stage does).
        mlflow.start_run(run_id=self.run_id)
        with warnings.catch_warnings():
            # The signature is given, so predict needs no type hints. MLflow wraps log_model in its
            # own "once" filter, which overrides an "ignore" filter: drop the line where it is shown.
            show = warnings.showwarning
            warnings.showwarning = lambda message, *args, **kwargs: None if "type hints to the `predict`" in str(
                message) else show(message, *args, **kwargs)
            info = mlflow.pyfunc.log_model(
                name="generator", python_model=str(Path(__file__).with_name("mlflow_model.py")),
                artifacts={"generator": str(path)}, model_config={"conditional": generator.conditional,
                                                                 "classes": generator.classes},
                signature=signature, input_example=example,
                pip_requirements=[f"tensorflow=={version('tensorflow')}", f"keras=={keras.__version__}",
                                  f"mlflow=={mlflow.__version__}"],
                registered_model_name=register_as)
        if register_as:
            self.client.update_model_version(register_as, info.registered_model_version, description)
        return info.model_uri

    @_survives_outage
    def set_tags(self, tags: dict) -> None:
        for key, value in tags.items():
            if value is not None:
                self.client.set_tag(self.run_id, key, str(value))

    @_survives_outage
    def flush(self) -> None:
        for operation in self._pending:
            operation.wait()
        self._pending = []

    @_survives_outage
    def end(self, status: str = "FINISHED") -> None:
        import mlflow

        self.flush()
        if (active := mlflow.active_run()) and active.info.run_id == self.run_id:
            mlflow.end_run(status)
        else:
            self.client.set_terminated(self.run_id, status=status)


class NoRun(Run):
    """tracking.enabled: false: every call is a no-op; DVC metrics and plots are still written."""

    def __init__(self):
        self.run_id, self.lost = None, None

    def log_params(self, params):
        pass

    def log_series(self, series):
        pass

    def last_step(self, key):
        return -1

    def log_image(self, image, key, step):
        pass

    def log_generator(self, path, register_as=None, description=""):
        return None

    def log_artifact(self, path, artifact_path=None):
        pass

    def set_tags(self, tags):
        pass

    def flush(self):
        pass

    def end(self, status="FINISHED"):
        pass


def client_for_experiment(name: str):
    """An MlflowClient and experiment id, creating the store and experiment under a file lock
    (two queued experiments that start together on a fresh SQLite store otherwise both fail)."""
    from mlflow.tracking import MlflowClient

    root = repo_root()
    uri = tracking_uri(root)
    if uri.startswith(("http://", "https://")):
        _check_server(uri)
    with filelock.FileLock(str(root / MLFLOW_LOCK), timeout=120):
        client = MlflowClient(uri)
        try:
            experiment = client.get_experiment_by_name(name)
            experiment_id = experiment.experiment_id if experiment else client.create_experiment(
                name, artifact_location=(root / MLRUNS).as_uri() if uri.startswith("sqlite") else None,
                tags=EXPERIMENT_TAGS)
        except Exception as e:  # any store failure: one line naming the store
            reason = masked(str(e).splitlines()[0])  # MLflow's own messages repeat the URI, credentials and all
            raise TrackingError(f"MLflow store {masked(uri)}: {type(e).__name__}: {reason}") from None
    return client, experiment_id


def _check_server(uri: str, timeout: float = 5.0) -> None:
    """Fail in seconds when the server is down: MLflow's own client retries for minutes."""
    import urllib.error
    import urllib.parse
    import urllib.request

    parts = urllib.parse.urlsplit(uri)
    health = urllib.parse.urlunsplit((parts.scheme, parts.hostname + (f":{parts.port}" if parts.port else ""),
                                      parts.path.rstrip("/") + "/health", "", ""))
    try:
        urllib.request.urlopen(health, timeout=timeout).close()
    except (urllib.error.URLError, OSError) as e:
        raise TrackingError(f"MLflow server {masked(uri)} is not reachable ({getattr(e, 'reason', e)}); "
                            "start it, fix MLFLOW_TRACKING_URI, or set tracking.enabled: false") from None


def start_run(experiment: str, resume_run_id: str | None = None, tags: dict | None = None) -> Run:
    client, experiment_id = client_for_experiment(experiment)
    if resume_run_id:
        client.update_run(resume_run_id, status="RUNNING")
        return Run(client, resume_run_id)
    run = client.create_run(experiment_id, run_name=os.environ.get("DVC_EXP_NAME"), tags=tags or {})
    return Run(client, run.info.run_id)


def provenance_tags() -> dict:
    """The code and the DVC experiment a run came from."""
    return {"git_commit": git_commit(repo_root()), "dvc_exp": os.environ.get("DVC_EXP_NAME")}


def write_run_file(run: Run, path: Path = RUN_FILE) -> None:
    """The run that sample and evaluate append to. Only its id: the store is wherever
    MLFLOW_TRACKING_URI (or the repo's mlflow.db) points, and no machine's path is committed."""
    from .io import write_json

    write_json(path, {"run_id": run.run_id})


def open_run(run_id: str | None) -> Run:
    """An existing run, to append to (NoRun for None: the run was made with tracking off)."""
    if run_id is None:
        return NoRun()
    from mlflow.tracking import MlflowClient

    return Run(MlflowClient(tracking_uri()), run_id)


def continue_run(enabled: bool, path: Path = RUN_FILE) -> Run:
    """The run opened by `train`, for `sample` and `evaluate` to append to."""
    return open_run(json.loads(path.read_text())["run_id"]) if enabled else NoRun()


def sync(run: Run, series: dict[str, list[tuple[int, float]]]) -> tuple[int, dict[str, int]]:
    """Send the points of each series past the last step MLflow holds (after an outage).
    Returns how many were sent and, per series, the last step MLflow now holds. Idempotent: a
    second call sends nothing."""
    missing, held = {}, {}
    for name, points in series.items():
        last = run.last_step(name)
        missing[name] = [(step, value) for step, value in points if step > last]
        held[name] = max([last, *(step for step, _ in missing[name])])
    run.log_series(missing)
    run.flush()
    if run.lost:
        raise TrackingError(f"MLflow store {masked(tracking_uri())}: {run.lost}")
    return sum(len(points) for points in missing.values()), held


def sync_saved(enabled: bool) -> str:
    """`fashiongan tracking sync`: send the latest training run's per-step metrics (and its final
    metrics, once evaluate has written them) that MLflow missed while its store was away."""
    from .io import StepLog

    if not enabled:
        return "tracking.enabled is false: nothing to sync"
    run_id = json.loads(TRAIN_STATE.read_text()).get("run_id") if TRAIN_STATE.is_file() else None
    if run_id is None:
        raise MissingInput(f"{TRAIN_STATE}: no tracked training run to sync; run `dvc repro` first")
    run = open_run(run_id)
    series = StepLog.open(HISTORY_LOG).series() | {"fid": StepLog.open(FID_LOG).series()["fid"]}
    if METRICS.is_file():
        series |= {f"eval.{k}": [(0, v)] for k, v in json.loads(METRICS.read_text()).items()}
    sent, _ = sync(run, series)
    return f"tracking sync: {sent} metric values sent to run {run.run_id} in {masked(tracking_uri())}"


def generator_file(spec: str) -> Path:
    """A generator's .keras file from a path, or from an MLflow model URI (runs:/<id>/generator,
    models:/<name>/<version>), downloaded from the tracking store."""
    if not spec.startswith(("runs:/", "models:/")):
        return Path(spec)
    import mlflow

    uri = tracking_uri()
    mlflow.set_tracking_uri(uri)
    try:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=spec))
    except Exception as e:  # MLflow raises several kinds for an unknown run, model or version
        raise ModelFileError(f"{spec}: not found in MLflow store {masked(uri)} "
                             f"({masked(str(e).splitlines()[0] if str(e) else type(e).__name__)})") from None
    found = sorted(local.glob("artifacts/*.keras"))
    if not found:
        raise ModelFileError(f"{spec}: the model holds no .keras generator (is it a fashiongan generator?)")
    return found[0]


def latest_runs(experiment: str, max_runs: int) -> list:
    """The experiment's latest runs (mlflow Run objects), newest first; [] when it has none."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri())
    found = client.get_experiment_by_name(experiment)
    return client.search_runs([found.experiment_id], max_results=max_runs,
                              order_by=["attributes.start_time DESC"]) if found else []
