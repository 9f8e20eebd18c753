"""End to end on data of one's own: a synthetic two-class IDX set (squares and circles drawn by
code) as data.source, through the real `dvc repro`: the classifier learns these classes, the GAN
trains, samples and is evaluated on them; DVC tracks the directory's files; a broken directory
stops the pipeline at validate with one line and every output intact."""

import hashlib
import json
import subprocess

import numpy as np
import pytest
from pipeline_repo import copy_repo, env_for, repro, sh
from shapes import CLASS_NAMES, write_shapes

OWN = {
    "data": {"source": "shapes", "class_names": CLASS_NAMES, "train_limit": None},
    "classifier": {"epochs": 2},
    "train": {
        "epochs": 1,
        "batch_size": 64,
        "log_every": 10,
        "sample_every": 10,
        "checkpoint_every": 10,
        "fid_every": 15,
        "fid_samples": 400,
        "steps_per_call": 5,
    },
    "sample": {"n": 400},
    "evaluate": {"n": 400},
}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    repo = copy_repo(tmp_path_factory.mktemp("own"), OWN)
    write_shapes(repo / "shapes", train=1200, test=400)
    return repro(repo)


@pytest.mark.slow
def test_the_pipeline_trains_samples_and_evaluates_on_a_directory_of_idx_files(built):
    repo = built
    recorded = json.loads((repo / "reports/data.json").read_text())
    assert recorded["source"] == "shapes" and recorded["class_names"] == CLASS_NAMES
    assert recorded["train_images"] == 1200 and recorded["test_images"] == 400
    assert recorded["sha256"] == {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (repo / "shapes").iterdir()
    }
    # the classifier stage trained a ruler of these two classes, and every number names it
    classifier = json.loads((repo / "reports/classifier.json").read_text())
    assert classifier["source"] == "trained" and classifier["test_accuracy"] > 0.9
    from fashiongan.evaluation.ruler import ruler_id
    from fashiongan.io import load_model

    assert load_model(repo / "models/classifier.keras").output.shape[-1] == 2
    own = ruler_id(repo / "models/classifier.keras")
    assert own != json.loads((repo / "rulers/fashion-mnist.json").read_text())["id"]
    for report in ("reports/classifier.json", "reports/metrics.json", "reports/train/summary.json"):
        assert json.loads((repo / report).read_text())["ruler"] == own, report
    samples = np.load(repo / "data/samples/samples.npz")
    assert samples["images"].shape == (400, 28, 28) and sorted(set(samples["labels"].tolist())) == [0, 1]
    metrics = json.loads((repo / "reports/metrics.json").read_text())
    assert np.isfinite(metrics["fid"]) and metrics["fid"] > metrics["fid_real"]
    assert np.isfinite(metrics["label_accuracy"])  # 18 steps: no better than chance yet
    details = json.loads((repo / "reports/metrics_details.json").read_text())
    assert len(details["class_histograms"]["generated"]) == 2
    for figure in ("class_morph.png", "truncation.png", "interpolation.gif", "class_histogram.png"):
        assert (repo / "reports/figures" / figure).is_file()
    # the logged model's input example holds labels of these classes (MLflow validates it)
    assert "Failed to validate serving input example" not in (repo / "repro.log").read_text()


@pytest.mark.slow
def test_dvc_tracks_the_directory_and_a_broken_one_stops_at_validate_with_outputs_intact(built, tmp_path):
    import shutil

    repo = shutil.copytree(built, tmp_path / "repo", symlinks=True)
    status = sh(["dvc", "status"], repo).stdout
    assert "up to date" in status.lower() or not status.strip(), status
    write_shapes(repo / "shapes", train=1000, test=400)  # fewer training images: prepare must run again
    status = sh(["dvc", "status", "prepare"], repo).stdout
    assert "prepare:" in status and "modified:           shapes" in status, status

    prepared = (repo / "data/prepared/fashion_mnist.npz").read_bytes()
    (repo / "shapes/train-labels-idx1-ubyte").write_bytes(
        b"\x00\x00\x08\x01" + (1000).to_bytes(4, "big") + bytes([0, 1, 7]) + bytes(997)
    )
    result = subprocess.run(["dvc", "repro"], cwd=repo, env=env_for(repo), capture_output=True, text=True)
    assert result.returncode != 0
    line = "fashiongan validate: shapes/train-labels-idx1-ubyte: label 7 outside 0-1"
    assert line in result.stdout + result.stderr, result.stdout[-2000:] + result.stderr[-2000:]
    assert "Traceback" not in result.stdout + result.stderr
    assert (repo / "data/prepared/fashion_mnist.npz").read_bytes() == prepared
