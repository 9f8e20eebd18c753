"""What the stages wrote to disk for a training run, as `fashiongan tracking sync` reads it: which run
the outputs belong to, its metric series and files, train's summary, evaluate's reports, and whether a
dep of train is the very file that run read."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ..errors import MissingInput
from ..io import file_digest
from ..paths import (
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

DVC_LOCK = Path("dvc.lock")  # DVC's record of the deps and outputs each stage last ran with
# What train's summary holds that is no metric, as the tag train sets on its run from the same value.
SUMMARY_TAGS = {
    "ema_published": "train.ema_published",
    "ruler": "ruler",
    "inputs_digest": "train.inputs_digest",
}


def training_run() -> str:
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


def trained(run_id: str) -> bool:
    """Whether train finished run `run_id`: it writes the run file naming it last."""
    return RUN_FILE.is_file() and json.loads(RUN_FILE.read_text()).get("run_id") == run_id


def summary(run_id: str) -> dict:
    """train's summary of run `run_id` ({} unless train finished that run)."""
    return json.loads(TRAIN_SUMMARY.read_text()) if trained(run_id) and TRAIN_SUMMARY.is_file() else {}


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


def outputs(run_id: str) -> tuple[dict, list[tuple[Path, str]], dict]:
    """What the stages wrote to disk for run `run_id`: the metric series, the files to log (with
    their artifact directory) and evaluate's metrics ({} if evaluate has not finished that run)."""
    from ..io import StepLog

    finished = trained(run_id)

    # A finished training's step logs are among its outputs, which is all a checkout of an experiment's
    # commit holds; an unfinished one's are beside its checkpoints.
    logs = (HISTORY, FID_HISTORY) if finished else (HISTORY_LOG, FID_LOG)
    if missing := [str(path) for path in logs if not path.is_file()]:
        raise MissingInput(
            f"{' and '.join(missing)}: not found; sync reads run {run_id}'s step logs there"
            + (" (`dvc checkout` restores train's outputs)" if finished else "")
        )
    series = StepLog.open(logs[0]).series() | {"fid": StepLog.open(logs[1]).series()["fid"]}
    series |= _summary_series(summary(run_id))
    metrics = json.loads(METRICS.read_text()) if finished and _evaluated(GENERATOR) else {}  # sent apart
    files = []
    if finished and LOSSES_PLOT.is_file():
        files.append((LOSSES_PLOT, "figures"))
    return series, files, metrics


def _evaluated(generator: Path) -> bool:
    """Whether evaluate's reports on disk are of `generator`, the file its identity names."""
    if not (METRICS.is_file() and METRICS_DETAILS.is_file() and generator.is_file()):
        return False
    named = json.loads(METRICS_DETAILS.read_text()).get("identity", {}).get("generator_sha256")
    return named == file_digest(generator)


def read_by_training(path: Path, run_id: str) -> bool:
    """Whether `path`, a dep of train, is the file training run `run_id` read: older than the state train
    recorded for that run, or, in a checkout of an experiment's commit (where file times are the
    checkout's), recorded by dvc.lock as a dep of the train whose run file it also records."""
    state = json.loads(TRAIN_STATE.read_text()) if TRAIN_STATE.is_file() else {}
    if state.get("run_id") == run_id and path.stat().st_mtime <= TRAIN_STATE.stat().st_mtime:
        return True
    return trained(run_id) and _locked_by_train(path, RUN_FILE)


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
