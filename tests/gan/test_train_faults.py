"""`fashiongan train` on a tiny synthetic training set, as a subprocess (or in-process where a fault is
injected between two writes): faults end cleanly."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from pipeline_repo import free_port

from fashiongan.io import write_npz

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow  # every test here trains through the CLI


@pytest.fixture
def workdir(tmp_path):
    rng = np.random.default_rng(0)
    write_npz(
        tmp_path / "data/prepared/fashion_mnist.npz",
        train_images=rng.integers(0, 256, (640, 28, 28), dtype=np.uint8),
        train_labels=rng.integers(0, 10, 640, dtype=np.uint8),
        test_images=rng.integers(0, 256, (100, 28, 28), dtype=np.uint8),
        test_labels=rng.integers(0, 10, 100, dtype=np.uint8),
    )
    return tmp_path


def train_command(workdir, env=None, tracking=True, **train_params):
    """Write tiny params (40 steps, checkpoints every 10) into workdir; the train command and its env."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["tracking"]["enabled"] = tracking
    params["train"].update(
        {
            "epochs": 4,
            "batch_size": 64,  # the step counts below are of batch 64, whatever params.yaml's default
            "log_every": 5,
            "sample_every": 10,
            "checkpoint_every": 10,
            "fid_every": 0,
            "steps_per_call": 5,
            **train_params,
        }
    )
    (workdir / "params.yaml").write_text(yaml.safe_dump(params))
    return [sys.executable, "-m", "fashiongan.cli", "train"], {
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "PYTHONUNBUFFERED": "1",
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        **(env or {}),
    }


def train(workdir, env=None, tracking=True, **train_params):
    args, env = train_command(workdir, env, tracking, **train_params)
    return subprocess.run(args, cwd=workdir, capture_output=True, text=True, timeout=300, env=env)


def test_a_diverging_learning_rate_stops_at_the_step_writes_no_bad_checkpoint_and_fails_the_run(workdir):
    """Checkpoints every step, losses fetched every 5: the checkpoint of step 1 must not be written
    from the weights that made step 1's loss non-finite (the next `dvc repro` would resume them)."""
    import tensorflow as tf
    from mlflow.tracking import MlflowClient

    result = train(workdir, learning_rate=1e12, ema=None, checkpoint_every=1)
    assert result.returncode == 1, result.stderr[-2000:]
    message = result.stderr.strip().splitlines()[-1]
    # the losses, or (finite losses) the weights: BN's moving variance overflows first here
    found = re.fullmatch(
        r"fashiongan train: non-finite (?:loss at|weights after) step (\d+)(?: \(.*\))?: \S.*", message
    )
    assert found, message
    step = int(found.group(1))
    state = json.loads((workdir / "models/checkpoints/state.json").read_text())
    run = MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}").get_run(state["run_id"])
    assert run.info.status == "FAILED" and int(run.data.tags["failed_at_step"]) >= step
    assert not (workdir / "models/generator.keras").exists()  # no generator from a diverged run
    for index in (workdir / "models/checkpoints").glob("ckpt-*.index"):
        assert int(index.stem.split("-")[1]) < step
        reader = tf.train.load_checkpoint(str(index.with_suffix("")))
        for name, dtype in reader.get_variable_to_dtype_map().items():
            assert not dtype.is_floating or np.isfinite(reader.get_tensor(name)).all(), (index.name, name)


def test_an_error_before_training_ends_the_mlflow_run_it_opened(workdir):
    """The run is opened, then the FID probe's classifier is missing: the run must not stay RUNNING."""
    from mlflow.tracking import MlflowClient

    result = train(workdir, fid_every=5)
    assert result.returncode == 1 and "models/classifier.keras" in result.stderr.strip().splitlines()[-1]
    state = json.loads((workdir / "models/checkpoints/state.json").read_text())
    run = MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}").get_run(state["run_id"])
    assert run.info.status == "FAILED"


def test_an_error_after_training_ends_the_mlflow_run_too(workdir):
    """Saving the generator fails (its path is a directory): the run that trained it is FAILED, not RUNNING."""
    from mlflow.tracking import MlflowClient

    (workdir / "models/generator.keras").mkdir(parents=True)
    (workdir / "models/generator.keras/in-the-way").touch()
    result = train(workdir)
    assert result.returncode != 0
    state = json.loads((workdir / "models/checkpoints/state.json").read_text())
    assert not state["finished"]
    assert MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}").get_run(state["run_id"]).info.status == "FAILED"


def test_a_tracking_server_that_is_down_fails_before_training(workdir):
    result = train(workdir, env={"MLFLOW_TRACKING_URI": "http://user:secret@127.0.0.1:9/"})
    assert result.returncode == 1
    message = result.stderr.strip().splitlines()[-1]
    assert "http://***@127.0.0.1:9/" in message and "secret" not in result.stderr + result.stdout
    assert "is not reachable" in message and "train: dcgan" not in result.stdout  # before training began
    assert not list((workdir / "models/checkpoints").glob("ckpt-*"))


def test_tracking_off_writes_every_dvc_output_and_no_store(workdir):
    result = train(workdir, tracking=False, env={"MLFLOW_TRACKING_URI": "http://127.0.0.1:9/"})
    assert result.returncode == 0, result.stderr[-2000:]
    for path in (
        "models/generator.keras",
        "reports/train/history.csv",
        "reports/train/fid.csv",
        "reports/train/losses.png",
        "reports/train/summary.json",
    ):
        assert (workdir / path).is_file(), path
    assert json.loads((workdir / "reports/train/run.json").read_text())["run_id"] is None
    assert not (workdir / "mlflow.db").exists() and not (workdir / "mlruns").exists()


def mlflow_server(store: Path, port: int) -> subprocess.Popen:
    import time
    import urllib.request

    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "mlflow"),
            "server",
            "--backend-store-uri",
            f"sqlite:///{store / 'mlflow.db'}",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        cwd=store,
        env={
            "PATH": "/usr/bin:/bin",
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
            "MLFLOW_DISABLE_TELEMETRY": "true",
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 120
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2).close()
            return server
        except OSError:
            assert server.poll() is None and time.time() < deadline, "mlflow server did not start"
            time.sleep(0.5)


def test_a_server_going_away_mid_training_loses_nothing_and_tracking_sync_resends(workdir, tmp_path_factory):
    from mlflow.tracking import MlflowClient

    store, port = tmp_path_factory.mktemp("store"), free_port()
    uri = f"http://127.0.0.1:{port}"
    server = mlflow_server(store, port)
    args, env = train_command(workdir, {"MLFLOW_TRACKING_URI": uri})
    training = subprocess.Popen(
        args, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        for line in training.stdout:  # the run exists, training has not started: the server goes away
            if "MLflow run" in line:
                break
    finally:
        server.terminate()
        server.wait(timeout=30)
    stderr = training.communicate(timeout=300)[1]
    assert training.returncode == 0, stderr[-2000:]
    assert stderr.count("stopped answering") == 1 and "fashiongan tracking sync" in stderr
    assert (workdir / "models/generator.keras").is_file() and (
        workdir / "reports/train/history.csv"
    ).is_file()

    server = mlflow_server(store, port)  # back
    try:
        sync = subprocess.run(
            [*args[:-1], "tracking", "sync"],
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        sent = 40 * 4 + 6  # 4 metrics of each of the 40 steps, the 6 numbers of train's summary
        assert sync.returncode == 0 and f"tracking sync: {sent} metric values sent" in sync.stdout, (
            sync.stdout + sync.stderr[-2000:]
        )
        run_id = json.loads((workdir / "reports/train/run.json").read_text())["run_id"]
        steps = [m.step for m in MlflowClient(uri).get_metric_history(run_id, "d_loss")]
        assert sorted(steps) == list(range(1, 41))
        again = subprocess.run(
            [*args[:-1], "tracking", "sync"],
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert "tracking sync: 0 metric values sent" in again.stdout
    finally:
        server.terminate()
        server.wait(timeout=30)


def trained(directory, edit_params):
    """Train in `directory` on the tiny params as `edit_params(params)` leaves them, tracking off;
    (reports/train/history.csv as text, the saved generator)."""
    import keras

    args, env = train_command(directory, tracking=False)
    params = yaml.safe_load((directory / "params.yaml").read_text())
    edit_params(params)
    (directory / "params.yaml").write_text(yaml.safe_dump(params))
    result = subprocess.run(args, cwd=directory, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    return (
        (directory / "reports/train/history.csv").read_text(),
        keras.models.load_model(directory / "models/generator.keras", safe_mode=True),
    )


def test_the_same_params_give_bit_identical_training_on_one_machine(workdir, tmp_path_factory):
    """runtime.deterministic: two runs of the same params agree to the bit (metrics and weights);
    another seed does not, so the comparison can fail."""
    import shutil

    runs = {}
    for name, seed in (("first", 42), ("again", 42), ("other seed", 43)):
        directory = tmp_path_factory.mktemp(name.replace(" ", "-"))
        shutil.copytree(workdir / "data", directory / "data")
        history, generator = trained(directory, lambda params: params.update(seed=seed))  # noqa: B023 (called at once)
        runs[name] = (history, generator.get_weights())
    assert runs["first"][0] == runs["again"][0]
    assert all(np.array_equal(a, b) for a, b in zip(runs["first"][1], runs["again"][1]))
    assert runs["first"][0] != runs["other seed"][0]


def test_self_conditioned_training_reads_no_class_label(workdir, tmp_path_factory):
    """model.clusters: the class labels zeroed or shuffled give bit-identical weights and history,
    and the saved generator takes z alone; the same run conditioned on classes does differ."""
    arrays = dict(np.load(workdir / "data/prepared/fashion_mnist.npz"))
    shuffled = np.random.default_rng(1).permutation(arrays["train_labels"])
    runs = {}
    for name, labels, model in (
        ("zeroed", np.zeros_like(shuffled), {"conditional": False, "clusters": 3}),
        ("shuffled", shuffled, {"conditional": False, "clusters": 3}),
        ("classes", shuffled, {"conditional": True, "clusters": 0}),
    ):
        directory = tmp_path_factory.mktemp(name)
        write_npz(directory / "data/prepared/fashion_mnist.npz", **(arrays | {"train_labels": labels}))
        history, generator = trained(directory, lambda params: params["model"].update(model))  # noqa: B023 (called at once)
        runs[name] = (history, generator.get_weights())
        assert len(generator.inputs) == (2 if model["conditional"] else 1)
    assert runs["zeroed"][0] == runs["shuffled"][0]
    assert all(np.array_equal(a, b) for a, b in zip(runs["zeroed"][1], runs["shuffled"][1]))
    assert runs["zeroed"][0] != runs["classes"][0]


class Killed(BaseException):
    """A kill -9 at a chosen point: nothing after it runs (train's own except clause only ends the MLflow
    run, and tracking is off here)."""


def test_a_run_killed_while_writing_its_outputs_writes_the_same_ones_when_run_again(
    tmp_path, monkeypatch, raw_params
):
    """Several weight averages: their FIDs and the choice among them are made at the last step, before the
    last checkpoint. Killed after the generator, then the summary, then the run file was written, with DVC
    deleting the outputs before each next run, train must resume at that checkpoint, train nothing more
    and write the outputs the first run was writing: the same generator and summary, the averages'
    choice included."""
    import keras

    from fashiongan.evaluation import probe
    from fashiongan.io import StepLog
    from fashiongan.params import parse
    from fashiongan.paths import GENERATOR, TRAIN_REPORTS, TRAIN_STATE, TRAIN_SUMMARY
    from fashiongan.stages import train

    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    write_npz(
        "data/prepared/fashion_mnist.npz",
        train_images=rng.integers(0, 256, (64, 28, 28), dtype=np.uint8),
        train_labels=rng.integers(0, 10, 64, dtype=np.uint8),
    )
    raw_params["train"].update(
        ema=[0.999, 0.99], epochs=2, fid_every=0, jit_compile=False, steps_per_call=2, log_every=2
    )
    raw_params["train"].update(sample_every=2, checkpoint_every=2)
    cfg = parse(raw_params)
    measured = []

    def training_probe(*args, **kwargs):  # the FID against the training images, without a classifier
        def fid(generator):
            measured.append(float(sum(np.abs(w).sum() for w in generator.get_weights())))
            return measured[-1]

        return fid

    monkeypatch.setattr(probe, "training_probe", training_probe)
    meant = []  # the summary each run set out to write
    write_outputs = train._write_outputs
    monkeypatch.setattr(
        train,
        "_write_outputs",
        lambda run, state, sampler, summary, ruler_id, averages: (
            meant.append(summary | averages),
            write_outputs(run, state, sampler, summary, ruler_id, averages),
        ),
    )

    def killed_after(name):
        original = getattr(train, name)

        def write(*args, **kwargs):
            original(*args, **kwargs)
            if kill_at == name:
                raise Killed(name)

        monkeypatch.setattr(train, name, write)

    for name in ("save_model", "write_json", "write_run_file"):  # the generator, the summary, the run file
        killed_after(name)
    generators = []
    for kill_at in ("save_model", "write_json", "write_run_file", None):
        shutil.rmtree(TRAIN_REPORTS, ignore_errors=True)  # DVC deletes a stage's outputs before running it
        GENERATOR.unlink(missing_ok=True)
        if kill_at is None:
            train.run(cfg)
        else:
            with pytest.raises(Killed):
                train.run(cfg)
            assert not json.loads(TRAIN_STATE.read_text())["finished"]
        if GENERATOR.is_file():
            generators.append(keras.models.load_model(GENERATOR).get_weights())
    assert len(measured) == 2  # measured once, by the first run: the others trained nothing
    fids = dict(zip(("0.999", "0.99"), measured))
    summary = json.loads(TRAIN_SUMMARY.read_text())
    assert all(run == meant[0] for run in meant)  # every run wrote what the first meant to
    assert summary == meant[0] | {"ruler": None, "inputs_digest": summary["inputs_digest"]}
    assert summary["ema_fid_train"] == {decay: round(fid, 4) for decay, fid in fids.items()}
    assert summary["ema_published"] == float(min(fids, key=fids.get))
    assert summary["resumed_from_step"] == 0 and summary["steps"] == 4 and summary["steps_per_second"] > 0
    assert all(all(np.array_equal(a, b) for a, b in zip(generators[0], g)) for g in generators[1:])
    assert [row[0] for row in StepLog.open(TRAIN_REPORTS / "history.csv").rows()] == ["1", "2", "3", "4"]
    assert json.loads(TRAIN_STATE.read_text())["finished"]
