"""A run the store holds, looked up by id, and made writable again when it was deleted in the UI. Train
resumes into such a run, sample and evaluate append to it, `tracking sync` sends it what it missed."""

from __future__ import annotations

import sys

from ..errors import TrackingError
from .outage import masked
from .store import restore_experiment


def held_run(client, run_id: str):
    """The store's run `run_id` (an mlflow Run), or None where the store holds none: deleted for good
    (`mlflow gc`), or the store is another one than the run was made in."""
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST, ErrorCode

    try:
        return client.get_run(run_id)
    except MlflowException as e:
        if e.error_code == ErrorCode.Name(RESOURCE_DOES_NOT_EXIST):
            return None
        raise


def restore_run(client, run_id: str) -> None:
    """A run deleted in the UI cannot be written to: restore it (and its experiment, if deleted). A run
    the store does not hold cannot be restored: one line saying what to do."""
    from mlflow.entities import LifecycleStage

    held = held_run(client, run_id)
    if held is None:
        raise TrackingError(
            f"MLflow store {masked(client.tracking_uri)} holds no run {run_id} (deleted for good by `mlflow gc`, "
            "or MLFLOW_TRACKING_URI names another store): point MLFLOW_TRACKING_URI at the store that holds it, "
            "or train again in a new run: `dvc repro --force --single-item train`, then `dvc repro`"
        )
    info = held.info
    if info.lifecycle_stage != LifecycleStage.DELETED:
        return
    experiment = client.get_experiment(info.experiment_id)
    if experiment.lifecycle_stage == LifecycleStage.DELETED:
        restore_experiment(client, experiment)  # restores the experiment's runs, this one included
    else:
        client.restore_run(run_id)
        print(
            f"fashiongan: MLflow run {run_id} had been deleted; restored it to go on recording into it",
            file=sys.stderr,
        )
