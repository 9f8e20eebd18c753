"""End to end: the real `dvc repro` on real data with a tiny config, in a temporary git copy of
the repo, then every output and the MLflow run checked through MlflowClient."""

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

TINY = {
    "data": {"train_limit": 2000},
    "classifier": {"epochs": 1},
    "train": {"epochs": 1, "log_every": 10, "sample_every": 10, "checkpoint_every": 10,
              "fid_every": 15, "fid_samples": 500, "steps_per_call": 5},
    "sample": {"n": 1000},
    "evaluate": {"n": 1000},
}


def tiny_params(base: dict, overrides: dict) -> dict:
    params = json.loads(json.dumps(base))
    for section, values in overrides.items():
        params[section].update(values)
    return params


def env_for(repo: Path) -> dict:
    env = dict(os.environ)
    env.update(PATH=f"{BIN}{os.pathsep}{env['PATH']}", GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t", DVC_NO_ANALYTICS="1",
               MLFLOW_DISABLE_TELEMETRY="true", TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("DVC_ROOT", None)
    return env


def sh(args, repo, **kwargs):
    result = subprocess.run(args, cwd=repo, env=env_for(repo), capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, f"{args} failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """A git repo holding the project's tracked files and the tiny params, after `dvc repro`."""
    repo = tmp_path_factory.mktemp("repo")
    tracked = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout.split()
    for name in tracked:
        if (ROOT / name).is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, repo / name)
    base = yaml.safe_load((ROOT / "params.yaml").read_text())
    (repo / "params.yaml").write_text(yaml.safe_dump(tiny_params(base, TINY), sort_keys=False))
    sh(["git", "init", "-q"], repo)
    sh(["git", "add", "-A"], repo)
    sh(["git", "commit", "-qm", "tiny"], repo)
    repro = sh(["dvc", "repro"], repo, timeout=900)
    repo.joinpath("repro.log").write_text(repro.stdout + repro.stderr)
    return repo


@pytest.mark.e2e
def test_every_output_is_written(repo):
    for path in ["data/prepared/fashion_mnist.npz", "models/classifier.keras", "data/features/real.npz",
                 "models/generator.keras", "reports/train/history.csv", "reports/train/run.json",
                 "reports/samples/grid.png", "data/samples/samples.npz", "reports/metrics.json",
                 "reports/classifier.json", "dvc.lock"]:
        assert (repo / path).is_file(), path
    prepared = np.load(repo / "data/prepared/fashion_mnist.npz")
    assert prepared["train_images"].shape == (2000, 28, 28) and prepared["test_images"].shape == (10000, 28, 28)
    samples = np.load(repo / "data/samples/samples.npz")["images"]
    assert samples.shape == (1000, 28, 28) and samples.dtype == np.uint8 and samples.std() > 1

    with open(repo / "reports/train/history.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == list(range(1, 32))  # 2000 // 64 = 31 steps, each logged once
    metrics = json.loads((repo / "reports/metrics.json").read_text())
    assert metrics["fid"] > metrics["fid_real"] >= 0 and metrics["precision_real"] > 0.5
    for name in ("kid", "classifier_score", "recall", "density", "coverage", "class_kl", "memorised_fraction"):
        assert name in metrics and name + "_real" in metrics or name == "memorised_fraction"
    for figure in ("class_histogram", "nearest_neighbours", "fid_by_step"):
        assert (repo / f"reports/figures/{figure}.png").is_file()
    assert 0 < json.loads((repo / "reports/classifier.json").read_text())["test_accuracy"] <= 1


@pytest.mark.e2e
def test_mlflow_run_holds_params_step_metrics_images_and_fid(repo):
    from mlflow.tracking import MlflowClient

    run_id = json.loads((repo / "reports/train/run.json").read_text())["run_id"]
    client = MlflowClient(f"sqlite:///{repo / 'mlflow.db'}")
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["train.learning_rate"] == "0.0002"
    assert run.data.params["model.arch"] == run.data.tags["model.arch"]
    assert run.data.tags["git_commit"]
    history = client.get_metric_history(run_id, "g_loss")
    steps = [m.step for m in history]
    assert steps == sorted(steps) and len(steps) == len(set(steps)) == 31
    for name in ("d_loss", "d_acc_real", "d_acc_fake"):
        assert len(client.get_metric_history(run_id, name)) == 31
    assert [m.step for m in client.get_metric_history(run_id, "fid")] == [15, 30, 31]
    assert run.data.metrics["eval.fid"] == pytest.approx(json.loads((repo / "reports/metrics.json").read_text())["fid"])
    artifacts = {a.path for a in client.list_artifacts(run_id)}
    assert {"images", "samples", "figures"} <= artifacts, artifacts
    images = client.list_artifacts(run_id, "images")
    assert images, "no sample-grid images logged"
    # artifacts live in the repo's own mlruns/, not in a temporary copy
    assert run.info.artifact_uri.startswith((repo / "mlruns").as_uri())


@pytest.mark.e2e
def test_dvc_sees_everything_up_to_date_and_reruns_only_what_a_param_touches(repo):
    status = sh(["dvc", "status"], repo).stdout
    assert "up to date" in status.lower() or status.strip() == "", status
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["train"]["learning_rate"] = 0.0003
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert "train" in sh(["dvc", "status"], repo).stdout
    out = sh(["dvc", "repro"], repo, timeout=900).stdout
    for stage in ("train", "sample", "evaluate"):
        assert f"Running stage '{stage}'" in out, out
    for stage in ("prepare", "classifier"):
        assert f"Stage '{stage}' didn't change, skipping" in out, out
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{repo / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("fashiongan").experiment_id])
    assert len(runs) == 2 and {r.info.status for r in runs} == {"FINISHED"}
    assert {r.data.params["train.learning_rate"] for r in runs} == {"0.0002", "0.0003"}
    # changed params: a fresh run from step 0, not a resume of the finished one
    assert json.loads((repo / "reports/train/summary.json").read_text())["resumed_from_step"] == 0
    metrics = sh(["dvc", "metrics", "show", "--json"], repo).stdout
    assert "fid_real" in metrics


@pytest.mark.e2e
def test_sigterm_checkpoints_and_the_next_repro_resumes_the_same_run(repo):
    import signal
    import time

    from mlflow.tracking import MlflowClient

    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["train"].update(epochs=3, learning_rate=0.0004)  # 93 steps, checkpoints every 10
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    train = subprocess.Popen(["fashiongan", "train"], cwd=repo, env=env_for(repo),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    checkpoints = repo / "models/checkpoints"
    launched = time.time()

    def fresh_checkpoint_past_20():  # the previous run's checkpoints are still there until train starts
        return any(p.stat().st_mtime >= launched for p in checkpoints.glob("ckpt-[2-9][0-9].index"))

    while not fresh_checkpoint_past_20() and time.time() < launched + 300 and train.poll() is None:
        time.sleep(0.5)
    train.send_signal(signal.SIGTERM)
    output = train.communicate(timeout=120)[0]
    assert train.returncode == 143, output[-2000:]
    assert "interrupted" in output
    state = json.loads((checkpoints / "state.json").read_text())
    client = MlflowClient(f"sqlite:///{repo / 'mlflow.db'}")
    killed = client.get_run(state["run_id"])
    assert killed.info.status == "KILLED"
    stopped_at = int(killed.data.tags["failed_at_step"])
    assert 20 <= stopped_at < 93

    sh(["dvc", "repro"], repo, timeout=900)
    summary = json.loads((repo / "reports/train/summary.json").read_text())
    assert 20 <= summary["resumed_from_step"] <= stopped_at
    assert json.loads((repo / "reports/train/run.json").read_text())["run_id"] == state["run_id"]
    run = client.get_run(state["run_id"])
    assert run.info.status == "FINISHED"
    steps = [m.step for m in client.get_metric_history(state["run_id"], "g_loss")]
    assert sorted(steps) == list(range(1, 94)), "a step is missing or logged twice"
    with open(repo / "reports/train/history.csv") as f:
        assert [int(r["step"]) for r in csv.DictReader(f)] == list(range(1, 94))
