"""`fashiongan ui` (what `make ui` runs): `mlflow ui` on the repo's embedded store, and the URL that
opens the experiment on its training runs.

A fresh browser opens every experiment on MLflow's GenAI overview (traces, token usage), whatever
its `mlflow.experimentKind` tag says: MLflow 3.17's UI keeps its GenAI / model-training switch in
the browser's local storage, GenAI by default (mlflow/mlflow#24498). `workflowType` in the URL
overrides it, so that is the URL to open.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ..params import load
from ..paths import MLFLOW_DB, MLRUNS


def ui_command(root: Path, host: str, port: int) -> tuple[list[str], dict]:
    """`mlflow ui` on `root`'s mlflow.db and mlruns/, one worker and no job runner (small-machine
    settings)."""
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "ui",
        "--backend-store-uri",
        f"sqlite:///{root / MLFLOW_DB}",
        "--default-artifact-root",
        str(root / MLRUNS),
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    return command, os.environ | {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}


def experiment_url(root: Path, base: str, experiment: str) -> str:
    """The page of `experiment`'s runs in the model-training view (the experiments list if it does not
    exist yet)."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    from ..errors import TrackingError

    store = f"sqlite:///{root / MLFLOW_DB}"
    try:
        found = (
            MlflowClient(store).get_experiment_by_name(experiment) if (root / MLFLOW_DB).is_file() else None
        )
    except MlflowException as e:
        raise TrackingError(
            f"MLflow store {store}: {(str(e).splitlines() or [type(e).__name__])[0]}"
        ) from None
    if found is None:
        missing = f"(no experiment {experiment!r} yet: make run makes it)"
        return f"{base}/#/experiments?workflowType=machine_learning {missing}"
    return f"{base}/#/experiments/{found.experiment_id}/runs?workflowType=machine_learning"


def command(args) -> None:
    """`fashiongan ui`: print the experiment's URL, then become `mlflow ui` (it gets our signals and exit
    status)."""
    root = Path.cwd().resolve()
    argv, env = ui_command(root, args.host, args.port)
    experiment = load(args.params, check_data=False).tracking.experiment
    print(f"MLflow UI: {experiment_url(root, f'http://{args.host}:{args.port}', experiment)}", flush=True)
    os.execve(argv[0], argv, env)
