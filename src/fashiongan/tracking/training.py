"""What train records at the start of its MLflow run: the params, the tags that name the recipe and the
training dataset for a new run; for a resumed one, what it missed before it was interrupted."""

from __future__ import annotations

import json

import keras

from ..config import Config, flatten
from ..gan.resume import TrainingState, code_and_data_digest
from ..paths import DATA_REPORT
from .run import Run, send_missing
from .store import provenance_tags


def record_start(
    run: Run, cfg: Config, state: TrainingState, ruler_id: str | None, replicas: int
) -> dict[str, int]:
    """Params, tags and the training dataset of a new run; for a resumed one, the step logs' rows
    up to the checkpoint that its background log_batch may not have sent before a kill -9 (later
    steps are recomputed). Returns the last step MLflow holds of each series."""
    held = {}
    if state.resuming:
        _, held = send_missing(run, state.history.series() | {"fid": state.fid_log.series()["fid"]})
    if run.run_id != state.run_id:  # a new run (also when resuming a run that was not tracked there)
        run.log_params(flatten(cfg, ("seed", "runtime", "data", "model", "train")))
        run.set_tags(
            provenance_tags([path for path in state.inputs if path.startswith("src/")])
            | {
                "train.inputs_digest": code_and_data_digest(state.inputs),
                "model.arch": cfg.model.arch,
                "train.loss": cfg.train.loss,
                "model.conditional": cfg.model.conditional,
                "train.replicas": replicas,
                "train.dtype_policy": keras.config.dtype_policy().name,
            }
            | ({"ruler": ruler_id} if ruler_id else {})
        )
    state.record(run.run_id, finished=False)
    if DATA_REPORT.is_file():  # prepare's report (a dvc.yaml dep; absent when a stage runs on hand-made data)
        run.log_dataset(json.loads(DATA_REPORT.read_text()), "training")
    return held
