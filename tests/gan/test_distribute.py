"""tf.distribute: strategy and precision choice in-process; mirrored training on a CPU split in two
logical devices, and two MultiWorkerMirroredStrategy workers on loopback, each in subprocesses
(device layout and collectives must be set before TensorFlow starts)."""

import copy
import json
import re
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf
import yaml
from conftest import UNIT_PARAMS
from pipeline_repo import env_for, free_port

from fashiongan.config import ModelConfig
from fashiongan.errors import ConfigError
from fashiongan.gan import distribute
from fashiongan.gan import trainer as T
from fashiongan.gan.build import build_trainer


def test_auto_is_one_device_on_a_cpu_and_precision_stays_float32():
    strategy = distribute.make_strategy("auto")
    assert strategy.num_replicas_in_sync == 1 and strategy.extended.should_checkpoint
    assert distribute.precision_policy("auto") == "float32"
    assert distribute.precision_policy("mixed_bfloat16") == "mixed_bfloat16"


def test_multi_worker_without_tf_config_names_what_is_missing(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ConfigError, match=r"^train.strategy: multi_worker needs TF_CONFIG"):
        distribute.make_strategy("multi_worker")


def test_training_names_its_device_and_warns_once_when_a_driver_has_no_gpu_in_tensorflow(
    monkeypatch, tmp_path
):
    assert distribute.devices().startswith("CPU (")  # this suite's machines have no GPU in TensorFlow
    monkeypatch.setattr(distribute.shutil, "which", lambda name: None)
    monkeypatch.setattr(distribute, "NVIDIA_DRIVER_FILE", tmp_path / "no-driver")
    assert distribute.missing_gpu_warning() is None  # no driver: the CPU is what this machine has
    (tmp_path / "driver").write_text("NVRM version: NVIDIA UNIX x86_64 Kernel Module  570.00\n")
    monkeypatch.setattr(distribute, "NVIDIA_DRIVER_FILE", tmp_path / "driver")
    warning = distribute.missing_gpu_warning()
    assert "TensorFlow sees no GPU" in warning and "make setup GPU=1" in warning and "\n" not in warning
    monkeypatch.setattr(distribute, "NVIDIA_DRIVER_FILE", tmp_path / "no-driver")
    monkeypatch.setattr(
        distribute.shutil, "which", lambda name: "/usr/bin/nvidia-smi" if name == "nvidia-smi" else None
    )
    assert distribute.missing_gpu_warning() == warning
    monkeypatch.setattr(distribute.tf.config, "list_physical_devices", lambda kind=None: ["a GPU"])
    assert distribute.missing_gpu_warning() is None  # TensorFlow sees the GPU: nothing to fix


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_trains_with_float32_outputs(cfg, policy):
    keras.config.set_dtype_policy(policy)
    try:
        keras.utils.set_random_seed(0)
        model = ModelConfig(arch="mlp", latent_dim=8, conditional=True, spectral_norm=False, clusters=0)
        train = cfg.train.model_copy(update={"batch_size": 16, "loss": "hinge", "jit_compile": False})
        trainer = build_trainer(cfg.model_copy(update={"model": model, "train": train}), total_steps=None)
        gan = trainer.gan
        rng = np.random.default_rng(0)
        history = trainer.run_steps(
            3,
            tf.constant(rng.integers(0, 256, (64, 28, 28), dtype=np.uint8)),
            tf.constant(rng.integers(0, 10, 64, dtype=np.int32)),
            T.epoch_order(0, 0, 64),
        )
    finally:
        keras.config.set_dtype_policy("float32")
    assert np.isfinite(history.numpy()).all()
    hidden = next(layer for layer in gan.generator.layers if isinstance(layer, keras.layers.Dense))
    assert hidden.compute_dtype == policy.removeprefix("mixed_")
    assert gan.generator.output.dtype == gan.discriminator.output.dtype == "float32"
    assert isinstance(trainer.g_optimizer, keras.optimizers.LossScaleOptimizer) == (policy == "mixed_float16")


MIRRORED = textwrap.dedent("""
    import json, sys
    import numpy as np, tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    from fashiongan import params
    from fashiongan.gan import distribute
    from fashiongan.gan.build import build_trainer
    from fashiongan.gan.loop import fit
    from fashiongan.errors import ConfigError

    cfg = params.load(sys.argv[1])
    rng = np.random.default_rng(0)
    images, labels = rng.integers(0, 256, (256, 28, 28), dtype=np.uint8), rng.integers(0, 10, 256)
    result = {}
    # one strategy object per kind: a second MirroredStrategy in a process restarts the collective
    # instance keys that the first one's compiled functions still hold
    strategies = {name: distribute.make_strategy(name) for name in ("one_device", "mirrored")}
    for arch, conditional, loss in [("mlp", False, "bce"), ("dcgan", True, "hinge")]:
        run_cfg = cfg.model_copy(update={
            "seed": 0,
            "model": cfg.model.model_copy(update={"arch": arch, "conditional": conditional}),
            "train": cfg.train.model_copy(update={"loss": loss, "batch_size": 32, "jit_compile": False,
                                                  "ema": 0.9}),
        })
        runs = []
        for strategy in strategies.values():
            keras.utils.set_random_seed(0)
            trainer = build_trainer(run_cfg, None, strategy)
            gan = trainer.gan
            rows = []
            fit(trainer, images, labels, 12, [], lambda first, r: rows.append(r))
            runs.append((strategy.num_replicas_in_sync, np.concatenate(rows),
                         trainer.inference_generator.get_weights() + gan.discriminator.get_weights()))
        (n1, m1, w1), (n2, m2, w2) = runs
        result[arch] = {"replicas": [n1, n2], "metrics": float(np.abs(m1 - m2).max()),
                        "weights": max(float(np.abs(a - b).max()) for a, b in zip(w1, w2))}
    try:
        build_trainer(cfg.model_copy(update={"train": cfg.train.model_copy(update={"batch_size": 33})}), None,
                      strategies["mirrored"])
    except ConfigError as e:
        result["odd_batch"] = str(e)
    print(json.dumps(result))
""")


@pytest.mark.slow
def test_mirrored_on_two_logical_cpus_matches_one_device(tmp_path):
    """Same global batch, seed and data: the replicas' summed gradients, synchronized batch norm
    and cross-replica metrics reproduce one device's 12 steps to float round-off (XLA is off in
    both: XLA's own fusion changes the round-off, which a GAN then amplifies)."""
    script = tmp_path / "mirrored.py"
    script.write_text(MIRRORED)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(UNIT_PARAMS))
    out = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "params.yaml")],
        capture_output=True,
        text=True,
        timeout=300,
        env=env_for(tmp_path),
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.splitlines()[-1])
    for arch in ("mlp", "dcgan"):
        assert result[arch]["replicas"] == [1, 2]
        assert result[arch]["weights"] < 1e-3 and result[arch]["metrics"] < 1e-3, result
    assert (
        result["odd_batch"]
        == "train.batch_size: got 33, expected a multiple of the 2 replicas (it is the global batch)"
    )


def _prepare_for_two_workers(tmp_path, real_data_dir, tracking: bool) -> tuple[dict, dict]:
    """params.yaml for `train.strategy: multi_worker` (31 steps of 32 images) and the prepared data in
    `tmp_path`; returns the params and the workers' environment."""
    params = copy.deepcopy(UNIT_PARAMS)
    params["tracking"]["enabled"] = tracking
    params["data"]["train_limit"] = 1000
    params["train"].update(
        epochs=1,
        batch_size=32,
        log_every=5,
        sample_every=10,
        checkpoint_every=10,
        fid_every=0,
        steps_per_call=5,
        strategy="multi_worker",
    )
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = env_for(tmp_path) | {"FASHION_MNIST_DIR": real_data_dir, "TMPDIR": str(tmp_path / "scratch")}
    (tmp_path / "scratch").mkdir()
    subprocess.run(["fashiongan", "prepare"], cwd=tmp_path, env=env, check=True, capture_output=True)
    return params, env


def _train_on_two_workers(tmp_path, env, worker_args=((), ())) -> list[tuple[int, str]]:
    """`fashiongan train <worker_args[i]>` in `tmp_path` (a shared checkout) as TF_CONFIG worker 0 and 1
    on loopback; each worker's exit code and output."""
    cluster = {"worker": [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]}
    workers = [
        subprocess.Popen(
            ["fashiongan", "train", *args],
            cwd=tmp_path,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env | {"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})},
        )
        for i, args in enumerate(worker_args)
    ]
    outputs = [w.communicate(timeout=300)[0] for w in workers]
    return [(w.returncode, output) for w, output in zip(workers, outputs)]


@pytest.mark.slow
def test_two_workers_on_loopback_train_one_model_into_one_run(tmp_path, real_data_dir):
    """`fashiongan train` twice in one directory (a shared checkout), TF_CONFIG worker 0 and 1:
    worker 0 is the chief and writes the model, the CSVs and the MLflow run; worker 1 trains
    with it and leaves nothing behind."""
    params, env = _prepare_for_two_workers(tmp_path, real_data_dir, tracking=True)
    results = _train_on_two_workers(tmp_path, env)
    outputs = [output for _, output in results]
    assert [code for code, _ in results] == [0, 0], outputs[0][-2000:] + outputs[1][-2000:]
    assert "on 2 replicas" in outputs[0] and "worker-1 done; the chief writes the outputs" in outputs[1]
    assert (tmp_path / "models/generator.keras").is_file()
    assert sorted(p.name for p in (tmp_path / "models/checkpoints").glob("*.index")) == [
        "ckpt-20.index",
        "ckpt-30.index",
        "ckpt-31.index",
    ]
    assert list((tmp_path / "scratch").iterdir()) == []  # worker 1's scratch checkpoints are gone

    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name(params["tracking"]["experiment"]).experiment_id])
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"  # each evaluation is a run of its own
    assert runs[0].data.tags["train.replicas"] == "2"
    assert [m.step for m in client.get_metric_history(runs[0].info.run_id, "g_loss")] == list(range(1, 32))


@pytest.mark.slow
def test_two_workers_that_would_train_from_different_states_both_refuse_before_the_first_step(
    tmp_path, real_data_dir
):
    """Worker 1 reads params with another train.learning_rate: had they trained, their gradients would
    have been averaged into one mixed model. Both stop before the first step with one line naming
    each worker's start step and digest, and the chief leaves no model behind."""
    params, env = _prepare_for_two_workers(tmp_path, real_data_dir, tracking=False)
    params["train"]["learning_rate"] *= 2
    (tmp_path / "other-params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    results = _train_on_two_workers(tmp_path, env, ((), ("--params", "other-params.yaml")))
    refusals = []
    for code, output in results:
        lines = [line for line in output.splitlines() if line.startswith("fashiongan train:")]
        assert code == 1 and len(lines) == 1 and "Traceback" not in output, output[-3000:]
        assert "steps (fresh)" not in output  # train announces its first step after the check
        refusals.append(lines[0])
    assert refusals[0] == refusals[1]  # every worker sees every worker's state
    match = re.fullmatch(
        r"fashiongan train: the workers would train from different states: "
        r"worker 0 at step 0 \(digest of params, code and data ([0-9a-f]{12})\), "
        r"worker 1 at step 0 \(digest of params, code and data ([0-9a-f]{12})\); "
        r"give every worker the same models/checkpoints and the same params, code and data "
        r"\(or delete models/checkpoints on every worker to start afresh\)",
        refusals[0],
    )
    assert match and match[1] != match[2], refusals[0]
    assert not (tmp_path / "models/generator.keras").exists()
