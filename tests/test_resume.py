"""resume.py: a checkpoint resumes only an unfinished run with the same fingerprint."""

import dataclasses

import tensorflow as tf

from fashiongan import resume
from fashiongan.config import parse


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
    assert state.history.series() == {"g_loss": [(1, 0.1), (2, 0.2)]}  # step 3 comes again after the checkpoint

    changed = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, learning_rate=0.5))
    state = resume.restore(changed, checkpoint(), ["g_loss"])
    assert not state.resuming and state.start_step == 0 and state.history.rows() == []


def test_a_finished_run_is_not_resumed(tmp_path, monkeypatch, raw_params):
    monkeypatch.chdir(tmp_path)
    cfg = parse(raw_params)
    state = resume.restore(cfg, checkpoint(), ["g_loss"])
    state.save(0)
    state.record("run-1", finished=True)
    assert not resume.restore(cfg, checkpoint(), ["g_loss"]).resuming


def test_the_fingerprint_ignores_what_does_not_change_the_trajectory(raw_params):
    cfg = parse(raw_params)
    assert resume.fingerprint(cfg) == resume.fingerprint(dataclasses.replace(
        cfg, sample=dataclasses.replace(cfg.sample, n=7), runtime=dataclasses.replace(cfg.runtime, threads=1)))
    assert resume.fingerprint(cfg) != resume.fingerprint(dataclasses.replace(cfg, seed=cfg.seed + 1))
