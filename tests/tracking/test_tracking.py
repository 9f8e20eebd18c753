"""tracking/ against a real SQLite store (no server): concurrency, masking, the run file."""

import errno
import hashlib
import http.server
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from fashiongan.tracking.datasets import DATASET_SPLITS, dataset_input
from fashiongan.tracking.model import generator_file
from fashiongan.tracking.outage import is_outage, masked
from fashiongan.tracking.run import NoRun, Run, continue_run, open_run, start_run, write_run_file
from fashiongan.tracking.store import tracking_uri
from fashiongan.tracking.sync import sync_saved

START_A_RUN = """
from fashiongan.tracking.run import start_run
run = start_run("fashiongan")
run.log_series({"g_loss": [(1, 0.5)]})
run.end()
print(run.run_id)
"""


@pytest.mark.slow
def test_three_experiments_starting_together_on_a_fresh_store_get_three_runs(tmp_path):
    env = {"DVC_ROOT": str(tmp_path), "MLFLOW_DISABLE_TELEMETRY": "true", "PATH": "/usr/bin:/bin"}
    starts = [
        subprocess.Popen(
            [sys.executable, "-c", START_A_RUN],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    results = [(p.wait(timeout=180), *p.communicate()) for p in starts]
    assert [code for code, _, _ in results] == [0, 0, 0], [err[-1500:] for _, _, err in results]
    assert not any("database is locked" in err for _, _, err in results)
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("fashiongan").experiment_id])
    assert sorted(r.info.run_id for r in runs) == sorted(out.strip() for _, out, _ in results)
    assert {r.info.status for r in runs} == {"FINISHED"} and all(
        r.data.metrics["g_loss"] == 0.5 for r in runs
    )


def test_credentials_are_masked_wherever_they_appear():
    assert masked("https://alice:s3cret@mlflow.example.com/") == "https://***@mlflow.example.com/"
    message = "API request to https://alice:s3cret@h/api failed; retried https://bob:pw@h"
    assert "s3cret" not in masked(message) and "pw@" not in masked(message)
    assert masked("sqlite:////tmp/mlflow.db") == "sqlite:////tmp/mlflow.db"


def test_the_store_defaults_to_the_dvc_root_not_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("DVC_ROOT", str(tmp_path / "repo"))
    monkeypatch.chdir(tmp_path)
    assert tracking_uri() == f"sqlite:///{tmp_path / 'repo' / 'mlflow.db'}"


def test_sync_without_a_training_run_says_how_to_make_one(tmp_path, monkeypatch):
    from fashiongan.errors import MissingInput

    monkeypatch.chdir(tmp_path)
    assert sync_saved(enabled=False) == "tracking.enabled is false: nothing to sync"
    with pytest.raises(
        MissingInput,
        match=r"^reports/train/run.json, models/checkpoints/state.json: no tracked training run to sync",
    ):
        sync_saved(enabled=True)


@pytest.fixture(scope="module")
def empty_store(tmp_path_factory) -> Path:
    """An MLflow database with its tables and no runs, made once: MLflow takes seconds to create them."""
    from mlflow.tracking import MlflowClient

    path = tmp_path_factory.mktemp("store") / "mlflow.db"
    MlflowClient(f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def store(empty_store, tmp_path, monkeypatch):
    """An empty SQLite store in tmp_path, which is also the repo root and the working directory."""
    from mlflow.tracking import MlflowClient

    shutil.copy(empty_store, tmp_path / "mlflow.db")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)
    return MlflowClient(uri)


def test_a_deleted_experiment_is_restored_in_one_line_and_records_the_next_run(store, capsys):
    start_run("fashiongan").end()
    experiment = store.get_experiment_by_name("fashiongan")
    store.delete_experiment(experiment.experiment_id)
    capsys.readouterr()

    run = start_run("fashiongan")
    run.end()
    err = capsys.readouterr().err
    assert (
        err.count("\n") == 1
        and "MLflow experiment 'fashiongan'" in err
        and "had been deleted; restored" in err
    )
    assert store.get_experiment(experiment.experiment_id).lifecycle_stage == "active"
    assert store.get_run(run.run_id).info.experiment_id == experiment.experiment_id


def test_a_deleted_run_is_restored_when_train_resumes_it_and_when_a_later_stage_appends(store, capsys):
    run = start_run("fashiongan")
    run.end("KILLED")
    store.delete_run(run.run_id)
    capsys.readouterr()

    resumed = start_run("fashiongan", resume_run_id=run.run_id)
    info = store.get_run(run.run_id).info
    assert (info.lifecycle_stage, info.status) == ("active", "RUNNING")
    assert (
        capsys.readouterr().err
        == f"fashiongan: MLflow run {run.run_id} had been deleted; restored it to go on "
        "recording into it\n"
    )
    write_run_file(resumed)
    store.delete_run(run.run_id)
    continue_run(True).set_tags({"sample.n": 10})
    assert store.get_run(run.run_id).data.tags["sample.n"] == "10"


def test_a_run_resumed_under_another_experiment_goes_on_in_a_new_run_there(store, capsys):
    """tracking.experiment changed while train was interrupted: its run must not be written to in
    the old experiment (the new one's UI, compare and registry would never list it)."""
    old = start_run("fashiongan")
    capsys.readouterr()
    resumed = start_run("renamed", resume_run_id=old.run_id)
    assert resumed.run_id != old.run_id
    assert (
        store.get_run(resumed.run_id).info.experiment_id
        == store.get_experiment_by_name("renamed").experiment_id
    )
    assert "is not in experiment 'renamed'" in capsys.readouterr().err


class _Answering(http.server.BaseHTTPRequestHandler):
    """A server that answers every request with the status in its class attribute."""

    status = 503

    def do_GET(self):
        self.send_response(self.status)
        self.end_headers()
        self.wfile.write(b"not now")

    do_POST = do_GET

    def log_message(self, *args):
        pass


@pytest.fixture
def server_answering():
    """Start a local HTTP server that answers every request with the given status; its URI."""
    servers = []

    def start(status: int) -> str:
        server = http.server.HTTPServer(("127.0.0.1", 0), type("Handler", (_Answering,), {"status": status}))
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}"

    yield start
    for server in servers:
        server.shutdown()


def http_run(uri: str) -> Run:
    from mlflow.tracking import MlflowClient

    return Run(MlflowClient(uri), "0" * 32)


@pytest.mark.parametrize("answer", ["no server", 503])
def test_a_store_out_of_reach_is_survived_with_one_warning(answer, server_answering, monkeypatch, capsys):
    from pipeline_repo import free_port

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    run = http_run(f"http://127.0.0.1:{free_port()}" if answer == "no server" else server_answering(answer))
    run.log_series({"g_loss": [(1, 0.5)]})
    run.flush()  # the batch's connection failure surfaces here, from the background thread
    run.set_tags({"sample.n": 10})
    assert run.lost is not None and capsys.readouterr().err.count("stopped answering") == 1


@pytest.mark.parametrize("status, code", [(400, "BAD_REQUEST"), (404, "ENDPOINT_NOT_FOUND")])
def test_a_server_refusing_a_request_stops_with_one_line(status, code, server_answering, monkeypatch):
    from fashiongan.errors import TrackingError

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    with pytest.raises(
        TrackingError,
        match=rf"^MLflow store http://127\.0\.0\.1:\d+: set_tags failed: {code}: "
        rf"API request to endpoint /api/2\.0/mlflow/runs/set-tag failed with "
        rf"error code {status}",
    ):
        http_run(server_answering(status)).set_tags({"sample.n": 10})


def test_a_refused_write_to_a_sqlite_store_stops_with_one_line_naming_it(store):
    from fashiongan.errors import TrackingError

    run = start_run("fashiongan")
    with pytest.raises(
        TrackingError, match="set_tags failed: INVALID_PARAMETER_VALUE: 'key' exceeds the maximum"
    ):
        run.set_tags({"k" * 300: 1})
    run.log_series({"bad key!": [(1, 0.5)]})  # refused in the background: said when the batches are awaited
    with pytest.raises(
        TrackingError, match=r"flush failed: INVALID_PARAMETER_VALUE: Invalid value \"bad key!\""
    ):
        run.flush()
    assert run.lost is None


def test_a_full_disk_stops_with_one_line_naming_it(store, monkeypatch, capsys):
    from fashiongan.errors import TrackingError

    run = start_run("fashiongan")

    def no_space(run_id, local_path, artifact_path=None):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), local_path)

    monkeypatch.setattr(run.client, "log_artifact", no_space)
    with pytest.raises(
        TrackingError, match=r"log_artifact failed: OSError: \[Errno 28\] No space left on device"
    ):
        run.log_artifact(Path("reports/metrics.json"), "evaluation")

    # The database's own disk full (SQLite's SQLITE_FULL), made real by capping the file's pages.
    import sqlalchemy

    engine = run.client._tracking_client.store.engine
    pages = (
        sqlite3.connect(store.tracking_uri.removeprefix("sqlite:///"))
        .execute("PRAGMA page_count")
        .fetchone()[0]
    )
    sqlalchemy.event.listen(
        engine, "connect", lambda connection, _: connection.execute(f"PRAGMA max_page_count = {pages}")
    )
    engine.dispose()
    capsys.readouterr()
    with pytest.raises(
        TrackingError,
        match=r"set_tags failed: TEMPORARILY_UNAVAILABLE: \(sqlite3.OperationalError\) "
        "database or disk is full",
    ):
        run.set_tags({f"tag{i}": "x" * 5000 for i in range(20)})
    assert "Traceback" not in capsys.readouterr().err


def test_a_locked_or_unopenable_sqlite_store_is_an_outage_a_full_one_is_not(tmp_path):
    """The chain MLflow's SQL store raises (mlflow/store/db/utils.py: MlflowException from
    SQLAlchemy's OperationalError, which wraps sqlite3's), around real sqlite3 errors."""
    import sqlalchemy
    from mlflow.exceptions import MlflowException

    def as_mlflow_raises(path, *statements):
        engine = sqlalchemy.create_engine(f"sqlite:///{path}", connect_args={"timeout": 0})
        try:
            with engine.connect() as connection:
                for statement in statements:
                    connection.exec_driver_sql(statement)
        except sqlalchemy.exc.OperationalError as e:
            try:
                raise MlflowException(str(e), error_code="TEMPORARILY_UNAVAILABLE") from e
            except MlflowException as wrapped:
                return wrapped
        finally:
            engine.dispose()
        raise AssertionError(f"{statements} did not fail")

    held = sqlite3.connect(tmp_path / "held.db")
    held.execute("CREATE TABLE t (x)")
    held.commit()
    held.execute("BEGIN EXCLUSIVE")
    assert is_outage(as_mlflow_raises(tmp_path / "held.db", "SELECT * FROM t"))
    assert is_outage(as_mlflow_raises(tmp_path / "no-such-dir" / "mlflow.db", "SELECT 1"))
    held.rollback()
    full = sqlite3.connect(tmp_path / "full.db")
    full.execute("CREATE TABLE t (x)")
    full.commit()
    pages = full.execute("PRAGMA page_count").fetchone()[0]
    full.close()
    error = as_mlflow_raises(
        tmp_path / "full.db", f"PRAGMA max_page_count = {pages}", "INSERT INTO t VALUES (zeroblob(100000))"
    )
    assert "database or disk is full" in str(error) and not is_outage(error)


def tiny_generator(path: Path, seed: int = 0) -> Path:
    import keras

    from fashiongan.config import ModelConfig
    from fashiongan.gan.models import build_generator
    from fashiongan.io import save_model

    keras.utils.set_random_seed(seed)
    save_model(
        build_generator(
            ModelConfig(arch="mlp", latent_dim=8, conditional=False, spectral_norm=False, clusters=0)
        ),
        path,
    )
    return path


EVALUATED = {"fid_real": 0.6, "kid": 0.01, "precision": 0.7, "recall": 0.6}  # evaluate's other metrics


def evaluation(generator: Path, n: int = 100, ruler: str = "ruler-a", sample_seed: int = 1) -> dict:
    """An evaluation's identity as evaluate makes it."""
    from fashiongan.io import file_digest

    return {
        "ruler": ruler,
        "evaluate.n": n,
        "sample.n": n,
        "sample.seed": sample_seed,
        "generator_sha256": file_digest(generator),
        "evaluate_code": "e0",
    }


def test_each_evaluation_is_a_run_of_its_own_beside_one_generator_and_none_erases_another(
    store, decoy_global_store
):
    """evaluate run again (another evaluate.n, as `dvc repro` runs it after that param changed): a second
    record; the same evaluation again: none; the generator logged and registered once, with the FID, ruler and n
    of the evaluation that registered it."""
    from fashiongan.errors import TrackingError
    from fashiongan.tracking.evaluation import record

    path = tiny_generator(Path("g.keras"))
    training = start_run("fashiongan", system_metrics=False)
    training.end()
    run = open_run(training.run_id)
    uri, first = record(run, path, evaluation(path, 100), EVALUATED | {"fid": 12.5, "n": 100}, [], None, None)
    again = record(
        run, path, evaluation(path, 100), EVALUATED | {"fid": 12.5, "n": 100}, [], None, "fashiongan"
    )
    assert again == (uri, first)  # the same evaluation: recorded once, now registered
    _, second = record(
        run, path, evaluation(path, 50), EVALUATED | {"fid": 15.0, "n": 50}, [], None, "fashiongan"
    )
    experiment = store.get_run(run.run_id).info.experiment_id
    (model,) = store.search_logged_models([experiment])
    assert model.model_uri == uri and model.source_run_id == run.run_id
    held = {e: store.get_run(e) for e in (first, second)}
    assert {e: (r.data.params["evaluate.n"], r.data.metrics["eval.fid"]) for e, r in held.items()} == {
        first: ("100", 12.5),
        second: ("50", 15.0),
    }
    for evaluation_id, fid in ((first, 12.5), (second, 15.0)):
        evaluated = held[evaluation_id]
        assert evaluated.data.tags["mlflow.parentRunId"] == run.run_id and evaluated.info.status == "FINISHED"
        assert [i.model_id for i in evaluated.inputs.model_inputs] == [model.model_id]
        # each evaluation's FID is one of the model's metrics, linked to the run that measured it
        assert (fid, evaluation_id) in {(m.value, m.run_id) for m in model.metrics if m.key == "eval.fid"}
    assert "eval.fid" not in store.get_run(run.run_id).data.metrics  # the training run holds training only
    (version,) = store.search_model_versions("name = 'fashiongan'")
    assert (version.source, version.run_id) == (uri, run.run_id)
    assert version.tags == {"fid": "12.5", "ruler": "ruler-a", "n": "100", "evaluation": first}

    other = tiny_generator(Path("other.keras"), seed=1)
    with pytest.raises(
        TrackingError,
        match=rf"^other\.keras \(sha256 \w{{12}}\) is not the generator MLflow run "
        rf"{run.run_id} holds \({uri}, sha256 \w{{12}}\)",
    ):
        record(run, other, evaluation(other), EVALUATED | {"fid": 1.0, "n": 100}, [], None, None)
    assert len(store.search_logged_models([experiment])) == 1


@pytest.fixture
def decoy_global_store(tmp_path, monkeypatch):
    """MLflow's process-wide tracking URI pointed at another store (as a user's own mlflow.set_tracking_uri
    would): whatever reads it instead of the repo's store writes there. Set on MLflow's module variable,
    not by set_tracking_uri, which would also set MLFLOW_TRACKING_URI."""
    from mlflow.tracking._tracking_service import utils

    decoy = f"sqlite:///{tmp_path / 'decoy.db'}"
    monkeypatch.setattr(utils, "_tracking_uri", decoy)
    yield tmp_path / "decoy.db"
    assert utils._tracking_uri == decoy  # nothing set MLflow's global URI


def evaluated(fid: float, ruler: str, seed: int, n: int = 100) -> tuple[str, Path]:
    """A training run and evaluate's record of its generator, registered; (run id, generator)."""
    from fashiongan.tracking.evaluation import record

    run = start_run("fashiongan", system_metrics=False)
    run.end()
    generator = tiny_generator(Path(f"g{seed}.keras"), seed)
    record(
        run,
        generator,
        evaluation(generator, n, ruler),
        EVALUATED | {"fid": fid, "n": n},
        [],
        None,
        "fashiongan",
    )
    return run.run_id, generator


def champion(store) -> tuple[int, str]:
    version = store.get_model_version_by_alias("fashiongan", "champion")
    return int(version.version), version.run_id


def test_the_champion_is_the_lowest_fid_among_versions_measured_like_the_newest(store, decoy_global_store):
    import mlflow

    from fashiongan.io import file_digest

    first, _ = evaluated(30.0, "ruler-a", seed=1)
    assert champion(store) == (1, first)
    second, best = evaluated(20.0, "ruler-a", seed=2)
    evaluated(25.0, "ruler-a", seed=3)
    assert champion(store) == (2, second)
    assert file_digest(generator_file("models:/fashiongan@champion")) == file_digest(best)
    versions = store.search_model_versions("name = 'fashiongan'")
    assert {int(v.version): (v.tags["fid"], v.tags["ruler"], v.tags["n"]) for v in versions} == {
        1: ("30.0", "ruler-a", "100"),
        2: ("20.0", "ruler-a", "100"),
        3: ("25.0", "ruler-a", "100"),
    }
    # FIDs measured on another n are not comparable (FID falls as n grows), however much lower
    fourth, _ = evaluated(22.0, "ruler-a", seed=4, n=1000)
    assert champion(store) == (4, fourth)
    # nor those of another ruler, however much higher
    fifth, _ = evaluated(40.0, "ruler-b", seed=5)
    assert champion(store) == (5, fifth)
    assert not decoy_global_store.exists() and mlflow.active_run() is None


REGISTER = """
import sys, time
from pathlib import Path
from mlflow.tracking import MlflowClient
from fashiongan.tracking.model import generator_model
from fashiongan.tracking.registry import register_generator
from fashiongan.tracking.run import open_run

run_id, fid, stall = sys.argv[1], sys.argv[2], sys.argv[3]
if stall != "-":  # the first time it sets the alias: wait there for the other process to register and crown
    set_alias = MlflowClient.set_registered_model_alias

    def stalled(client, *args):
        MlflowClient.set_registered_model_alias = set_alias
        Path(stall + ".read").touch()
        while not Path(stall + ".go").exists():
            time.sleep(0.05)
        set_alias(client, *args)

    MlflowClient.set_registered_model_alias = stalled
run = open_run(run_id)
register_generator(run, generator_model(run), "fashiongan", "", {"fid": fid, "ruler": "ruler-a", "n": 100})
"""


@pytest.mark.slow
def test_two_pipelines_registering_at_once_leave_the_champion_on_the_best(store, tmp_path):
    """Process A reads the versions (its own only) and stalls before setting the alias; B registers a better
    version and crowns it; then A sets the alias from its stale read. The alias must end on B's version."""
    import time

    from fashiongan.tracking.evaluation import record

    runs = {}
    for fid in (30, 20):  # two trained, evaluated generators, not yet registered
        run = start_run("fashiongan", system_metrics=False)
        run.end()
        generator = tiny_generator(Path(f"g{fid}.keras"), fid)
        record(run, generator, evaluation(generator), EVALUATED | {"fid": fid, "n": 100}, [], None, None)
        runs[fid] = run.run_id
    script = tmp_path / "register.py"
    script.write_text(REGISTER)
    worse = subprocess.Popen([sys.executable, str(script), runs[30], "30", str(tmp_path / "a")])
    deadline = time.time() + 120
    while not (tmp_path / "a.read").exists():
        assert worse.poll() is None and time.time() < deadline
        time.sleep(0.05)
    subprocess.run([sys.executable, str(script), runs[20], "20", "-"], check=True, timeout=120)
    assert champion(store) == (2, runs[20])
    (tmp_path / "a.go").touch()
    assert worse.wait(timeout=120) == 0
    assert champion(store) == (2, runs[20])  # FID 20, although the worse one set the alias last


def test_a_training_run_logs_system_metrics_to_its_store_until_it_ends(
    store, decoy_global_store, monkeypatch
):
    import threading
    import time

    def monitors() -> int:
        return sum(thread.name == "SystemMetricsMonitor" for thread in threading.enumerate())

    def steps() -> list[int]:
        return [m.step for m in store.get_metric_history(run.run_id, "system/cpu_utilization_percentage")]

    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "0.1")  # MLflow's default is 10 s
    before = monitors()
    NoRun().end()
    start_run("fashiongan", system_metrics=False).end()
    assert monitors() == before  # tracking off, or the monitor turned off: no monitor
    run = start_run("fashiongan")
    time.sleep(1)
    run.end()
    sampled = steps()
    assert sampled and sampled == list(range(len(sampled)))
    assert {
        "system/system_memory_usage_megabytes",
        "system/disk_usage_percentage",
        "system/network_receive_megabytes",
    } <= set(store.get_run(run.run_id).data.metrics)
    time.sleep(0.5)
    assert steps() == sampled and monitors() == before  # stopped with the run

    resumed = start_run("fashiongan", resume_run_id=run.run_id)
    time.sleep(1)
    resumed.end()
    continued = steps()
    assert continued[: len(sampled)] == sampled and continued[len(sampled)] == len(
        sampled
    )  # from its last step
    assert not decoy_global_store.exists()


def test_tracking_sync_sends_what_the_run_missed_and_a_second_sync_nothing(store):
    import numpy as np

    from fashiongan.io import StepLog, file_digest, write_json
    from fashiongan.paths import (
        FID_HISTORY,
        FID_LOG,
        FIGURES,
        GENERATOR,
        GRID,
        HISTORY,
        HISTORY_LOG,
        LOSSES_PLOT,
        METRICS,
        METRICS_DETAILS,
        TRAIN_STATE,
        TRAIN_SUMMARY,
    )

    # What the store got before it went away: the params, two steps of metrics, the first sample grid.
    run = start_run("fashiongan")
    run.log_params({"train.sample_every": 2})
    run.log_series({"d_loss": [(1, 1.0), (2, 0.9)]})
    run.log_image(np.zeros((4, 4), np.uint8), key="samples", step=2)
    run.flush()
    # What the stages wrote to disk meanwhile, each stage's outputs after the one before.
    write_json(TRAIN_STATE, {"run_id": run.run_id})
    StepLog(HISTORY_LOG, ["d_loss"]).append(range(1, 7), [[1.0], [0.9], [0.8], [0.7], [0.6], [0.5]])
    StepLog(FID_LOG, ["fid", "seconds"]).append([3, 6], [[50.0, 1.0], [40.0, 2.0]])
    stale = FIGURES / "from_an_earlier_run.png"
    for path in (GENERATOR, LOSSES_PLOT, stale):
        path.parent.mkdir(parents=True, exist_ok=True)
    tiny_generator(GENERATOR)
    for log, published in ((HISTORY_LOG, HISTORY), (FID_LOG, FID_HISTORY)):  # train's copies, its outputs
        shutil.copyfile(log, published)
    LOSSES_PLOT.write_bytes(b"png")
    write_json(TRAIN_SUMMARY, {"steps": 6, "train_seconds": 1.5})
    stale.write_bytes(b"png")
    os.utime(stale, (0, 0))
    write_run_file(run)
    GRID.parent.mkdir(parents=True)
    GRID.write_bytes(b"png")
    write_json(
        METRICS, {"fid": 12.5, "fid_real": 0.6, "kid": 0.01, "precision": 0.7, "recall": 0.6, "n": 100}
    )
    (FIGURES / "class_histogram.png").write_bytes(b"png")
    named = {path.as_posix(): file_digest(path) for path in (GRID, FIGURES / "class_histogram.png")}
    write_json(METRICS_DETAILS, {"timings_s": {}, "identity": evaluation(GENERATOR), "artifacts": named})

    line = sync_saved(True)
    assert line.startswith(
        f"tracking sync: 8 metric values sent to run {run.run_id} in {store.tracking_uri}; "
        "also sent figures/losses.png, the status FINISHED, the evaluation (run "
    )
    assert line.endswith(
        "; 2 sample grids logged while training (steps 4 to 6) are lost: "
        "training draws them and keeps them nowhere on disk"
    )
    held = store.get_run(run.run_id)
    assert held.info.status == "FINISHED"
    assert held.data.metrics == {"d_loss": 0.5, "fid": 40.0, "train.steps": 6, "train.train_seconds": 1.5}
    assert sorted(m.step for m in store.get_metric_history(run.run_id, "d_loss")) == [1, 2, 3, 4, 5, 6]
    assert {f.path for f in store.list_artifacts(run.run_id, "figures")} == {"figures/losses.png"}
    (model,) = store.search_logged_models([held.info.experiment_id])
    assert model.source_run_id == run.run_id and f"of generator {model.model_uri}" in line
    (evaluated,) = store.search_runs([held.info.experiment_id], "tags.`fashiongan.role` = 'evaluation'")
    assert evaluated.info.status == "FINISHED" and evaluated.data.tags["mlflow.parentRunId"] == run.run_id
    assert evaluated.data.metrics == {f"eval.{k}": v for k, v in json.loads(METRICS.read_text()).items()}
    logged = {
        f.path for d in ("samples", "evaluation") for f in store.list_artifacts(evaluated.info.run_id, d)
    }
    assert logged == {  # not the figure older than the run
        "samples/grid.png",
        "evaluation/metrics.json",
        "evaluation/metrics_details.json",
        "evaluation/class_histogram.png",
    }

    assert sync_saved(True).startswith(
        f"tracking sync: 0 metric values sent to run {run.run_id} in {store.tracking_uri}; "
        "nothing else was missing; 2 sample grids"
    )
    assert len(store.search_logged_models([held.info.experiment_id])) == 1
    assert len(store.search_runs([held.info.experiment_id])) == 2  # the training run and one evaluation


DATA_REPORT = {  # reports/data.json as prepare writes it for Fashion-MNIST
    "checked": "sha256 of the decompressed bytes verified against Fashion-MNIST's",
    "class_names": ["a", "b"],
    "sha256": {
        "t10k-images-idx3-ubyte": "1" * 64,
        "t10k-labels-idx1-ubyte": "2" * 64,
        "train-images-idx3-ubyte": "3" * 64,
        "train-labels-idx1-ubyte": "4" * 64,
    },
    "source": "fashion-mnist",
    "test_images": 10000,
    "train_images": 60000,
}


def held_datasets(store, run_id: str) -> dict[str, tuple]:
    """{context: (name, digest, source, profile)} of the run's dataset inputs; fails on two of one context."""
    held = {}
    for held_input in store.get_run(run_id).inputs.dataset_inputs:
        (context,) = [tag.value for tag in held_input.tags if tag.key == "mlflow.data.context"]
        assert context not in held, f"two {context} inputs"
        d = held_input.dataset
        held[context] = (d.name, d.digest, json.loads(d.source), json.loads(d.profile))
    return held


def test_a_run_records_its_training_and_test_data_once_each_digested_from_the_report(store):
    def digest(*parts):
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:36]  # MLflow's digest column holds 36

    run = start_run("fashiongan")
    run.log_dataset(DATA_REPORT, "training")
    run.log_dataset(DATA_REPORT, "training")  # a resumed run
    run.end()
    for _ in range(2):  # evaluate, run again by `dvc repro`
        evaluate = open_run(run.run_id)
        evaluate.log_dataset(DATA_REPORT, "evaluation")
        evaluate.end()
    home = {"url": "https://github.com/zalandoresearch/fashion-mnist"}  # where the set is published
    assert held_datasets(store, run.run_id) == {
        "training": ("fashion-mnist/train", digest("3" * 64, "4" * 64, "60000"), home, {"images": 60000}),
        "evaluation": ("fashion-mnist/test", digest("1" * 64, "2" * 64, "10000"), home, {"images": 10000}),
    }
    schema = json.loads(store.get_run(run.run_id).inputs.dataset_inputs[0].dataset.schema)[
        "mlflow_tensorspec"
    ]
    assert json.loads(schema["features"])[0]["tensor-spec"] == {"dtype": "uint8", "shape": [-1, 28, 28]}


def test_a_dataset_digest_changes_with_its_own_files_and_the_images_kept_only():
    def digests(report):
        return {context: dataset_input(report, context).dataset.digest for context in DATASET_SPLITS}

    before = digests(DATA_REPORT)
    other_labels = DATA_REPORT | {"sha256": DATA_REPORT["sha256"] | {"t10k-labels-idx1-ubyte": "5" * 64}}
    limited = DATA_REPORT | {"train_images": 1000, "train_limit": 1000}
    assert digests(other_labels) == before | {"evaluation": digests(other_labels)["evaluation"]} != before
    assert digests(limited) == before | {"training": digests(limited)["training"]} != before
    assert json.loads(dataset_input(limited, "training").dataset.profile) == {
        "images": 1000,
        "train_limit": 1000,
    }


def test_a_users_directory_is_a_local_source_named_after_it(tmp_path, monkeypatch):
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    as_found = {f"{name}.gz": sha256 for name, sha256 in DATA_REPORT["sha256"].items()}  # a user's may be .gz
    report = DATA_REPORT | {"source": "kmnist", "sha256": as_found}
    dataset = dataset_input(report, "training").dataset
    assert (dataset.name, dataset.source_type, json.loads(dataset.source)) == (
        "kmnist/train",
        "local",
        {"uri": str(tmp_path / "kmnist")},
    )
    assert dataset.digest == dataset_input(DATA_REPORT, "training").dataset.digest  # the same files


def test_tracking_sync_sends_the_datasets_the_run_lacks_from_this_trainings_report(store):
    from fashiongan.io import StepLog, write_json
    from fashiongan.paths import DATA_REPORT as REPORT_FILE
    from fashiongan.paths import (
        FID_HISTORY,
        FID_LOG,
        GENERATOR,
        HISTORY,
        HISTORY_LOG,
        METRICS,
        METRICS_DETAILS,
        TRAIN_STATE,
    )

    run = start_run("fashiongan")  # the store went away before train logged the training data
    StepLog(HISTORY_LOG, ["d_loss"])
    StepLog(FID_LOG, ["fid", "seconds"])
    write_json(TRAIN_STATE, {"run_id": run.run_id})
    write_json(REPORT_FILE, DATA_REPORT)  # `fashiongan prepare` after the training: maybe other data
    assert "dataset" not in sync_saved(True) and held_datasets(store, run.run_id) == {}

    os.utime(REPORT_FILE, (0, 0))  # prepare's report from before the training
    assert "also sent the training dataset" in sync_saved(True)
    assert set(held_datasets(store, run.run_id)) == {"training"}
    assert "nothing else was missing" in sync_saved(True)

    StepLog(HISTORY, ["d_loss"])  # train finished: its step logs published, its run file written last
    StepLog(FID_HISTORY, ["fid", "seconds"])
    write_run_file(run)  # sample and evaluate went on without the store
    write_json(
        METRICS, {"fid": 12.5, "fid_real": 0.6, "kid": 0.01, "precision": 0.7, "recall": 0.6, "n": 100}
    )
    tiny_generator(GENERATOR)
    write_json(METRICS_DETAILS, {"identity": evaluation(GENERATOR)})
    assert ", the evaluation (run " in sync_saved(True)
    assert set(held_datasets(store, run.run_id)) == {"training"}
    (evaluated,) = store.search_runs(
        [store.get_run(run.run_id).info.experiment_id], "tags.`fashiongan.role` = 'evaluation'"
    )
    assert set(held_datasets(store, evaluated.info.run_id)) == {
        "evaluation"
    }  # the test split it was scored on


SUMMARY = {  # reports/train/summary.json as train writes it after keeping two weight averages of G
    "steps": 6,
    "train_seconds": 1.5,
    "steps_per_second": 4.0,
    "images_seen": 384,
    "fid_seconds": 0.2,
    "resumed_from_step": 0,
    "ema_fid_train": {"0.999": 41.5, "0.99": 40.25},
    "ema_published": 0.99,
    "ruler": "6a1b2eb2d356",
    "inputs_digest": "0123456789abcdef",
}
SUMMARY_METRICS = {  # what the run holds of it once training (or a sync) sent it
    f"train.{key}": SUMMARY[key]
    for key in (
        "steps",
        "train_seconds",
        "steps_per_second",
        "images_seen",
        "fid_seconds",
        "resumed_from_step",
    )
} | {"ema_fid_train.0.999": 41.5, "ema_fid_train.0.99": 40.25}


def write_training_outputs(run) -> None:
    """What a finished train leaves in its DVC outputs for `run`, the run file last: the step logs of
    steps 1 to 6 with FIDs at 3 and 6, the loss curves and the summary."""
    from fashiongan.io import StepLog, write_json
    from fashiongan.paths import FID_HISTORY, HISTORY, LOSSES_PLOT, TRAIN_SUMMARY

    StepLog(HISTORY, ["d_loss"]).append(range(1, 7), [[1.0], [0.9], [0.8], [0.7], [0.6], [0.5]])
    StepLog(FID_HISTORY, ["fid", "seconds"]).append([3, 6], [[50.0, 1.0], [40.0, 2.0]])
    LOSSES_PLOT.write_bytes(b"png")
    write_json(TRAIN_SUMMARY, SUMMARY)
    write_run_file(run)


def test_tracking_sync_sends_the_weight_averages_fids_and_the_choice_among_them(store):
    """Several train.ema decays: the store went away before the last step, where training logs each
    average's FID and tags the one it published; sync sends them as training does, and the summary's
    other entries that are no metrics (the ruler, the digest of code and data) as the tags train sets."""
    from fashiongan.io import write_json
    from fashiongan.paths import FID_HISTORY, FID_LOG, HISTORY, HISTORY_LOG, TRAIN_STATE

    run = start_run("fashiongan", system_metrics=False)
    run.log_series({"d_loss": [(1, 1.0), (2, 0.9)]})
    run.flush()
    write_training_outputs(run)
    for published, log in ((HISTORY, HISTORY_LOG), (FID_HISTORY, FID_LOG)):  # the workspace where it ran
        log.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(published, log)
    write_json(TRAIN_STATE, {"run_id": run.run_id, "finished": True})

    line = sync_saved(True)
    assert line.startswith(
        f"tracking sync: 14 metric values sent to run {run.run_id} in {store.tracking_uri}; also sent "
        "figures/losses.png, the tags train.ema_published, ruler and train.inputs_digest, the status FINISHED"
    )
    held = store.get_run(run.run_id).data
    assert held.metrics == {"d_loss": 0.5, "fid": 40.0} | SUMMARY_METRICS
    assert {key: held.tags.get(key) for key in ("train.ema_published", "ruler", "train.inputs_digest")} == {
        "train.ema_published": "0.99",
        "ruler": "6a1b2eb2d356",
        "train.inputs_digest": "0123456789abcdef",
    }
    assert sync_saved(True).startswith(
        f"tracking sync: 0 metric values sent to run {run.run_id} in {store.tracking_uri}; nothing else was missing"
    )


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("workspace", ["without checkpoints", "with its own run's checkpoints"])
def test_tracking_sync_sends_a_queued_experiments_run_from_the_outputs_its_commit_holds(store, workspace):
    """An experiment ran in the queue's temporary copy (deleted since) while the store was away; `dvc exp
    apply` brought its DVC outputs (run file, step logs, summary, loss curves, prepare's report, dvc.lock)
    into a workspace whose models/checkpoints, not a DVC output, are not the experiment's: none, or those
    of the workspace's own finished run. File times are the checkout's and say nothing."""
    from fashiongan.io import StepLog, write_json
    from fashiongan.paths import DATA_REPORT as REPORT_FILE
    from fashiongan.paths import FID_LOG, HISTORY_LOG, LOSSES_PLOT, RUN_FILE, TRAIN_STATE

    own = start_run("fashiongan", system_metrics=False)
    own.end()
    if workspace == "with its own run's checkpoints":
        StepLog(HISTORY_LOG, ["d_loss"]).append([1], [[9.0]])
        StepLog(FID_LOG, ["fid", "seconds"]).append([1], [[99.0, 1.0]])
        write_json(TRAIN_STATE, {"run_id": own.run_id, "finished": True})
    run = start_run("fashiongan", system_metrics=False)  # the experiment's run, as far as the store got
    run.log_params({"train.sample_every": 2})
    run.log_series({"d_loss": [(1, 1.0), (2, 0.9)]})
    run.flush()
    write_training_outputs(run)
    write_json(REPORT_FILE, DATA_REPORT)
    lock = {
        "schema": "2.0",
        "stages": {
            "train": {
                "cmd": "fashiongan train",
                "deps": [{"path": "reports/data.json", "hash": "md5", "md5": md5(REPORT_FILE)}],
                "outs": [{"path": "reports/train/run.json", "hash": "md5", "md5": md5(RUN_FILE)}],
            }
        },
    }
    Path("dvc.lock").write_text(json.dumps(lock))  # JSON is YAML
    for age, path in enumerate((LOSSES_PLOT, REPORT_FILE, RUN_FILE)):  # the run file written first
        os.utime(path, (1e9 - age * 100, 1e9 - age * 100))

    line = sync_saved(True)
    assert line.startswith(
        f"tracking sync: 14 metric values sent to run {run.run_id} in {store.tracking_uri}; also sent "
        "figures/losses.png, the tags train.ema_published, ruler and train.inputs_digest, the training dataset, "
        "the status FINISHED; 3 sample grids logged while training (steps 2 to 6) are lost"
    ), line
    held = store.get_run(run.run_id)
    assert (
        held.info.status == "FINISHED" and held.data.metrics == {"d_loss": 0.5, "fid": 40.0} | SUMMARY_METRICS
    )
    assert [m.step for m in store.get_metric_history(run.run_id, "d_loss")] == [1, 2, 3, 4, 5, 6]
    assert set(held_datasets(store, run.run_id)) == {"training"}
    assert store.get_run(own.run_id).data.metrics == {}  # the workspace's own run got nothing
    assert "nothing else was missing" in sync_saved(True)


@pytest.mark.parametrize("gone", ["deleted for good by mlflow gc", "another store"])
def test_a_run_gone_from_the_store_resumes_in_a_new_run_and_later_stages_say_what_to_do(
    store, empty_store, tmp_path, monkeypatch, capsys, gone
):
    """train's interrupted run is no longer in the store: train resumes its checkpoint in a new run and
    says so. A finished training's run gone: evaluate and sync stop with one line saying what to do
    (every later `dvc repro` would stop the same way until then)."""
    from fashiongan.errors import TrackingError
    from fashiongan.io import write_json
    from fashiongan.paths import TRAIN_STATE

    run = start_run("fashiongan", system_metrics=False)
    run.end("KILLED")
    if gone == "another store":
        shutil.copy(empty_store, tmp_path / "other.db")
        monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'other.db'}")
    else:
        store.delete_run(run.run_id)
        store._tracking_client.store._hard_delete_run(run.run_id)  # what `mlflow gc` does to a deleted run
    uri = tracking_uri()
    capsys.readouterr()

    resumed = start_run("fashiongan", resume_run_id=run.run_id, system_metrics=False)
    assert resumed.run_id != run.run_id
    assert capsys.readouterr().err == (
        f"train: the interrupted run {run.run_id} is not in MLflow store {uri} (deleted for good, or "
        "another store): its training resumes in a new run there\n"
    )
    resumed.end()

    write_training_outputs(run)  # train finished in the run that is gone since
    write_json(TRAIN_STATE, {"run_id": run.run_id, "finished": True})
    what_to_do = (
        rf"^MLflow store {re.escape(uri)} holds no run {run.run_id} \(deleted for good by `mlflow gc`, or "
        r"MLFLOW_TRACKING_URI names another store\): point MLFLOW_TRACKING_URI at the store that holds it, "
        r"or train again in a new run: `dvc repro --force --single-item train`, then `dvc repro`$"
    )
    with pytest.raises(TrackingError, match=what_to_do):
        continue_run(True)  # evaluate
    with pytest.raises(TrackingError, match=what_to_do):
        sync_saved(True)


def test_a_run_names_its_commit_and_whether_its_code_differed_from_it(tmp_path, monkeypatch):
    from fashiongan.tracking.store import provenance_tags

    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    (tmp_path / "train.py").write_text("steps = 1\n")
    (tmp_path / "notes.txt").write_text("a\n")
    git("init", "-q")
    git("add", "-A")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "code")
    clean = provenance_tags(["train.py"])
    assert len(clean["git_commit"]) == 40 and clean["git_dirty"] == "false"
    (tmp_path / "notes.txt").write_text("b\n")  # not the run's code
    assert provenance_tags(["train.py"])["git_dirty"] == "false"
    (tmp_path / "train.py").write_text("steps = 2\n")  # the code the run ran is not the commit's
    assert provenance_tags(["train.py"]) == clean | {"git_dirty": "true"}


def test_report_from_mlflow_shows_each_evaluation_of_a_run_as_a_row_with_its_n(store):
    from fashiongan.tracking.evaluation import record
    from fashiongan.use.experiments import mlflow_experiments
    from fashiongan.use.ranking import differing_params

    generator = tiny_generator(Path("g.keras"))
    run = start_run("fashiongan", system_metrics=False)
    run.log_params({"seed": 1, "train.batch_size": 64})
    run.end()
    for n, fid in ((100, 12.5), (50, 15.0)):
        record(run, generator, evaluation(generator, n), EVALUATED | {"fid": fid, "n": n}, [], None, None)
    rows = mlflow_experiments("fashiongan", 5)
    assert sorted((e.params["evaluate.n"], e.metrics["fid"]) for e in rows) == [("100", 12.5), ("50", 15.0)]
    assert differing_params(rows) == ["evaluate.n", "sample.n"]  # the page shows them where they differ
