"""Each evaluation of a trained generator as an MLflow run of its own, nested under the training run
that made the generator. Its metrics (`eval.*`) are linked to the generator's LoggedModel and to the
test split they were scored on, so the model's page lists every evaluation; what it measured with
(ruler, n, the samples' seed and count, the evaluate code) are its params and tags. A later evaluation
adds a run and never overwrites an earlier one; the same evaluation again is recorded once."""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from pathlib import Path

from ..errors import MissingInput
from ..io import file_digest
from ..lineage import code_digests
from ..paths import DATA_REPORT, GENERATOR, GRID, SAMPLES, TRAIN_SUMMARY, evaluation_files
from . import model, registry
from .datasets import dataset_input
from .outage import survives_outage

ROLE = "fashiongan.role"  # "evaluation" on an evaluation's run; training runs do not carry it
EVALUATION = "evaluation"
RECORD = "fashiongan.evaluation"  # the digest of the evaluation's identity: finds it again (sync)
IDENTITY_PARAMS = ("evaluate.n", "sample.n", "sample.seed")  # also a run's params: fixed once logged


def evaluation_artifacts() -> list[tuple[Path, str]]:
    """What evaluate logs into an evaluation's run, as (file, artifact directory): sample's grid, then
    evaluate's reports and figures."""
    return [(GRID, "samples"), *((path, "evaluation") for path in evaluation_files())]


def evaluation_identity(samples, n: int, ruler_id: str, stage: str) -> dict:
    """What an evaluation by `stage` (evaluate, inception) measures with, from the samples file as sample
    wrote it; refuses samples that are not the current generator's, or fewer than n of them (a silently
    different number)."""
    generator = file_digest(GENERATOR)
    drawn_by = str(samples["generator_sha256"]) if "generator_sha256" in samples else None
    if drawn_by != generator:
        raise MissingInput(
            f"{SAMPLES}: drawn from "
            + (f"generator sha256 {drawn_by[:12]}" if drawn_by else "a generator it does not name")
            + f", not {GENERATOR} (sha256 {generator[:12]}): run `dvc repro` (or `fashiongan sample`) first"
        )
    count = len(samples["images"])
    if count < n:
        raise MissingInput(
            f"{SAMPLES}: holds {count} images, but {stage}.n is {n}: set sample.n to at least {n} and "
            "run `dvc repro`"
        )
    code = json.dumps(code_digests(stage), sort_keys=True)
    return {
        "ruler": ruler_id,
        "evaluate.n": n,
        "sample.n": count,
        "sample.seed": int(samples["seed"]),
        "generator_sha256": generator,
        "evaluate_code": hashlib.sha256(code.encode()).hexdigest()[:16],
    }


def trained_with() -> str | None:
    """The digest of the code and data the generator was trained with (train's summary): with the params,
    the recipe an evaluation's numbers belong to (report and compare never average two recipes' numbers)."""
    return json.loads(TRAIN_SUMMARY.read_text()).get("inputs_digest") if TRAIN_SUMMARY.is_file() else None


def data_report() -> dict | None:
    """prepare's report of the data the test split comes from; None on hand-made data (no prepare)."""
    return json.loads(DATA_REPORT.read_text()) if DATA_REPORT.is_file() else None


def identity_digest(identity: dict) -> str:
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:16]


def parent_filter(training_run_id: str) -> str:
    return f"tags.`{ROLE}` = '{EVALUATION}' AND tags.`mlflow.parentRunId` = '{training_run_id}'"


def find_evaluation(client, experiment_id: str, training_run_id: str, identity: dict):
    """The evaluation run of `training_run_id` with this identity (an mlflow Run), or None."""
    found = client.search_runs(
        [experiment_id],
        filter_string=f"{parent_filter(training_run_id)} AND tags.`{RECORD}` = '{identity_digest(identity)}'",
        max_results=1,
    )
    return found[0] if found else None


@survives_outage
def record_evaluation(
    run,
    identity: dict,
    metrics: dict,
    files: list[tuple[Path, str]],
    data_report: dict | None,
    model_id: str,
    prefix: str = "eval",
) -> str | None:
    """Record one evaluation of training run `run`'s generator (the LoggedModel `model_id`): a run
    nested under `run`, named after it, with `identity` (ruler, evaluate.n, sample.n, sample.seed,
    digests of the generator and of the evaluate code) as params and tags, `metrics` as
    `prefix`.* (eval: the project's ruler, inception: the Inception ruler) linked to the model and to the
    test split, `files` as artifacts (path, directory), and the
    status FINISHED. Returns the evaluation run's id; one recorded already (same identity) is kept as
    it is. Unfinished (the store went away during it), it is completed."""
    from mlflow.entities import LoggedModelInput, Metric, Param
    from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

    client = run.client
    training = client.get_run(run.run_id)
    experiment_id = training.info.experiment_id
    held = find_evaluation(client, experiment_id, run.run_id, identity)
    if held is not None and held.info.status == "FINISHED":
        return held.info.run_id
    if held is None:
        name = f"{training.info.run_name or run.run_id[:8]}.{prefix}-n{identity['evaluate.n']}"
        tags = {key: str(value) for key, value in identity.items() if key not in IDENTITY_PARAMS}
        tags |= {ROLE: EVALUATION, RECORD: identity_digest(identity), MLFLOW_PARENT_RUN_ID: run.run_id}
        held = client.create_run(experiment_id, run_name=name, tags=tags)
    evaluation_id = held.info.run_id
    try:
        dataset = dataset_input(data_report, "evaluation") if data_report else None
        client.log_inputs(
            evaluation_id, datasets=[dataset] if dataset else None, models=[LoggedModelInput(model_id)]
        )
        now = int(time.time() * 1000)
        linked = (
            {"dataset_name": dataset.dataset.name, "dataset_digest": dataset.dataset.digest}
            if dataset
            else {}
        )
        client.log_batch(
            evaluation_id,
            params=[Param(key, str(identity[key])) for key in IDENTITY_PARAMS],
            metrics=[
                Metric(f"{prefix}.{key}", float(value), now, 0, model_id=model_id, **linked)
                for key, value in metrics.items()
                if isinstance(value, (int, float))
            ],
        )
        for path, directory in files:
            client.log_artifact(evaluation_id, str(path), directory)
    except Exception:
        with contextlib.suppress(Exception):  # the store may be what failed: its own error is the one to see
            client.set_terminated(evaluation_id, "FAILED")
        raise
    client.set_terminated(evaluation_id, "FINISHED")
    return evaluation_id


def evaluations_of(client, experiment_id: str, training_run_ids: list[str], max_results: int = 5000) -> dict:
    """{training run id: its FINISHED evaluation runs, newest first} for the given training runs."""
    wanted, found = set(training_run_ids), {}
    for evaluation in client.search_runs(
        [experiment_id],
        filter_string=f"tags.`{ROLE}` = '{EVALUATION}' AND attributes.status = 'FINISHED'",
        max_results=max_results,
        order_by=["attributes.start_time DESC"],
    ):
        parent = evaluation.data.tags.get("mlflow.parentRunId")
        if parent in wanted:
            found.setdefault(parent, []).append(evaluation)
    return found


def record(
    run,
    generator: Path,
    identity: dict,
    metrics: dict,
    files: list[tuple[Path, str]],
    data_report: dict | None,
    register_as: str | None,
    class_names=None,
    prefix: str = "eval",
) -> tuple[str | None, str | None]:
    """What evaluate (and `tracking sync` after an outage) records of one evaluation: the training run's
    generator as its LoggedModel (once), the evaluation's run (record_evaluation), and with `register_as`
    the generator's registry version, tagged with this evaluation's FID, ruler and n. Returns the model
    URI and the evaluation's run id (None for each the store did not take)."""
    logged = model.log_generator(run, generator, class_names)
    if logged is None:  # tracking is off, or the store went away
        return None, None
    evaluation_id = record_evaluation(run, identity, metrics, files, data_report, logged.model_id, prefix)
    if register_as and evaluation_id:
        measured = {"fid": metrics["fid"], "ruler": identity["ruler"], "n": identity["evaluate.n"]}
        registry.register_generator(
            run,
            logged,
            register_as,
            registry.model_description(metrics),
            measured | {"evaluation": evaluation_id},
        )
    return logged.model_uri, evaluation_id
