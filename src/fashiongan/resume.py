"""Train's resumable state in models/checkpoints: TensorFlow checkpoints of the `Trainer`, the
per-step and FID logs, and state.json (the params fingerprint, the MLflow run, finished or not).

An interrupted run (Ctrl-C, SIGTERM, kill -9) resumes from its last checkpoint, in the same MLflow
run, when the params that decide the training trajectory are unchanged. The logs live beside the
checkpoints because DVC deletes a stage's outputs before it runs.

Under multi_worker only the chief keeps this state; every other worker must still take part in
each checkpoint save (MultiWorkerMirroredStrategy needs them all), so it saves into a scratch
directory that it deletes at the end.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .config import Config, flatten
from .io import StepLog, atomic_path, write_json
from .paths import CHECKPOINTS, FID_LOG, HISTORY_LOG, TRAIN_STATE as STATE

FID_COLUMNS = ("fid", "seconds")


def fingerprint(cfg: Config) -> str:
    """What decides the training trajectory: a checkpoint resumes only under the same one."""
    keys = flatten(cfg, ("seed", "data", "model", "train"))
    return hashlib.sha256(json.dumps(keys, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass
class TrainingState:
    fingerprint: str
    resuming: bool
    run_id: str | None  # of the interrupted run, when resuming
    start_step: int
    history: StepLog
    fid_log: StepLog
    manager: object  # tf.train.CheckpointManager
    chief: bool

    def save(self, step: int) -> None:
        self.manager.save(checkpoint_number=step)

    def record(self, run_id: str | None, finished: bool) -> None:
        if self.chief:
            write_json(STATE, {"fingerprint": self.fingerprint, "run_id": run_id, "finished": finished})

    def seconds_before(self) -> float:
        """Training seconds logged with the last FID row: a resumed run counts on from there."""
        rows = self.fid_log.rows()
        return float(rows[-1][2]) if rows else 0.0

    def publish(self, history: Path, fid_history: Path) -> None:
        """Copy the step logs to the stage's outputs (whole files, atomically)."""
        for log, output in ((self.history, history), (self.fid_log, fid_history)):
            with atomic_path(output) as tmp:
                shutil.copyfile(log.path, tmp)

    def discard_scratch(self) -> None:
        if not self.chief:
            shutil.rmtree(self.manager.directory)


def restore(cfg: Config, checkpoint, metric_names, chief: bool = True, task: str = "") -> TrainingState:
    """Restore `checkpoint` (a tf.train.Checkpoint with a `step`) from the last checkpoint of an
    unfinished run with the same fingerprint, or start afresh (the chief clears old state)."""
    import tensorflow as tf

    CHECKPOINTS.mkdir(parents=True, exist_ok=True)
    state = json.loads(STATE.read_text()) if STATE.exists() else {}
    latest = tf.train.latest_checkpoint(str(CHECKPOINTS))
    resuming = state.get("fingerprint") == fingerprint(cfg) and not state.get("finished") and latest is not None
    if resuming:
        checkpoint.restore(latest).assert_existing_objects_matched()
    elif chief:
        shutil.rmtree(CHECKPOINTS)
        CHECKPOINTS.mkdir(parents=True)
    directory = CHECKPOINTS if chief else Path(tempfile.mkdtemp(prefix=f"fashiongan-{task}-"))
    start_step = int(checkpoint.step.numpy())
    history = StepLog(directory / HISTORY_LOG.name, metric_names)
    fid_log = StepLog(directory / FID_LOG.name, FID_COLUMNS)
    history.keep_through(start_step)
    fid_log.keep_through(start_step)
    return TrainingState(fingerprint(cfg), resuming, state.get("run_id") if resuming else None, start_step,
                         history, fid_log, tf.train.CheckpointManager(checkpoint, str(directory), max_to_keep=3),
                         chief)
