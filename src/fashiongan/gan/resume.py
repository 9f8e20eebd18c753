"""Train's resumable state in models/checkpoints: TensorFlow checkpoints of the `Trainer`, the
per-step and FID logs, and state.json (the digests of the run's inputs, its MLflow run, finished or not,
and what its last step decided until the outputs are written).

An interrupted run (Ctrl-C, SIGTERM, kill -9) resumes from its last checkpoint, in the same MLflow
run, only when everything that decides its result is unchanged: the params that decide the
training trajectory, the code `train` runs (lineage.stage_code, the files dvc.yaml lists) and the
files it reads (the prepared data, the classifier and its features). Anything else starts afresh
and says which of them changed. The logs live beside the checkpoints because DVC deletes a
stage's outputs before it runs.

Under multi_worker only the chief keeps this state; every other worker must still take part in
each checkpoint save (MultiWorkerMirroredStrategy needs them all), so it saves into a scratch
directory that it deletes at the end. Before anything is cleared or trained, the workers compare
their start step and inputs over the strategy's collectives and refuse to start unless they agree.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..config import Config, flatten
from ..errors import TrainingStateError
from ..io import StepLog, atomic_path, file_digest, write_json
from ..lineage import code_digests
from ..paths import (
    CHECKPOINTS,
    CLASSIFIER,
    FID_LOG,
    HISTORY_LOG,
    PREPARED,
    REAL_FEATURES,
)
from ..paths import (
    TRAIN_STATE as STATE,
)

FID_COLUMNS = ("fid", "seconds")
INPUT_FILES = (PREPARED, CLASSIFIER, REAL_FEATURES)  # train's data deps in dvc.yaml
TASK_TYPES = ("chief", "worker")  # the tasks of a MultiWorkerMirroredStrategy cluster that train


def inputs(cfg: Config) -> dict[str, str]:
    """A digest of each thing that decides a training run's result: a checkpoint resumes only
    when all of them are unchanged."""
    params = flatten(cfg, ("seed", "data", "model", "train"))
    return (
        {"params": hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()}
        | code_digests("train")
        | {path.as_posix(): file_digest(path) for path in INPUT_FILES if path.is_file()}
    )


def code_and_data_digest(inputs: dict[str, str]) -> str:
    """One digest of what decides a training run's result besides its params: the code train runs and
    the files it reads (what dvc.lock's deps of train hash). Runs whose params and this digest agree
    are seeds of one recipe."""
    rest = {key: digest for key, digest in inputs.items() if key != "params"}
    return hashlib.sha256(json.dumps(rest, sort_keys=True).encode()).hexdigest()[:16]


def _not_resumable(state: dict, now: dict[str, str]) -> str | None:
    """Why an unfinished run's checkpoint cannot resume under `now` (None: it can)."""
    before = state.get("inputs")
    if before is None:
        return "its state records no inputs (made by an older fashiongan)"
    changed = sorted(k for k in before.keys() | now.keys() if before.get(k) != now.get(k))
    if not changed:
        return None
    named = ", ".join(changed[:4]) + (f" and {len(changed) - 4} more" if len(changed) > 4 else "")
    return f"{named} changed since it was saved"


def start_row(task_type: str, task_id: int, step: int, inputs: dict[str, str]) -> list[int]:
    """What a worker starts training from, as int64s that collectives carry exactly: its task, its
    start step and the sha256 of its inputs in four signed 64-bit chunks."""
    digest = hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).digest()
    chunks = [int.from_bytes(digest[i : i + 8], "big", signed=True) for i in range(0, len(digest), 8)]
    return [TASK_TYPES.index(task_type), task_id, step, *chunks]


def disagreement(rows: list[list[int]]) -> str | None:
    """Why the workers whose `start_row`s these are cannot train together (None: they can). A worker
    with several GPUs sends one row per replica."""
    starts = {(task_type, task_id): (step, tuple(chunks)) for task_type, task_id, step, *chunks in rows}
    if len(set(starts.values())) <= 1:
        return None
    described = ", ".join(
        f"{TASK_TYPES[task_type]} {task_id} at step {step} (digest of params, code and data {_hex(chunks)[:12]})"
        for (task_type, task_id), (step, chunks) in sorted(starts.items())
    )
    return (
        f"the workers would train from different states: {described}; give every worker the same "
        f"{CHECKPOINTS} and the same params, code and data (or delete {CHECKPOINTS} on every worker "
        "to start afresh)"
    )


def _hex(chunks) -> str:
    return b"".join(chunk.to_bytes(8, "big", signed=True) for chunk in chunks).hex()


def agree_across_workers(strategy, step: int, inputs: dict[str, str]) -> None:
    """Under MultiWorkerMirroredStrategy, all-gather each worker's `start_row` and refuse to train
    unless all agree: a worker that resumes beside one that starts afresh (or that runs other params
    or code) would otherwise average their gradients into one mixed model without a word. Every
    worker gets every row, so all of them stop, with the same message."""
    import tensorflow as tf

    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return  # one process: nothing to disagree with
    resolver = strategy.cluster_resolver
    row = tf.constant([start_row(resolver.task_type, resolver.task_id, step, inputs)], tf.int64)
    rows = strategy.gather(strategy.experimental_distribute_values_from_function(lambda _: row), axis=0)
    if why := disagreement(rows.numpy().tolist()):
        raise TrainingStateError(why)


@dataclass
class TrainingState:
    inputs: dict[str, str]
    resuming: bool
    run_id: str | None  # of the interrupted run, when resuming
    start_step: int
    history: StepLog
    fid_log: StepLog
    manager: object  # tf.train.CheckpointManager
    chief: bool
    # What the run decided at its last step and has yet to write out (the weight averages' FIDs, the
    # summary), kept in state.json until it is finished: killed while writing its outputs, it resumes at
    # its last step, trains nothing more and writes the same outputs again.
    outcome: dict = field(default_factory=dict)

    def save(self, step: int) -> None:
        self.manager.save(checkpoint_number=step)

    def record(self, run_id: str | None, finished: bool, **outcome) -> None:
        """state.json: the inputs, the MLflow run, finished or not, and `outcome` added to the run's."""
        self.outcome |= outcome
        if self.chief:
            write_json(
                STATE,
                {"inputs": self.inputs, "run_id": run_id, "finished": finished}
                | ({"outcome": self.outcome} if self.outcome else {}),
            )

    def average_fids(self) -> dict[float, float]:
        """Each weight average's FID as the run measured it at its last step ({} before that step)."""
        return {float(decay): fid for decay, fid in self.outcome.get("ema_fid_train", {}).items()}

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


def restore(
    cfg: Config, checkpoint, metric_names, chief: bool = True, task: str = "", strategy=None
) -> TrainingState:
    """Restore `checkpoint` (a tf.train.Checkpoint with a `step`) from the last checkpoint of an
    unfinished run with the same inputs, or start afresh (the chief clears old state), saying why
    when an unfinished run's checkpoint is left. Under a multi-worker `strategy`, only once every
    worker starts from the same step and inputs."""
    import tensorflow as tf

    CHECKPOINTS.mkdir(parents=True, exist_ok=True)
    state = json.loads(STATE.read_text()) if STATE.exists() else {}
    latest = tf.train.latest_checkpoint(str(CHECKPOINTS))
    now = inputs(cfg)
    unfinished = latest is not None and not state.get("finished", True)
    why_not = _not_resumable(state, now) if unfinished else None
    resuming = unfinished and why_not is None
    if why_not and chief:
        print(
            f"train: starting afresh, not resuming the interrupted run's checkpoint {Path(latest).name}: "
            f"{why_not}",
            file=sys.stderr,
        )
    if resuming:
        try:
            checkpoint.restore(latest).assert_existing_objects_matched()
        except (AssertionError, ValueError, tf.errors.OpError) as e:
            raise TrainingStateError(
                f"{latest}: does not match the model it was saved for, although code, data "
                f"and params are unchanged ({type(e).__name__}); delete {CHECKPOINTS} to "
                "start afresh"
            ) from None
    start_step = int(checkpoint.step.numpy())
    if strategy is not None:  # before the chief clears anything: a refused start leaves every checkpoint
        agree_across_workers(strategy, start_step, now)
    if not resuming and chief:
        shutil.rmtree(CHECKPOINTS)
        CHECKPOINTS.mkdir(parents=True)
    directory = CHECKPOINTS if chief else Path(tempfile.mkdtemp(prefix=f"fashiongan-{task}-"))
    history = StepLog(directory / HISTORY_LOG.name, metric_names)
    fid_log = StepLog(directory / FID_LOG.name, FID_COLUMNS)
    history.keep_through(start_step)
    fid_log.keep_through(start_step)
    return TrainingState(
        now,
        resuming,
        state.get("run_id") if resuming else None,
        start_step,
        history,
        fid_log,
        tf.train.CheckpointManager(checkpoint, str(directory), max_to_keep=3),
        chief,
        state.get("outcome", {}) if resuming else {},
    )
