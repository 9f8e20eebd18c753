"""End to end: the experiment loop users live in. A tiny pipeline, then two experiments queued and
run as two parallel DVC jobs, then the store read back through MlflowClient, `dvc exp show` and the
MLflow UI's REST API."""

import json
import socket
import subprocess
import time
import urllib.request

import pytest
from pipeline_repo import BIN, env_for, make_repo, sh

LEARNING_RATES = ("0.0003", "0.0005")


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    repo = make_repo(tmp_path_factory.mktemp("exp"))
    sh(["git", "add", "dvc.lock"], repo)
    sh(["git", "commit", "-qm", "baseline"], repo)
    # the README's sweep syntax; one intra-op thread each: two parallel jobs on two cores
    sh(["dvc", "exp", "run", "--queue", "-S", f"train.learning_rate={','.join(LEARNING_RATES)}",
        "-S", "train.threads=1"], repo)
    sh(["dvc", "queue", "start", "--jobs", "2"], repo)
    deadline = time.time() + 900
    while time.time() < deadline:
        status = sh(["dvc", "queue", "status"], repo).stdout
        if "Queued" not in status and "Running" not in status:
            break
        time.sleep(3)
    repo.joinpath("queue.log").write_text(status)
    return repo


def dvc_experiments(repo) -> dict:
    """{experiment name: (train.learning_rate, FID)} from `dvc exp show --json`."""
    experiments = {}
    for commit in json.loads(sh(["dvc", "exp", "show", "--json"], repo).stdout):
        for exp in commit.get("experiments") or []:
            data = exp["revs"][0]["data"]
            experiments[exp["name"]] = (data["params"]["params.yaml"]["data"]["train"]["learning_rate"],
                                        data["metrics"]["reports/metrics.json"]["data"]["fid"])
    return experiments


def mlflow_runs(repo):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{repo / 'mlflow.db'}")
    return client, client.search_runs([client.get_experiment_by_name("fashiongan").experiment_id])


@pytest.mark.e2e
def test_queued_experiments_land_as_mlflow_runs_named_after_them(repo):
    status = (repo / "queue.log").read_text()
    assert status.count("Success") == 2, status
    client, runs = mlflow_runs(repo)
    assert len(runs) == 3 and {r.info.status for r in runs} == {"FINISHED"}
    experiments = dvc_experiments(repo)
    assert len(experiments) == 2, experiments
    by_name = {r.info.run_name: r for r in runs}
    for name, (lr, fid) in experiments.items():
        run = by_name[name]  # the MLflow run is named after its DVC experiment
        assert run.data.tags["dvc_exp"] == name
        assert float(run.data.params["train.learning_rate"]) == lr
        assert run.data.metrics["eval.fid"] == pytest.approx(fid, rel=1e-4)
        # artifacts are in the repo's own store, not in the deleted .dvc/tmp/exps copy
        assert run.info.artifact_uri.startswith((repo / "mlruns").as_uri())
        assert {"images", "samples", "evaluation"} <= {a.path for a in client.list_artifacts(run.info.run_id)}
    assert not list((repo / ".dvc/tmp").glob("exps/**/mlruns"))


@pytest.mark.e2e
def test_params_and_metrics_diff_between_experiments(repo):
    names = sorted(dvc_experiments(repo))
    diff = json.loads(sh(["dvc", "exp", "diff", names[0], names[1], "--json"], repo).stdout)
    assert "train.learning_rate" in diff["params"]["params.yaml"]
    assert "fid" in diff["metrics"]["reports/metrics.json"]
    plots = json.loads(sh(["dvc", "plots", "diff", *names, "--json"], repo).stdout)["data"]
    for name in ("losses", "discriminator_accuracy", "reports/train/fid.csv"):  # curves overlaid
        assert sorted(plots[name][0]["revisions"]) == names
    assert sorted(p["revisions"][0] for p in plots["reports/samples/grid.png"]) == names


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.e2e
def test_mlflow_ui_serves_the_runs_and_images_over_rest(repo):
    port = free_port()
    env = env_for(repo) | {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    server = subprocess.Popen([str(BIN / "mlflow"), "ui", "--backend-store-uri", f"sqlite:///{repo / 'mlflow.db'}",
                               "--host", "127.0.0.1", "--port", str(port), "--workers", "1"], cwd=repo, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while True:
            try:
                urllib.request.urlopen(f"{base}/health", timeout=2)
                break
            except OSError:
                assert server.poll() is None and time.time() < deadline, "mlflow ui did not start"
                time.sleep(0.5)
        experiment = json.load(urllib.request.urlopen(f"{base}/api/2.0/mlflow/experiments/get-by-name?experiment_name=fashiongan"))
        request = urllib.request.Request(
            f"{base}/api/2.0/mlflow/runs/search", method="POST", headers={"Content-Type": "application/json"},
            data=json.dumps({"experiment_ids": [experiment["experiment"]["experiment_id"]], "max_results": 10}).encode())
        runs = json.load(urllib.request.urlopen(request))["runs"]
        assert len(runs) == 3
        run_id = runs[0]["info"]["run_id"]
        assert any(m["key"] == "eval.fid" for m in runs[0]["data"]["metrics"])
        png = urllib.request.urlopen(f"{base}/get-artifact?path=samples/grid.png&run_uuid={run_id}").read()
        assert png.startswith(b"\x89PNG")
    finally:
        server.terminate()
        server.wait(timeout=30)
