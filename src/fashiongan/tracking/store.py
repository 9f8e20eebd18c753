"""Where the MLflow store is and how to reach it.

The store is `MLFLOW_TRACKING_URI` when set, else `sqlite:///<repo>/mlflow.db` with artifacts in
`<repo>/mlruns`, as absolute paths from `DVC_ROOT`: queued DVC experiments run in a temporary
copy of the repo that is deleted afterwards, and must still write to the repo's store.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
# MLflow's HTTP client retries a dead server for minutes per call by default; a training run
# should notice in seconds and go on without it (see survives_outage).
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
# A stage prints one line per event: MLflow's progress bars for a model's few files and its INFO
# lines (creating tables, validating the input example) are noise in a DVC log.
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
# MLflow's SQL store logs a traceback for every database error it re-raises; the error itself
# reaches the user as one line (see survives_outage).
logging.getLogger("mlflow.store.db.utils").setLevel(logging.CRITICAL)
# The system-metrics monitor logs each failure to reach the store with MLflow's message, which quotes
# the store's URI unmasked, and then stops; the run's own calls say it once, masked (survives_outage).
logging.getLogger("mlflow.system_metrics").setLevel(logging.CRITICAL)


import filelock  # noqa: E402

from ..errors import TrackingError  # noqa: E402
from ..lineage import git_commit, git_dirty  # noqa: E402
from ..paths import MLFLOW_DB, MLFLOW_LOCK, MLRUNS, SERVER_ARTIFACTS, SERVER_DB  # noqa: E402
from .outage import masked, reason  # noqa: E402

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
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        f"sqlite:///{root / SERVER_DB}",
        "--artifacts-destination",
        str(root / SERVER_ARTIFACTS),
        "--serve-artifacts",
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    return command, os.environ | {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}


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
                    name,
                    artifact_location=(root / MLRUNS).as_uri() if uri.startswith("sqlite") else None,
                    tags=EXPERIMENT_TAGS,
                )
            else:
                # Deleted in the UI, its name stays taken (MLflow refuses a new experiment of that
                # name until `mlflow gc`), so re-running the pipeline can only record into it.
                if experiment.lifecycle_stage == LifecycleStage.DELETED:
                    restore_experiment(client, experiment)
                experiment_id = experiment.experiment_id
        except Exception as e:  # any store failure: one line naming the store
            raise TrackingError(
                f"MLflow store {masked(uri)}: {reason(e)}"
            ) from None  # reason masks MLflow's URIs
    return client, experiment_id


def _check_server(uri: str, timeout: float = 5.0) -> None:
    """Fail in seconds when the server is down: MLflow's own client retries for minutes."""
    import urllib.error
    import urllib.parse
    import urllib.request

    parts = urllib.parse.urlsplit(uri)
    health = urllib.parse.urlunsplit(
        (
            parts.scheme,
            parts.hostname + (f":{parts.port}" if parts.port else ""),
            parts.path.rstrip("/") + "/health",
            "",
            "",
        )
    )
    try:
        urllib.request.urlopen(health, timeout=timeout).close()
    except (urllib.error.URLError, OSError) as e:
        raise TrackingError(
            f"MLflow server {masked(uri)} is not reachable ({getattr(e, 'reason', e)}); "
            "start it, fix MLFLOW_TRACKING_URI, or set tracking.enabled: false"
        ) from None


def restore_experiment(client, experiment) -> None:
    client.restore_experiment(experiment.experiment_id)
    print(
        f"fashiongan: MLflow experiment {experiment.name!r} (id {experiment.experiment_id}) had been "
        "deleted; "
        "restored it, and with it its runs as MLflow does, to record into it (`mlflow gc` removes a deleted "
        "experiment for good, and a new one can then take its name)",
        file=sys.stderr,
    )


def latest_runs(experiment: str, max_runs: int) -> list:
    """The experiment's latest training runs (mlflow Run objects), newest first; [] when it has none. Not
    the evaluations' runs nested under them (tracking/evaluation.py tags those with a role)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri())
    found = client.get_experiment_by_name(experiment)
    return (
        client.search_runs(
            [found.experiment_id],
            filter_string="tags.`fashiongan.role` IS NULL",
            max_results=max_runs,
            order_by=["attributes.start_time DESC"],
        )
        if found
        else []
    )


def provenance_tags(code_files=()) -> dict:
    """The code and the DVC experiment a run came from: the commit HEAD names, and whether `code_files`
    (the run's code, relative to the repo root) differ from it, so a run never claims a commit's code
    when it ran other code."""
    root = repo_root()
    dirty = git_dirty(root, code_files) if code_files else None
    return {
        "git_commit": git_commit(root),
        "git_dirty": None if dirty is None else str(dirty).lower(),
        "dvc_exp": os.environ.get("DVC_EXP_NAME"),
    }
