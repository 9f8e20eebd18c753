"""One MLflow run across the train, sample and evaluate stages, with batched metric logging."""

from __future__ import annotations

import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..errors import TrackingError
from ..io import write_json
from ..paths import RUN_FILE
from .datasets import dataset_input
from .outage import masked, one_line_errors, survives_outage
from .restore import held_run, restore_run
from .store import client_for_experiment, tracking_uri


def system_metrics_monitor(client, run_id: str, resumed: bool):
    """MLflow's system-metrics monitor for the run, started: CPU, memory, disk and network (and GPUs
    where nvidia-ml-py finds them) as metrics system/*, sampled every 10 s (MLflow's default;
    MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL sets another) on a thread of its own, and sent to the
    run's own store. A resumed run's samples go on from its last step."""
    from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

    monitor = SystemMetricsMonitor(run_id, resume_logging=resumed, tracking_uri=client.tracking_uri)
    monitor.start()
    return monitor


class Run:
    """One MLflow run, written through MlflowClient (no global fluent state across stages)."""

    def __init__(self, client, run_id: str):
        self.client, self.run_id = client, run_id
        self.system_metrics = None  # the monitor start_run starts for a training run
        # Metric batches go out in order on one background thread. Not MLflow's async logging:
        # its wait() folds every failure into one new exception, so an outage could not be told
        # from a refused batch.
        self._sender = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlflow-metrics")
        self._pending = []
        self.lost = None  # why the store stopped answering, once it has

    @survives_outage
    def log_params(self, params: dict) -> None:
        from mlflow.entities import Param

        items = [Param(k, str(v)) for k, v in params.items()]
        for start in range(0, len(items), 100):
            self.client.log_batch(self.run_id, params=items[start : start + 100])

    @survives_outage
    def log_series(self, series: dict[str, list[tuple[int, float]]]) -> None:
        """Many (step, value) pairs per metric, sent in batches in the background."""
        from mlflow.entities import Metric

        for done in [future for future in self._pending if future.done()]:
            self._pending.remove(done)
            done.result()  # a failed batch stops the sending now, not at the end of training
        now = int(time.time() * 1000)
        metrics = [
            Metric(name, float(value), now, int(step))
            for name, points in series.items()
            for step, value in points
        ]
        for start in range(0, len(metrics), 1000):
            self._pending.append(
                self._sender.submit(
                    self.client.log_batch,
                    self.run_id,
                    metrics=metrics[start : start + 1000],
                    synchronous=True,
                )
            )

    def _stop_sending(self) -> None:
        """Drop the batches not yet sent: each would wait out the HTTP retries of a dead server."""
        for future in self._pending:
            future.cancel()
        self._pending = []
        self._sender.shutdown(wait=False, cancel_futures=True)

    def last_step(self, key: str) -> int:
        """The highest step logged for metric `key` (-1 if none): what a resumed run already sent."""
        if self.run_id is None:
            return -1
        return max((m.step for m in self.client.get_metric_history(self.run_id, key)), default=-1)

    @survives_outage
    def reopen(self) -> None:
        """Make the run writable again if it was deleted in the UI since a stage last wrote to it (one
        that the store no longer holds stops the stage with one line saying what to do)."""
        restore_run(self.client, self.run_id)

    @survives_outage
    def log_dataset(self, data_report: dict, context: str) -> None:
        """Record the data split that `context` ("training", "evaluation") uses as an input of the
        run. MLflow keeps one input per dataset name and digest in a run, so logging it again (a
        resumed run, evaluate run again) adds nothing."""
        self.client.log_inputs(self.run_id, datasets=[dataset_input(data_report, context)])

    def dataset_contexts(self) -> set[str]:
        """The contexts of the datasets the run holds as inputs."""
        from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

        return {
            tag.value
            for held in self.client.get_run(self.run_id).inputs.dataset_inputs
            for tag in held.tags
            if tag.key == MLFLOW_DATASET_CONTEXT
        }

    @survives_outage
    def log_image(self, image, key: str, step: int) -> None:
        # synchronous must be explicit: MLflow 3.17 treats None as asynchronous here, and the
        # queued image is lost when the process exits before its background thread flushes.
        self.client.log_image(self.run_id, image, key=key, step=step, synchronous=True)

    @survives_outage
    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        self.client.log_artifact(self.run_id, str(path), artifact_path)

    def artifact_names(self, directory: str) -> set[str]:
        """The run's artifacts in `directory`, as `directory/name`."""
        return {f.path for f in self.client.list_artifacts(self.run_id, directory)}

    @survives_outage
    def set_tags(self, tags: dict) -> None:
        for key, value in tags.items():
            if value is not None:
                self.client.set_tag(self.run_id, key, str(value))

    @survives_outage
    def flush(self) -> None:
        pending, self._pending = self._pending, []
        for operation in pending:
            operation.result()

    @survives_outage
    def end(self, status: str = "FINISHED") -> None:
        """End the run with `status`, its metrics sent and its system-metrics monitor stopped. Once the
        store has stopped answering this is skipped, monitor included: stopping it would wait out the
        retries of its last requests, and it stops by itself when its next one fails."""
        try:
            self.flush()  # a refused batch is raised after the run is ended, not instead of ending it
        finally:
            self._sender.shutdown(wait=False, cancel_futures=True)
            if self.system_metrics is not None and self.lost is None:
                self.system_metrics.finish()  # sends its last samples while the run is RUNNING
            self.client.set_terminated(self.run_id, status=status)


class NoRun(Run):
    """tracking.enabled: false: a run without an id, whose every logging call is skipped (see
    survives_outage); DVC metrics and plots are still written."""

    def __init__(self):
        super().__init__(client=None, run_id=None)


def send_missing(run: Run, series: dict[str, list[tuple[int, float]]]) -> tuple[int, dict[str, int]]:
    """Send the points of each series past the last step MLflow holds (a resumed run, or after an
    outage). Returns how many were sent and, per series, the last step MLflow now holds. Idempotent: a
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


def start_run(
    experiment: str, resume_run_id: str | None = None, tags: dict | None = None, system_metrics: bool = True
) -> Run:
    """A new run in `experiment`, or the interrupted run `resume_run_id` made RUNNING again, with
    MLflow's system-metrics monitor started for it (stopped by Run.end) unless `system_metrics` is False.
    An interrupted run that is not in `experiment`, or not in the store at all, resumes in a new run."""
    client, experiment_id = client_for_experiment(experiment)
    with one_line_errors(client.tracking_uri):
        interrupted = held_run(client, resume_run_id) if resume_run_id is not None else None
        resumed = interrupted is not None and interrupted.info.experiment_id == experiment_id
        if resume_run_id and not resumed:
            print(
                f"train: the interrupted run {resume_run_id} is not in "
                + (
                    f"experiment {experiment!r} (tracking.experiment changed)"
                    if interrupted
                    else f"MLflow store {masked(client.tracking_uri)} (deleted for good, or another store)"
                )
                + ": its training resumes in a new run there",
                file=sys.stderr,
            )
        if resumed:
            restore_run(client, resume_run_id)
            client.update_run(resume_run_id, status="RUNNING")
            run = Run(client, resume_run_id)
        else:
            created = client.create_run(
                experiment_id, run_name=os.environ.get("DVC_EXP_NAME"), tags=tags or {}
            )
            run = Run(client, created.info.run_id)
        if system_metrics:
            run.system_metrics = system_metrics_monitor(client, run.run_id, resumed)
    return run


def write_run_file(run: Run, path: Path = RUN_FILE) -> None:
    """The run that sample and evaluate append to. Only its id: the store is wherever
    MLFLOW_TRACKING_URI (or the repo's mlflow.db) points, and no machine's path is committed."""

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
