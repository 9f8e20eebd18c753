"""`fashiongan tracking sync`: re-send what a run missed while the store was away."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from ..errors import MissingInput, TrackingError
from ..io import file_digest
from ..paths import (
    DATA_REPORT,
    FID_HISTORY,
    FID_LOG,
    GENERATOR,
    HISTORY,
    HISTORY_LOG,
    LOSSES_PLOT,
    METRICS,
    METRICS_DETAILS,
    RUN_FILE,
    TRAIN_STATE,
    TRAIN_SUMMARY,
)
from .evaluation import evaluation_artifacts, find_evaluation, record
from .model import generator_model
from .outage import masked, one_line_errors
from .run import Run, restore_run, send_missing
from .store import tracking_uri

DVC_LOCK = Path("dvc.lock")  # DVC's record of the deps and outputs each stage last ran with
# What train's summary holds that is no metric, as the tag train sets on its run from the same value.
SUMMARY_TAGS = {
    "ema_published": "train.ema_published",
    "ruler": "ruler",
    "inputs_digest": "train.inputs_digest",
}


def sync_saved(enabled: bool, register_as: str | None = None, class_names=None) -> str:
    """`fashiongan tracking sync`: send the latest training run (see _training_run) what its MLflow run
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
    run_id = _training_run()
    series, files, metrics = _saved_outputs(run_id)
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


def _saved_outputs(run_id: str) -> tuple[dict, list[tuple[Path, str]], dict]:
    """What the stages wrote to disk for run `run_id`: the metric series, the files to log (with
    their artifact directory) and evaluate's metrics ({} if evaluate has not finished that run)."""
    from ..io import StepLog

    trained = _trained(run_id)

    # A finished training's step logs are among its outputs, which is all a checkout of an experiment's
    # commit holds; an unfinished one's are beside its checkpoints.
    logs = (HISTORY, FID_HISTORY) if trained else (HISTORY_LOG, FID_LOG)
    if missing := [str(path) for path in logs if not path.is_file()]:
        raise MissingInput(
            f"{' and '.join(missing)}: not found; sync reads run {run_id}'s step logs there"
            + (" (`dvc checkout` restores train's outputs)" if trained else "")
        )
    series = StepLog.open(logs[0]).series() | {"fid": StepLog.open(logs[1]).series()["fid"]}
    series |= _summary_series(_summary(run_id))
    metrics = json.loads(METRICS.read_text()) if trained and _evaluated(GENERATOR) else {}  # sent apart
    files = []
    if trained and LOSSES_PLOT.is_file():
        files.append((LOSSES_PLOT, "figures"))
    return series, files, metrics


def _send_datasets(run: Run) -> list[str]:
    """Log the training dataset if the run lacks it, from prepare's report if it is the one this
    training read (a later `fashiongan prepare` may describe other data). The test split goes with each
    evaluation's own run."""
    if not DATA_REPORT.is_file() or not _read_by_training(DATA_REPORT, run.run_id):
        return []
    if "training" in run.dataset_contexts():
        return []
    run.log_dataset(json.loads(DATA_REPORT.read_text()), "training")
    return ["the training dataset"]


def _evaluated(generator: Path) -> bool:
    """Whether evaluate's reports on disk are of `generator`, the file its identity names."""
    if not (METRICS.is_file() and METRICS_DETAILS.is_file() and generator.is_file()):
        return False
    named = json.loads(METRICS_DETAILS.read_text()).get("identity", {}).get("generator_sha256")
    return named == file_digest(generator)


def _trained(run_id: str) -> bool:
    """Whether train finished run `run_id`: it writes the run file naming it last."""
    return RUN_FILE.is_file() and json.loads(RUN_FILE.read_text()).get("run_id") == run_id


def _training_run() -> str:
    """The training run to sync: the one train's run file names, whose logs are in train's outputs (all a
    checkout of an experiment's commit holds, as after `dvc exp apply` of a queued experiment), unless
    models/checkpoints/state.json names an unfinished run after it (its logs are beside the checkpoints)."""
    finished = json.loads(RUN_FILE.read_text()).get("run_id") if RUN_FILE.is_file() else None
    state = json.loads(TRAIN_STATE.read_text()) if TRAIN_STATE.is_file() else {}
    if (
        state.get("run_id") is not None
        and not state.get("finished", True)
        and (finished is None or TRAIN_STATE.stat().st_mtime > RUN_FILE.stat().st_mtime)
    ):
        return state["run_id"]
    if (run_id := finished or state.get("run_id")) is None:
        raise MissingInput(
            f"{RUN_FILE}, {TRAIN_STATE}: no tracked training run to sync; run `dvc repro` first"
        )
    return run_id


def _summary(run_id: str) -> dict:
    """train's summary of run `run_id` ({} unless train finished that run)."""
    return json.loads(TRAIN_SUMMARY.read_text()) if _trained(run_id) and TRAIN_SUMMARY.is_file() else {}


def _summary_series(summary: dict) -> dict[str, list[tuple[int, float]]]:
    """train's summary as the metrics training logs of it, at the last step: each number as
    `train.<key>`, each weight average's FID as `ema_fid_train.<decay>` (the tags are apart)."""
    return {
        f"train.{key}": [(summary["steps"], value)]
        for key, value in summary.items()
        if key not in SUMMARY_TAGS and isinstance(value, int | float) and not isinstance(value, bool)
    } | {
        f"ema_fid_train.{decay}": [(summary["steps"], fid)]
        for decay, fid in summary.get("ema_fid_train", {}).items()
    }


def _send_summary_tags(run: Run) -> list[str]:
    """The tags train sets from what its summary holds (the published weight average, the ruler, the
    digest of code and data), those the run lacks."""
    summary, held = _summary(run.run_id), run.client.get_run(run.run_id).data.tags
    tags = {
        tag: summary[key]
        for key, tag in SUMMARY_TAGS.items()
        if summary.get(key) is not None and tag not in held
    }
    if not tags:
        return []
    run.set_tags(tags)
    names = list(tags)
    listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
    return [f"the tag{'s' if len(names) > 1 else ''} {listed}"]


def _read_by_training(path: Path, run_id: str) -> bool:
    """Whether `path`, a dep of train, is the file training run `run_id` read: older than the state train
    recorded for that run, or, in a checkout of an experiment's commit (where file times are the
    checkout's), recorded by dvc.lock as a dep of the train whose run file it also records."""
    state = json.loads(TRAIN_STATE.read_text()) if TRAIN_STATE.is_file() else {}
    if state.get("run_id") == run_id and path.stat().st_mtime <= TRAIN_STATE.stat().st_mtime:
        return True
    return _trained(run_id) and _locked_by_train(path, RUN_FILE)


def _locked_by_train(*paths: Path) -> bool:
    """Whether dvc.lock records each of `paths`, with the content it has now, as a dep or output of train."""
    from ruamel.yaml import YAML

    if not DVC_LOCK.is_file():
        return False
    stage = (YAML(typ="safe", pure=True).load(DVC_LOCK.read_text()) or {}).get("stages", {}).get("train", {})
    md5s = {entry.get("path"): entry.get("md5") for entry in stage.get("deps", []) + stage.get("outs", [])}
    return all(
        path.is_file() and md5s.get(path.as_posix()) == hashlib.md5(path.read_bytes()).hexdigest()
        for path in paths
    )


def _finish(run: Run) -> list[str]:
    """The status FINISHED for a training run train finished, if it lacks it."""
    if not _trained(run.run_id) or run.client.get_run(run.run_id).info.status == "FINISHED":
        return []
    run.end("FINISHED")
    return ["the status FINISHED"]


def _send_evaluation(run: Run, metrics: dict, register_as: str | None, class_names) -> list[str]:
    """evaluate's record of its evaluation (tracking/evaluation.py: the generator as the run's model,
    the evaluation's own run, the registry version), if the store lacks any of it."""
    details = json.loads(METRICS_DETAILS.read_text())  # _evaluated: it names this generator
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
