"""MLflow: where the store is, one run across the train/sample/evaluate stages, batched logging.

The store is `MLFLOW_TRACKING_URI` when set, else `sqlite:///<repo>/mlflow.db` with artifacts in
`<repo>/mlruns`, as absolute paths from `DVC_ROOT`: queued DVC experiments run in a temporary
copy of the repo that is deleted afterwards, and must still write to the repo's store.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import json
import logging
import os
import re
import sqlite3
import subprocess
import sys
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
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
# MLflow's SQL store logs a traceback for every database error it re-raises; the error itself
# reaches the user as one line (see _survives_outage).
logging.getLogger("mlflow.store.db.utils").setLevel(logging.CRITICAL)

import filelock  # noqa: E402

from .errors import MissingInput, ModelFileError, TrackingError  # noqa: E402
from .io import file_digest  # noqa: E402
from .paths import (DATA_REPORT, FID_LOG, FIGURES, GENERATOR, GRID, HISTORY_LOG, LOSSES_PLOT, METRICS,  # noqa: E402
                    METRICS_DETAILS, MLFLOW_DB, MLFLOW_LOCK, MLRUNS, RUN_FILE, SERVER_ARTIFACTS, SERVER_DB,
                    TRAIN_STATE, TRAIN_SUMMARY)

# Marks the experiment as model training, so the MLflow UI asks no "choose an experiment type".
# Which view a fresh browser opens is still the browser's choice (GenAI by default in MLflow 3.17):
# `make ui` prints the URL that opens the training runs.
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


# Statuses with which a server, or a proxy before it, says it cannot serve now. MLflow retries
# them, then raises requests' RetryError, whose message (urllib3's) is the only place naming the status.
_UNAVAILABLE_STATUSES = {502, 503, 504}
# SQLite's primary result codes for a database that another process holds or that cannot be opened.
_SQLITE_AWAY = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_CANTOPEN}
# A network mount (of the database or the artifacts) whose server went away.
_NETWORK_ERRNOS = {errno.ESTALE, errno.ENOTCONN, errno.EHOSTDOWN, errno.EHOSTUNREACH, errno.ENETUNREACH}


def _causes(error: BaseException) -> list[BaseException]:
    """`error` and what it was raised from or during: MLflow wraps the requests or SQLite error
    that says what happened, sometimes with `from`, sometimes inside an `except` block."""
    chain = []
    while error is not None and not any(error is seen for seen in chain):
        chain.append(error)
        error = error.__cause__ or error.__context__
    return chain


def is_outage(error: BaseException) -> bool:
    """Whether the store is out of reach (no connection, no answer in time, the server or the
    database unavailable), as opposed to answering and refusing this request (a bad value, an
    unknown run, a full disk), which is an error of its own."""
    import requests

    for cause in _causes(error):
        if isinstance(cause, (requests.ConnectionError, requests.Timeout, ConnectionError, TimeoutError)):
            return True
        if isinstance(cause, requests.exceptions.RetryError):
            status = re.search(r"too many (\d{3}) error responses", str(cause))
            return status is not None and int(status[1]) in _UNAVAILABLE_STATUSES
        if isinstance(cause, sqlite3.Error) and getattr(cause, "sqlite_errorcode", None) is not None:
            return cause.sqlite_errorcode & 0xFF in _SQLITE_AWAY  # extended codes keep the primary in the low byte
        if isinstance(cause, OSError) and cause.errno in _NETWORK_ERRNOS:
            return True
    return False


def _reason(error: BaseException) -> str:
    """One line: MLflow's error code (or the exception's type) and the first line of its message."""
    kind = getattr(error, "error_code", None) or type(error).__name__
    return masked(f"{kind}: {(str(error).splitlines() or [''])[0]}")[:300]


@contextlib.contextmanager
def _one_line_errors(uri: str):
    """Any MLflow failure as one line naming the store: for commands that cannot go on without it."""
    import requests
    from mlflow.exceptions import MlflowException

    try:
        yield
    except (MlflowException, requests.RequestException) as e:
        raise TrackingError(f"MLflow store {masked(uri)}: {_reason(e)}") from None


def _survives_outage(method):
    """Once the store stops answering mid-run, warn once and go on without it: a stage's outputs
    matter more than its tracking, every per-step metric is also in the train stage's CSVs, and
    `fashiongan tracking sync` re-sends what MLflow missed. A store that answers and refuses a
    request, or a full disk, stops the stage with one line naming the call and the reason."""
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
            if not is_outage(e):
                raise TrackingError(f"MLflow store {masked(self.client.tracking_uri)}: {method.__name__} failed: "
                                    f"{_reason(e)}") from None
            self.lost = _reason(e)
            self._stop_sending()
            print(f"fashiongan: warning: MLflow store {masked(self.client.tracking_uri)} stopped answering "
                  f"({self.lost}); going on without it. The metrics stay in models/checkpoints/*.csv and reports/: "
                  "re-send them with `fashiongan tracking sync` once the store is back", file=sys.stderr)
            return None
    return guarded


def _restore_experiment(client, experiment) -> None:
    client.restore_experiment(experiment.experiment_id)
    print(f"fashiongan: MLflow experiment {experiment.name!r} (id {experiment.experiment_id}) had been deleted; "
          "restored it, and with it its runs as MLflow does, to record into it (`mlflow gc` removes a deleted "
          "experiment for good, and a new one can then take its name)", file=sys.stderr)


def _restore_run(client, run_id: str) -> None:
    """A run deleted in the UI cannot be written to: restore it (and its experiment, if deleted)."""
    from mlflow.entities import LifecycleStage

    info = client.get_run(run_id).info
    if info.lifecycle_stage != LifecycleStage.DELETED:
        return
    experiment = client.get_experiment(info.experiment_id)
    if experiment.lifecycle_stage == LifecycleStage.DELETED:
        _restore_experiment(client, experiment)  # restores the experiment's runs, this one included
    else:
        client.restore_run(run_id)
        print(f"fashiongan: MLflow run {run_id} had been deleted; restored it to go on recording into it",
              file=sys.stderr)


def model_description(metrics: dict) -> str:
    """What a registered generator version says of itself: evaluate's headline metrics."""
    return (f"FID {metrics['fid']:.3f} (real-data floor {metrics['fid_real']:.3f}, n={metrics['n']}); "
            f"KID {metrics['kid']:.4f}, precision {metrics['precision']:.3f}, recall {metrics['recall']:.3f}")


def evaluation_files() -> list[Path]:
    """What evaluate logs into the run's `evaluation/` artifacts."""
    return [METRICS, METRICS_DETAILS, *sorted(FIGURES.glob("*.png")), *sorted(FIGURES.glob("*.gif"))]


# The split of the data each context uses: train learns from the training set, evaluate scores
# against the test set. The contexts are MLflow's `mlflow.data.context` input tag.
DATASET_SPLITS = {"training": "train", "evaluation": "test"}


def dataset_input(data_report: dict, context: str):
    """The MLflow dataset input for the split `context` uses, from prepare's report (reports/data.json):
    the arrays are not read or hashed again. Its digest is the sha256 of the split's two IDX files'
    sha256s and its image count (data.train_limit keeps the first images of the training files)."""
    import numpy as np
    from mlflow.data.http_dataset_source import HTTPDatasetSource
    from mlflow.data.schema import TensorDatasetSchema
    from mlflow.data.sources import LocalArtifactDatasetSource
    from mlflow.entities import Dataset, DatasetInput, InputTag
    from mlflow.types import Schema, TensorSpec
    from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT
    from mlflow.utils.validation import MAX_DATASET_DIGEST_SIZE

    from .data import FASHION_MNIST, MIRROR, USER_FILES

    split = DATASET_SPLITS[context]
    images = data_report[f"{split}_images"]
    by_name = {file.removesuffix(".gz"): sha256 for file, sha256 in data_report["sha256"].items()}  # a user's as found
    hashed = "\n".join([by_name[USER_FILES[f"{split}_images"]], by_name[USER_FILES[f"{split}_labels"]], str(images)])
    if data_report["source"] == FASHION_MNIST:  # its verified bytes are upstream's wherever they were found
        name, origin = FASHION_MNIST, HTTPDatasetSource(MIRROR)
    else:
        directory = (repo_root() / data_report["source"]).resolve()
        name, origin = directory.name, LocalArtifactDatasetSource(str(directory))
    limit = data_report.get("train_limit") if split == "train" else None
    schema = TensorDatasetSchema(features=Schema([TensorSpec(np.dtype(np.uint8), (-1, 28, 28), "images")]),
                                 targets=Schema([TensorSpec(np.dtype(np.uint8), (-1,), "labels")]))
    profile = {"images": images} | ({"train_limit": limit} if limit is not None else {})
    dataset = Dataset(
        name=f"{name}/{split}",
        digest=hashlib.sha256(hashed.encode()).hexdigest()[:MAX_DATASET_DIGEST_SIZE],  # the store's column width
        source_type=origin._get_source_type(), source=origin.to_json(),  # as mlflow.data.Dataset.to_dict does
        schema=json.dumps(schema.to_dict()), profile=json.dumps(profile))
    return DatasetInput(dataset, tags=[InputTag(MLFLOW_DATASET_CONTEXT, context)])


class Run:
    """One MLflow run, written through MlflowClient (no global fluent state across stages)."""

    def __init__(self, client, run_id: str):
        self.client, self.run_id = client, run_id
        # Metric batches go out in order on one background thread. Not MLflow's async logging:
        # its wait() folds every failure into one new exception, so an outage could not be told
        # from a refused batch.
        self._sender = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlflow-metrics")
        self._pending = []
        self.lost = None  # why the store stopped answering, once it has

    @_survives_outage
    def log_params(self, params: dict) -> None:
        from mlflow.entities import Param

        items = [Param(k, str(v)) for k, v in params.items()]
        for start in range(0, len(items), 100):
            self.client.log_batch(self.run_id, params=items[start:start + 100])

    @_survives_outage
    def log_series(self, series: dict[str, list[tuple[int, float]]]) -> None:
        """Many (step, value) pairs per metric, sent in batches in the background."""
        from mlflow.entities import Metric

        for done in [future for future in self._pending if future.done()]:
            self._pending.remove(done)
            done.result()  # a failed batch stops the sending now, not at the end of training
        now = int(time.time() * 1000)
        metrics = [Metric(name, float(value), now, int(step)) for name, points in series.items()
                   for step, value in points]
        for start in range(0, len(metrics), 1000):
            self._pending.append(self._sender.submit(self.client.log_batch, self.run_id,
                                                     metrics=metrics[start:start + 1000], synchronous=True))

    def _stop_sending(self) -> None:
        """Drop the batches not yet sent: each would wait out the HTTP retries of a dead server."""
        for future in self._pending:
            future.cancel()
        self._pending = []
        self._sender.shutdown(wait=False, cancel_futures=True)

    def last_step(self, key: str) -> int:
        """The highest step logged for metric `key` (-1 if none): what a resumed run already sent."""
        return max((m.step for m in self.client.get_metric_history(self.run_id, key)), default=-1)

    @_survives_outage
    def reopen(self) -> None:
        """Make the run writable again if it was deleted in the UI since a stage last wrote to it."""
        _restore_run(self.client, self.run_id)

    @_survives_outage
    def log_dataset(self, data_report: dict, context: str) -> None:
        """Record the data split that `context` ("training", "evaluation") uses as an input of the
        run. MLflow keeps one input per dataset name and digest in a run, so logging it again (a
        resumed run, evaluate run again) adds nothing."""
        self.client.log_inputs(self.run_id, datasets=[dataset_input(data_report, context)])

    def dataset_contexts(self) -> set[str]:
        """The contexts of the datasets the run holds as inputs."""
        from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

        return {tag.value for held in self.client.get_run(self.run_id).inputs.dataset_inputs
                for tag in held.tags if tag.key == MLFLOW_DATASET_CONTEXT}

    @_survives_outage
    def log_image(self, image, key: str, step: int) -> None:
        # synchronous must be explicit: MLflow 3.17 treats None as asynchronous here, and the
        # queued image is lost when the process exits before its background thread flushes.
        self.client.log_image(self.run_id, image, key=key, step=step, synchronous=True)

    @_survives_outage
    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        self.client.log_artifact(self.run_id, str(path), artifact_path)

    def artifact_names(self, directory: str) -> set[str]:
        """The run's artifacts in `directory`, as `directory/name`."""
        return {f.path for f in self.client.list_artifacts(self.run_id, directory)}

    def generator_model(self):
        """The model named "generator" this run already holds (a LoggedModel), or None."""
        from mlflow.entities import LoggedModelStatus

        experiment_id = self.client.get_run(self.run_id).info.experiment_id
        found = self.client.search_logged_models(
            [experiment_id], filter_string=f"source_run_id = '{self.run_id}' AND name = 'generator'")
        return next((m for m in found if m.status == LoggedModelStatus.READY), None)  # not one a crash left half-made

    @_survives_outage
    def log_generator(self, path: Path, register_as: str | None = None, description: str = "") -> str:
        """The .keras generator as an MLflow pyfunc model (signature and input example included),
        optionally registered; returns the model URI. A run holds one generator: when it holds
        one already (evaluate run again), that one is returned, provided it is this very file."""
        logged = self.generator_model()
        if logged is None:
            uri = self._log_generator_model(path)
        elif file_digest(held := generator_file(logged.model_uri)) == file_digest(path):
            uri = logged.model_uri
        else:
            raise TrackingError(
                f"{path} (sha256 {file_digest(path)[:12]}) is not the generator MLflow run {self.run_id} holds "
                f"({logged.model_uri}, sha256 {file_digest(held)[:12]}): {RUN_FILE} and {path} come from different "
                "trainings; restore the pair (`dvc checkout`) or train again (`dvc repro --force train`)")
        if register_as:
            self.register_generator(uri, register_as, description)
        return uri

    def register_generator(self, uri: str, name: str, description: str) -> int | None:
        """Register the run's generator as model `name`, unless a version of `name` comes from this
        run already; returns the new version, or None."""
        import mlflow

        if any(v.name == name for v in self.client.search_model_versions(f"run_id = '{self.run_id}'")):
            return None
        mlflow.set_tracking_uri(self.client.tracking_uri)  # register_model reads the global store
        version = mlflow.register_model(uri, name)
        self.client.update_model_version(name, version.version, description)
        return version.version

    def _log_generator_model(self, path: Path) -> str:
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
                                  f"mlflow=={mlflow.__version__}"])
        return info.model_uri

    @_survives_outage
    def set_tags(self, tags: dict) -> None:
        for key, value in tags.items():
            if value is not None:
                self.client.set_tag(self.run_id, key, str(value))

    @_survives_outage
    def flush(self) -> None:
        pending, self._pending = self._pending, []
        for operation in pending:
            operation.result()

    @_survives_outage
    def end(self, status: str = "FINISHED") -> None:
        import mlflow

        try:
            self.flush()  # a refused batch is raised after the run is ended, not instead of ending it
        finally:
            self._sender.shutdown(wait=False, cancel_futures=True)
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

    def reopen(self):
        pass

    def log_dataset(self, data_report, context):
        pass

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
    from mlflow.entities import LifecycleStage
    from mlflow.tracking import MlflowClient

    root = repo_root()
    uri = tracking_uri(root)
    if uri.startswith(("http://", "https://")):
        _check_server(uri)
    with filelock.FileLock(str(root / MLFLOW_LOCK), timeout=120):
        client = MlflowClient(uri)
        try:
            experiment = client.get_experiment_by_name(name)
            if experiment is None:
                experiment_id = client.create_experiment(
                    name, artifact_location=(root / MLRUNS).as_uri() if uri.startswith("sqlite") else None,
                    tags=EXPERIMENT_TAGS)
            else:
                # Deleted in the UI, its name stays taken (MLflow refuses a new experiment of that
                # name until `mlflow gc`), so re-running the pipeline can only record into it.
                if experiment.lifecycle_stage == LifecycleStage.DELETED:
                    _restore_experiment(client, experiment)
                experiment_id = experiment.experiment_id
        except Exception as e:  # any store failure: one line naming the store
            raise TrackingError(f"MLflow store {masked(uri)}: {_reason(e)}") from None  # _reason masks MLflow's URIs
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
    with _one_line_errors(client.tracking_uri):
        if resume_run_id and client.get_run(resume_run_id).info.experiment_id != experiment_id:
            print(f"train: the interrupted run {resume_run_id} is not in experiment {experiment!r} "
                  "(tracking.experiment changed): its training resumes in a new run there", file=sys.stderr)
        elif resume_run_id:
            _restore_run(client, resume_run_id)
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

    run = Run(MlflowClient(tracking_uri()), run_id)
    run.reopen()
    return run


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


def sync_saved(enabled: bool, register_as: str | None = None) -> str:
    """`fashiongan tracking sync`: send the latest training run what its MLflow run missed while
    the store was away, from the outputs on disk: the per-step metrics, train's summary and loss
    curves, the training and test datasets (from prepare's report), sample's grid, evaluate's
    metrics, figures and generator model (registered as `register_as` if given), and the status
    FINISHED once evaluate has finished. Only what the run lacks is sent, so a second call sends
    nothing. The sample grids logged while training are drawn by the training loop and kept
    nowhere on disk: the line says how many are lost."""
    from mlflow.tracking import MlflowClient

    if not enabled:
        return "tracking.enabled is false: nothing to sync"
    run_id = json.loads(TRAIN_STATE.read_text()).get("run_id") if TRAIN_STATE.is_file() else None
    if run_id is None:
        raise MissingInput(f"{TRAIN_STATE}: no tracked training run to sync; run `dvc repro` first")
    series, files, metrics = _saved_outputs(run_id)
    uri = tracking_uri()
    with _one_line_errors(uri):
        run = Run(MlflowClient(uri), run_id)
        _restore_run(run.client, run_id)  # not run.reopen(): a store that is down stops this command
        count, held = sync(run, series)
        missing = [(path, directory) for path, directory in files
                   if f"{directory}/{path.name}" not in run.artifact_names(directory)]
        for path, directory in missing:
            run.log_artifact(path, directory)
        sent = [f"{directory}/{path.name}" for path, directory in missing] + _send_datasets(run, bool(metrics))
        if metrics:
            sent += _finish(run, metrics, register_as)
        lost = _lost_sample_grids(run, max(held.values(), default=0))  # the last step of training
    if run.lost:
        raise TrackingError(f"MLflow store {masked(uri)}: {run.lost}")
    return (f"tracking sync: {count} metric values sent to run {run_id} in {masked(uri)}"
            + (f"; also sent {', '.join(sent)}" if sent else "; nothing else was missing")
            + (f"; {len(lost)} sample grids logged while training (steps {lost[0]} to {lost[-1]}) are lost: "
               "training draws them and keeps them nowhere on disk" if lost else ""))


def _saved_outputs(run_id: str) -> tuple[dict, list[tuple[Path, str]], dict]:
    """What the stages wrote to disk for run `run_id`: the metric series, the files to log (with
    their artifact directory) and evaluate's metrics ({} if evaluate has not finished that run)."""
    from .io import StepLog

    # train writes its run file last, once finished; sample and evaluate run after it and append to
    # the run it names: an output of theirs older than the run file came from an earlier run.
    trained = RUN_FILE.is_file() and json.loads(RUN_FILE.read_text()).get("run_id") == run_id

    def of_this_run(path: Path, after_train: bool = True) -> bool:
        return trained and path.is_file() and (not after_train or path.stat().st_mtime >= RUN_FILE.stat().st_mtime)

    series = StepLog.open(HISTORY_LOG).series() | {"fid": StepLog.open(FID_LOG).series()["fid"]}
    if of_this_run(TRAIN_SUMMARY, after_train=False):
        summary = json.loads(TRAIN_SUMMARY.read_text())
        series |= {f"train.{k}": [(summary["steps"], v)] for k, v in summary.items() if k != "ruler"}
    metrics = json.loads(METRICS.read_text()) if of_this_run(METRICS) else {}
    series |= {f"eval.{k}": [(0, v)] for k, v in metrics.items() if k != "ruler"}  # the ruler is a tag
    files = []
    if of_this_run(LOSSES_PLOT, after_train=False):
        files.append((LOSSES_PLOT, "figures"))
    if of_this_run(GRID):
        files.append((GRID, "samples"))
    files += [(path, "evaluation") for path in evaluation_files() if metrics and of_this_run(path)]
    return series, files, metrics


def _send_datasets(run: Run, evaluated: bool) -> list[str]:
    """Log the datasets (training, and evaluation once evaluate has finished) that the run lacks,
    from prepare's report if it is the one this training read: written before train recorded its
    state (a later `fashiongan prepare` may describe other data)."""
    if not DATA_REPORT.is_file() or DATA_REPORT.stat().st_mtime > TRAIN_STATE.stat().st_mtime:
        return []
    report, held = json.loads(DATA_REPORT.read_text()), run.dataset_contexts()
    contexts = ["training", "evaluation"] if evaluated else ["training"]
    missing = [context for context in contexts if context not in held]
    for context in missing:
        run.log_dataset(report, context)
    return [f"the {context} dataset" for context in missing]


def _finish(run: Run, metrics: dict, register_as: str | None) -> list[str]:
    """What evaluate does last, if the run lacks it: log (and register) the generator, end the run."""
    description, sent = model_description(metrics), []
    status = run.client.get_run(run.run_id).info.status
    if "ruler" in metrics:
        run.set_tags({"ruler": metrics["ruler"]})
    if (model := run.generator_model()) is None:
        uri = run.log_generator(GENERATOR, register_as, description)
        sent.append(f"the generator model {uri}" + (f" registered as {register_as!r}" if register_as else ""))
    elif register_as and (version := run.register_generator(model.model_uri, register_as, description)):
        sent.append(f"the generator's registration as {register_as!r} version {version}")
    if status != "FINISHED" or model is None:  # logging a model reopens the run
        run.end("FINISHED")
    return sent + (["the status FINISHED"] if status != "FINISHED" else [])


def _lost_sample_grids(run: Run, last_step: int) -> list[int]:
    """The training steps up to `last_step` whose sample grid (logged every `train.sample_every`
    steps) the run lacks."""
    every = run.client.get_run(run.run_id).data.params.get("train.sample_every")
    if every is None:  # the store went away before train logged its params
        return []
    held = {int(found[1]) for name in run.artifact_names("images")
            if (found := re.match(r"images/samples[+%]step[+%](\d+)[+%]", name))}  # MLflow's log_image file names
    return [step for step in range(int(every), last_step + 1, int(every)) if step not in held]


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
