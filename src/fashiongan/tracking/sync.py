"""`fashiongan tracking sync`: re-send what a run missed while the store was away."""

from __future__ import annotations

import json
import re

from ..errors import TrackingError
from ..io import file_digest
from ..paths import DATA_REPORT, GENERATOR, METRICS, METRICS_DETAILS
from . import saved
from .evaluation import data_report, evaluation_artifacts, find_evaluation, record
from .model import generator_model
from .outage import masked, one_line_errors
from .restore import restore_run
from .run import Run, send_missing
from .store import tracking_uri


def sync_saved(enabled: bool, register_as: str | None = None, class_names=None) -> str:
    """`fashiongan tracking sync`: send the latest training run (see saved.training_run) what its MLflow run
    missed while the store was away, from the outputs on disk: the per-step metrics, train's summary
    (the weight averages' FIDs and choice too), loss curves and training dataset (from prepare's
    report), and its status FINISHED once train finished it; then evaluate's record of its generator
    (tracking/evaluation.py: the generator model with the data's `class_names`, registered as
    `register_as` if given, and the evaluation's own run with its metrics, grid and figures). Only what
    the store lacks is sent, so a second call sends nothing. The sample grids logged while training are
    drawn by the training loop and kept nowhere on disk: the line says how many are lost."""
    from mlflow.tracking import MlflowClient

    if not enabled:
        return "tracking.enabled is false: nothing to sync"
    run_id = saved.training_run()
    series, files, metrics = saved.outputs(run_id)
    uri = tracking_uri()
    with one_line_errors(uri):
        run = Run(MlflowClient(uri), run_id)
        restore_run(run.client, run_id)  # not run.reopen(): a store that is down stops this command
        count, held = send_missing(run, series)
        missing = [
            (path, directory)
            for path, directory in files
            if f"{directory}/{path.name}" not in run.artifact_names(directory)
        ]
        for path, directory in missing:
            run.log_artifact(path, directory)
        sent = [f"{directory}/{path.name}" for path, directory in missing] + _send_summary_tags(run)
        sent += _send_datasets(run)
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


def _send_datasets(run: Run) -> list[str]:
    """Log the training dataset if the run lacks it, from prepare's report if it is the one this
    training read (a later `fashiongan prepare` may describe other data). The test split goes with each
    evaluation's own run."""
    if not DATA_REPORT.is_file() or not saved.read_by_training(DATA_REPORT, run.run_id):
        return []
    if "training" in run.dataset_contexts():
        return []
    run.log_dataset(json.loads(DATA_REPORT.read_text()), "training")
    return ["the training dataset"]


def _send_summary_tags(run: Run) -> list[str]:
    """The tags train sets from what its summary holds (the published weight average, the ruler, the
    digest of code and data), those the run lacks."""
    summary, held = saved.summary(run.run_id), run.client.get_run(run.run_id).data.tags
    tags = {
        tag: summary[key]
        for key, tag in saved.SUMMARY_TAGS.items()
        if summary.get(key) is not None and tag not in held
    }
    if not tags:
        return []
    run.set_tags(tags)
    names = list(tags)
    listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
    return [f"the tag{'s' if len(names) > 1 else ''} {listed}"]


def _finish(run: Run) -> list[str]:
    """The status FINISHED for a training run train finished, if it lacks it."""
    if not saved.trained(run.run_id) or run.client.get_run(run.run_id).info.status == "FINISHED":
        return []
    run.end("FINISHED")
    return ["the status FINISHED"]


def _send_evaluation(run: Run, metrics: dict, register_as: str | None, class_names) -> list[str]:
    """evaluate's record of its evaluation (tracking/evaluation.py: the generator as the run's model,
    the evaluation's own run, the registry version), if the store lacks any of it."""
    details = json.loads(METRICS_DETAILS.read_text())  # saved.outputs: it names this generator
    identity, client = details["identity"], run.client
    experiment_id = client.get_run(run.run_id).info.experiment_id
    held = find_evaluation(client, experiment_id, run.run_id, identity)
    registered = not register_as or any(
        v.name == register_as for v in client.search_model_versions(f"run_id = '{run.run_id}'")
    )
    if held is not None and held.info.status == "FINISHED" and registered and generator_model(run):
        return []
    # the figures evaluate named with their digests: not one left from another evaluation
    named = details.get("artifacts", {})
    files = [
        (path, directory)
        for path, directory in evaluation_artifacts()
        if path in (METRICS, METRICS_DETAILS)
        or (path.is_file() and named.get(path.as_posix()) == file_digest(path))
    ]
    uri, evaluation_id = record(
        run, GENERATOR, identity, metrics, files, data_report(), register_as, class_names
    )
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
