"""resume.py: a checkpoint resumes only an unfinished run with the same params, code and input files."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from fashiongan import lineage
from fashiongan.errors import TrainingStateError
from fashiongan.gan import resume
from fashiongan.io import write_npz
from fashiongan.params import parse


def checkpoint():
    return tf.train.Checkpoint(step=tf.Variable(0, dtype=tf.int64))


def test_fresh_then_resumed_then_fresh_again_when_params_change(tmp_path, monkeypatch, raw_params):
    monkeypatch.chdir(tmp_path)
    cfg = parse(raw_params)
    first = checkpoint()
    state = resume.restore(cfg, first, ["g_loss"])
    assert not state.resuming and state.start_step == 0 and state.run_id is None
    state.record("run-1", finished=False)
    state.history.append([1, 2, 3], [[0.1], [0.2], [0.3]])
    first.step.assign(2)
    state.save(2)

    again = checkpoint()
    state = resume.restore(cfg, again, ["g_loss"])
    assert state.resuming and state.run_id == "run-1" and state.start_step == 2 == int(again.step.numpy())
    assert state.history.series() == {
        "g_loss": [(1, 0.1), (2, 0.2)]
    }  # step 3 comes again after the checkpoint

    changed = cfg.model_copy(update={"train": cfg.train.model_copy(update={"learning_rate": 0.5})})
    state = resume.restore(changed, checkpoint(), ["g_loss"])
    assert not state.resuming and state.start_step == 0 and state.history.rows() == []


def test_a_finished_run_is_not_resumed(tmp_path, monkeypatch, raw_params):
    monkeypatch.chdir(tmp_path)
    cfg = parse(raw_params)
    state = resume.restore(cfg, checkpoint(), ["g_loss"])
    state.save(0)
    state.record("run-1", finished=True)
    assert not resume.restore(cfg, checkpoint(), ["g_loss"]).resuming


def test_the_inputs_ignore_what_does_not_change_the_trajectory(raw_params):
    cfg = parse(raw_params)
    assert resume.inputs(cfg) == resume.inputs(
        cfg.model_copy(
            update={
                "sample": cfg.sample.model_copy(update={"n": 7}),
                "runtime": cfg.runtime.model_copy(update={"threads": 1}),
            }
        )
    )
    assert resume.inputs(cfg) != resume.inputs(cfg.model_copy(update={"seed": cfg.seed + 1}))


def interrupted_run(cfg):
    """An unfinished run's state, as train leaves it when interrupted at step 2."""
    first = checkpoint()
    state = resume.restore(cfg, first, ["g_loss"])
    state.record("run-1", finished=False)
    first.step.assign(2)
    state.save(2)


@pytest.mark.parametrize(
    "changed",
    [
        "src/fashiongan/gan/trainer.py",
        "src/fashiongan/gan/losses.py",
        "src/fashiongan/gan/models.py",
        "data/prepared/fashion_mnist.npz",
        "models/classifier.keras",
    ],
)
def test_a_change_of_the_code_or_the_files_train_reads_starts_afresh_and_says_why(
    tmp_path, monkeypatch, raw_params, capsys, changed
):
    """The same params are not the same run: DVC re-runs train after an edit of its code or a
    changed input, and the old checkpoint must not be resumed into the new code's output."""
    monkeypatch.chdir(tmp_path)
    write_npz("data/prepared/fashion_mnist.npz", train_labels=np.zeros(3, np.uint8))
    Path("models").mkdir()
    Path("models/classifier.keras").write_bytes(b"a classifier")
    cfg = parse(raw_params)
    interrupted_run(cfg)
    assert resume.restore(cfg, checkpoint(), ["g_loss"]).resuming  # unchanged: resumes
    interrupted_run(cfg)
    if changed.startswith("src/"):
        monkeypatch.setattr(
            resume,
            "code_digests",
            lambda stage: {  # as if the file were edited
                k: (v if k != changed else "edited") for k, v in lineage.code_digests(stage).items()
            },
        )
    elif changed.endswith(".npz"):
        write_npz(changed, train_labels=np.ones(3, np.uint8))
    else:
        Path(changed).write_bytes(b"a retrained classifier")
    capsys.readouterr()
    state = resume.restore(cfg, checkpoint(), ["g_loss"])
    assert not state.resuming and state.start_step == 0 and state.run_id is None
    message = capsys.readouterr().err.strip()
    assert message == (
        f"train: starting afresh, not resuming the interrupted run's checkpoint ckpt-2: "
        f"{changed} changed since it was saved"
    )


def test_the_code_train_runs_is_what_dvc_yaml_lists():
    code = lineage.code_digests("train")
    assert {
        "src/fashiongan/gan/trainer.py",
        "src/fashiongan/gan/losses.py",
        "src/fashiongan/gan/models.py",
        "src/fashiongan/stages/train.py",
    } <= code.keys()
    assert "src/fashiongan/use/report.py" not in code  # train does not run it: editing it resumes


def test_a_checkpoint_that_does_not_fit_the_model_is_one_line(tmp_path, monkeypatch, raw_params):
    monkeypatch.chdir(tmp_path)
    cfg = parse(raw_params)
    interrupted_run(cfg)
    other = tf.train.Checkpoint(step=tf.Variable(0, dtype=tf.int64), extra=tf.Variable(1.0))
    with pytest.raises(TrainingStateError, match=r"ckpt-2: does not match the model it was saved for"):
        resume.restore(cfg, other, ["g_loss"])


def test_workers_agree_only_on_one_start_step_and_one_digest_of_their_inputs(raw_params):
    """The rows multi_worker workers all-gather before training (one per replica: a worker with two
    GPUs sends two): any difference of step or inputs is one line naming every worker's."""
    now = resume.inputs(parse(raw_params))
    chief = resume.start_row("chief", 0, 2000, now)
    assert resume.disagreement([chief, resume.start_row("worker", 0, 2000, now)] * 2) is None
    assert all(-(2**63) <= value < 2**63 for value in chief)  # what an int64 tensor carries

    fresh = resume.disagreement([chief, resume.start_row("worker", 0, 0, now)])
    digest = hashlib.sha256(json.dumps(now, sort_keys=True).encode()).hexdigest()[:12]
    assert fresh == (
        f"the workers would train from different states: chief 0 at step 2000 (digest of params, code "
        f"and data {digest}), worker 0 at step 0 (digest of params, code and data {digest}); give every "
        "worker the same models/checkpoints and the same params, code and data (or delete "
        "models/checkpoints on every worker to start afresh)"
    )
    edited = resume.start_row("worker", 1, 2000, now | {"src/fashiongan/gan/trainer.py": "edited"})
    assert "worker 1 at step 2000" in resume.disagreement([chief, edited])
