"""`fashiongan tracking sync`: re-send what a run missed while the store was away."""

from __future__ import annotations

import json
import re
from pathlib import Path

from ..errors import MissingInput, TrackingError
from ..paths import (
    DATA_REPORT,
    FID_LOG,
    GENERATOR,
    GRID,
    HISTORY_LOG,
    LOSSES_PLOT,
    METRICS,
    METRICS_DETAILS,
    RUN_FILE,
    TRAIN_STATE,
    TRAIN_SUMMARY,
    evaluation_files,
)
from .evaluation import find_evaluation, record
from .outage import masked, one_line_errors
from .run import Run, restore_run
from .store import tracking_uri


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


def sync_saved(enabled: bool, register_as: str | None = None, class_names=None) -> str:
    """`fashiongan tracking sync`: send the latest training run what its MLflow run missed while
    the store was away, from the outputs on disk: the per-step metrics, train's summary and loss
    curves, the training and test datasets (from prepare's report), sample's grid, evaluate's
    metrics, figures and generator model (with the data's `class_names`, registered as `register_as` if
    given), and the status
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
    with one_line_errors(uri):
        run = Run(MlflowClient(uri), run_id)
        restore_run(run.client, run_id)  # not run.reopen(): a store that is down stops this command
        count, held = sync(run, series)
        missing = [
            (path, directory)
            for path, directory in files
            if f"{directory}/{path.name}" not in run.artifact_names(directory)
        ]
        for path, directory in missing:
            run.log_artifact(path, directory)
        sent = [f"{directory}/{path.name}" for path, directory in missing] + _send_datasets(run)
        sent += _finish(run)
        if metrics:
            sent += _send_evaluation(run, metrics, register_as, class_names)
        lost = _lost_sample_grids(run, max(held.values(), default=0))  # the last step of training
    if run.lost:
        raise TrackingError(f"MLflow store {masked(uri)}: {run.lost}")
    return (
        f"tracking sync: {count} metric values sent to run {run_id} in {masked(uri)}"
        + (f"; also sent {', '.join(sent)}" if sent else "; nothing else was missing")
        + (
            f"; {len(lost)} sample grids logged while training (steps {lost[0]} to {lost[-1]}) are lost: "
            "training draws them and keeps them nowhere on disk"
            if lost
            else ""
        )
    )


def _saved_outputs(run_id: str) -> tuple[dict, list[tuple[Path, str]], dict]:
    """What the stages wrote to disk for run `run_id`: the metric series, the files to log (with
    their artifact directory) and evaluate's metrics ({} if evaluate has not finished that run)."""
    from ..io import StepLog

    # train writes its run file last, once finished; sample and evaluate run after it and append to
    # the run it names: an output of theirs older than the run file came from an earlier run.
    trained = RUN_FILE.is_file() and json.loads(RUN_FILE.read_text()).get("run_id") == run_id

    def of_this_run(path: Path, after_train: bool = True) -> bool:
        return (
            trained
            and path.is_file()
            and (not after_train or path.stat().st_mtime >= RUN_FILE.stat().st_mtime)
        )

    series = StepLog.open(HISTORY_LOG).series() | {"fid": StepLog.open(FID_LOG).series()["fid"]}
    if of_this_run(TRAIN_SUMMARY, after_train=False):
        summary = json.loads(TRAIN_SUMMARY.read_text())
        series |= {f"train.{k}": [(summary["steps"], v)] for k, v in summary.items() if k != "ruler"}
    metrics = json.loads(METRICS.read_text()) if of_this_run(METRICS) else {}  # evaluate's, sent apart
    files = []
    if of_this_run(LOSSES_PLOT, after_train=False):
        files.append((LOSSES_PLOT, "figures"))
    return series, files, metrics


def _send_datasets(run: Run) -> list[str]:
    """Log the training dataset if the run lacks it, from prepare's report if it is the one this
    training read: written before train recorded its state (a later `fashiongan prepare` may describe
    other data). The test split goes with each evaluation's own run."""
    if not DATA_REPORT.is_file() or DATA_REPORT.stat().st_mtime > TRAIN_STATE.stat().st_mtime:
        return []
    if "training" in run.dataset_contexts():
        return []
    run.log_dataset(json.loads(DATA_REPORT.read_text()), "training")
    return ["the training dataset"]


def _trained(run_id: str) -> bool:
    """Whether train finished run `run_id`: it writes the run file naming it last."""
    return RUN_FILE.is_file() and json.loads(RUN_FILE.read_text()).get("run_id") == run_id


def _finish(run: Run) -> list[str]:
    """The status FINISHED for a training run train finished, if it lacks it."""
    if not _trained(run.run_id) or run.client.get_run(run.run_id).info.status == "FINISHED":
        return []
    run.end("FINISHED")
    return ["the status FINISHED"]


def _send_evaluation(run: Run, metrics: dict, register_as: str | None, class_names) -> list[str]:
    """evaluate's record of its evaluation (tracking/evaluation.py: the generator as the run's model,
    the evaluation's own run, the registry version), if the store lacks any of it."""
    details = json.loads(METRICS_DETAILS.read_text()) if METRICS_DETAILS.is_file() else {}
    if "identity" not in details:  # written by an older fashiongan
        raise MissingInput(
            f"{METRICS_DETAILS}: names no evaluation identity; evaluate again (`dvc repro --force evaluate`) "
            "to record the evaluation"
        )
    identity, client = details["identity"], run.client
    experiment_id = client.get_run(run.run_id).info.experiment_id
    held = find_evaluation(client, experiment_id, run.run_id, identity)
    registered = not register_as or any(
        v.name == register_as for v in client.search_model_versions(f"run_id = '{run.run_id}'")
    )
    if held is not None and held.info.status == "FINISHED" and registered and run.generator_model():
        return []
    # sample and evaluate run after train wrote its run file: an output older than it is an earlier run's
    files = [
        (path, directory)
        for path, directory in [(GRID, "samples"), *((path, "evaluation") for path in evaluation_files())]
        if path.is_file() and path.stat().st_mtime >= RUN_FILE.stat().st_mtime
    ]
    report = json.loads(DATA_REPORT.read_text()) if DATA_REPORT.is_file() else None
    uri, evaluation_id = record(run, GENERATOR, identity, metrics, files, report, register_as, class_names)
    return [f"the evaluation (run {evaluation_id}) of generator {uri}"] + (
        [f"its registration as {register_as!r}"] if not registered else []
    )


def _lost_sample_grids(run: Run, last_step: int) -> list[int]:
    """The training steps up to `last_step` whose sample grid (logged every `train.sample_every`
    steps) the run lacks."""
    every = run.client.get_run(run.run_id).data.params.get("train.sample_every")
    if every is None:  # the store went away before train logged its params
        return []
    held = {
        int(found[1])
        for name in run.artifact_names("images")
        if (found := re.match(r"images/samples[+%]step[+%](\d+)[+%]", name))
    }  # MLflow's log_image file names
    return [step for step in range(int(every), last_step + 1, int(every)) if step not in held]
