"""End to end: the team setup users scale out to. A shared MLflow server (`fashiongan server`, what
`make server` runs) on loopback; a tiny pipeline and then two experiments queued and run as two
parallel DVC jobs, all logging to it over HTTP; the store read back through MlflowClient, `dvc exp
show` and the server's REST API; then a DVC remote (`make remote`): push, and a fresh clone pulls
and finds nothing to rerun."""

import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from browser import rendered
from pipeline_repo import as_user, copy_repo, env_for, free_port, repro, sh, wait_until_up

LEARNING_RATES = ("0.0003", "0.0005")


@pytest.fixture(scope="module")
def server_repo(tmp_path_factory):
    """(repo, tracking URI): the repo after the baseline run and the queued sweep."""
    repo = copy_repo(tmp_path_factory.mktemp("exp"))
    uri = f"http://127.0.0.1:{free_port()}"
    server = subprocess.Popen(
        ["fashiongan", "server", "--port", uri.rsplit(":", 1)[1]],
        cwd=repo,
        env=env_for(repo),
        stdout=open(repo / "server.log", "w"),  # noqa: SIM115 (open while the server lives)
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_until_up(f"{uri}/health", server, repo / "server.log", timeout=120)
        env = {"MLFLOW_TRACKING_URI": uri}
        repro(repo, env)
        sh(["git", "add", "dvc.lock"], repo)
        sh(["git", "commit", "-qm", "baseline"], repo)
        # the README's sweep, typed as README says; one intra-op thread each: two jobs on two cores
        as_user(f"dvc exp run --queue -S 'train.learning_rate={','.join(LEARNING_RATES)}'", repo, env)
        as_user("TF_NUM_INTRAOP_THREADS=1 dvc queue start --jobs 2", repo, env)
        deadline = time.time() + 900
        while time.time() < deadline:
            status = sh(["dvc", "queue", "status"], repo).stdout
            if "Queued" not in status and "Running" not in status:
                break
            time.sleep(3)
        repo.joinpath("queue.log").write_text(status)
        yield repo, uri
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


@pytest.fixture
def repo(server_repo):
    return server_repo[0]


def dvc_experiments(repo) -> dict:
    """{experiment name: (train.learning_rate, FID)} from `dvc exp show --json`."""
    experiments = {}
    for commit in json.loads(sh(["dvc", "exp", "show", "--json"], repo).stdout):
        for exp in commit.get("experiments") or []:
            data = exp["revs"][0]["data"]
            experiments[exp["name"]] = (
                data["params"]["params.yaml"]["data"]["train"]["learning_rate"],
                data["metrics"]["reports/metrics.json"]["data"]["fid"],
            )
    return experiments


TRAINING, EVALUATION = "tags.`fashiongan.role` IS NULL", "tags.`fashiongan.role` = 'evaluation'"


def mlflow_runs(uri, kind=TRAINING):
    """The training runs (or with kind=EVALUATION, the evaluations' runs) of the experiment."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    return client, client.search_runs([client.get_experiment_by_name("fashiongan").experiment_id], kind)


@pytest.mark.slow
def test_queued_experiments_land_as_mlflow_runs_on_the_server_named_after_them(server_repo):
    repo, uri = server_repo
    status = (repo / "queue.log").read_text()
    assert status.count("Success") == 2, status
    client, runs = mlflow_runs(uri)
    assert len(runs) == 3 and {r.info.status for r in runs} == {"FINISHED"}
    _, evaluations = mlflow_runs(uri, EVALUATION)
    evaluation_of = {e.data.tags["mlflow.parentRunId"]: e for e in evaluations}
    assert len(evaluations) == 3 and evaluation_of.keys() == {r.info.run_id for r in runs}
    experiments = dvc_experiments(repo)
    assert len(experiments) == 2, experiments
    by_name = {r.info.run_name: r for r in runs}
    for name, (lr, fid) in experiments.items():
        run = by_name[name]  # the MLflow run is named after its DVC experiment
        evaluation = evaluation_of[run.info.run_id]
        assert run.data.tags["dvc_exp"] == name and evaluation.info.run_name == f"{name}.eval-n1000"
        assert float(run.data.params["train.learning_rate"]) == lr
        assert evaluation.data.metrics["eval.fid"] == pytest.approx(fid, rel=1e-4)
        # artifacts went through the server into its store under the repo
        assert run.info.artifact_uri.startswith("mlflow-artifacts:/")
        assert {"images", "figures"} <= {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {"samples", "evaluation"} <= {a.path for a in client.list_artifacts(evaluation.info.run_id)}
        assert list((repo / "mlartifacts").glob(f"*/{evaluation.info.run_id}/artifacts/samples/grid.png"))
    # every stage, the queued ones included, logged to the server and nothing to a local store
    assert not (repo / "mlflow.db").exists() and not (repo / "mlruns").exists()


@pytest.mark.slow
def test_params_and_metrics_diff_between_experiments(repo):
    names = sorted(dvc_experiments(repo))
    diff = json.loads(sh(["dvc", "exp", "diff", names[0], names[1], "--json"], repo).stdout)
    assert "train.learning_rate" in diff["params"]["params.yaml"]
    assert "fid" in diff["metrics"]["reports/metrics.json"]
    plots = json.loads(sh(["dvc", "plots", "diff", *names, "--json"], repo).stdout)["data"]
    for name in ("losses", "discriminator_accuracy", "reports/train/fid.csv"):  # curves overlaid
        assert sorted(plots[name][0]["revisions"]) == names
    assert sorted(p["revisions"][0] for p in plots["reports/samples/grid.png"]) == names


@pytest.mark.slow
def test_make_report_compares_every_experiment_in_a_page_chromium_renders_offline(server_repo):
    repo, uri = server_repo
    as_user("make -o .venv/.installed report", repo, {"MLFLOW_TRACKING_URI": uri})
    listed = json.loads(sh(["dvc", "exp", "show", "--json"], repo).stdout)
    expected = len(listed) + sum(
        len(commit.get("experiments") or []) for commit in listed
    )  # workspace included
    shown = rendered(repo / "reports/index.html")
    assert len(shown["names"]) == expected == 4, shown["names"]
    assert set(dvc_experiments(repo)) <= set(shown["names"]) and "workspace" in shown["names"]
    assert "train.learning_rate" in shown["headers"] and "FID" in shown["headers"]
    assert len(shown["images"]) >= expected + 1 and all(i["width"] > 0 for i in shown["images"]), shown[
        "images"
    ]
    assert shown["requests"] == []

    as_user("make -o .venv/.installed report RUNS=2", repo, {"MLFLOW_TRACKING_URI": uri})
    shown = rendered(repo / "reports/index.html")
    _, runs = mlflow_runs(uri)
    newest = sorted(runs, key=lambda r: r.info.start_time)[-2:]
    assert sorted(shown["names"]) == sorted(r.info.run_name for r in newest)
    assert all(i["width"] > 0 for i in shown["images"]) and shown["requests"] == []


def rest(uri, path, body=None):
    request = urllib.request.Request(
        f"{uri}{path}",
        method="POST" if body else "GET",
        headers={"Content-Type": "application/json"},
        data=json.dumps(body).encode() if body else None,
    )
    return urllib.request.urlopen(request, timeout=30).read()


@pytest.mark.slow
def test_the_server_serves_metrics_images_and_the_model_over_rest(server_repo):
    repo, uri = server_repo
    experiment = json.loads(rest(uri, "/api/2.0/mlflow/experiments/get-by-name?experiment_name=fashiongan"))
    # marked as model training: the UI opens it on its runs, not on the GenAI overview
    assert {"key": "mlflow.experimentKind", "value": "custom_model_development"} in experiment["experiment"][
        "tags"
    ]
    runs = json.loads(
        rest(
            uri,
            "/api/2.0/mlflow/runs/search",
            {
                "experiment_ids": [experiment["experiment"]["experiment_id"]],
                "max_results": 10,
                "filter": TRAINING,
            },
        )
    )["runs"]
    assert len(runs) == 3
    baseline = json.loads((repo / "reports/train/run.json").read_text())["run_id"]
    assert baseline in {r["info"]["run_id"] for r in runs}
    history = json.loads(
        rest(uri, f"/api/2.0/mlflow/metrics/get-history?run_id={baseline}&metric_key=g_loss")
    )
    assert [m["step"] for m in history["metrics"]] == list(range(1, 32))
    _, evaluations = mlflow_runs(uri, EVALUATION)
    (evaluation,) = [e.info.run_id for e in evaluations if e.data.tags["mlflow.parentRunId"] == baseline]
    png = rest(uri, f"/get-artifact?path=samples/grid.png&run_uuid={evaluation}")
    assert png.startswith(b"\x89PNG")
    models = json.loads(
        rest(
            uri,
            "/api/2.0/mlflow/logged-models/search",
            {"experiment_ids": [experiment["experiment"]["experiment_id"]]},
        )
    )["models"]
    assert [m["info"]["name"] for m in models if m["info"].get("source_run_id") == baseline] == ["generator"]
    versions = json.loads(rest(uri, "/api/2.0/mlflow/model-versions/search?filter=name%3D%27fashiongan%27"))
    assert baseline in {v["run_id"] for v in versions["model_versions"]}

    import mlflow
    import numpy as np

    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    try:  # the model's files come down through the server's artifact proxy
        model = mlflow.pyfunc.load_model(f"runs:/{baseline}/generator")
    finally:
        mlflow.set_tracking_uri(previous)
    images = model.predict({"z": np.zeros((2, 100), np.float32), "label": np.array([1, 8], np.int32)})
    assert images.shape == (2, 28, 28, 1)


def md5(path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.mark.slow
def test_a_fresh_clone_pulls_from_the_dvc_remote_and_has_nothing_to_rerun(repo, tmp_path):
    # commits go to a copy: the shared repo stays as the other tests expect it, in any order
    repo = Path(shutil.copytree(repo, tmp_path / "repo", symlinks=True))
    remote = tmp_path / "remote"
    sh(["make", "--no-print-directory", "remote", f"REMOTE={remote}"], repo)
    sh(["git", "add", "-A"], repo)  # .dvc/config and the metrics and tables DVC keeps in git
    sh(["git", "commit", "-qm", "remote and results"], repo)
    sh(["dvc", "push"], repo)
    clone = tmp_path / "clone"
    sh(["git", "clone", "-q", str(repo), str(clone)], tmp_path)
    assert not (clone / "models/generator.keras").exists()
    sh(["dvc", "pull"], clone)
    assert "up to date" in sh(["dvc", "status"], clone).stdout
    out = sh(["dvc", "repro"], clone).stdout
    assert "Running stage" not in out, out
    for path in ("models/generator.keras", "models/classifier.keras", "data/samples/samples.npz"):
        assert md5(clone / path) == md5(repo / path), path
