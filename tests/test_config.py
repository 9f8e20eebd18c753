import copy
from pathlib import Path

import pytest

from fashiongan import config
from fashiongan.errors import ConfigError


def test_the_shipped_params_file_is_valid():
    config.load(Path(__file__).resolve().parents[1] / "params.yaml")


def test_learning_rates_default_to_the_shared_one(cfg):
    assert cfg.train.g_learning_rate == cfg.train.d_learning_rate == cfg.train.learning_rate
    assert cfg.train_images == 60000


def test_flatten_gives_one_dotted_key_per_leaf(cfg, raw_params):
    flat = config.flatten(cfg)
    leaves = {f"{section}.{key}": value for section, values in raw_params.items() if isinstance(values, dict)
              for key, value in values.items()} | {"seed": raw_params["seed"]}
    assert flat == leaves
    assert config.flatten(cfg, ("seed", "model")) == {k: v for k, v in leaves.items() if k == "seed" or
                                                      k.startswith("model.")}


def _mutated(raw, dotted, value):
    raw = copy.deepcopy(raw)
    *parents, leaf = dotted.split(".")
    node = raw
    for p in parents:
        node = node[p]
    node[leaf] = value
    return raw


@pytest.mark.parametrize("dotted, value, expected", [
    ("train.epochs", 0, "train.epochs: got 0, expected a positive int"),
    ("train.epochs", "ten", "train.epochs: got 'ten'"),
    ("train.learning_rate", -1.0, "train.learning_rate: got -1.0, expected a positive number"),
    ("train.batch_size", True, "train.batch_size: got True"),
    ("model.arch", "resnet", "model.arch: got 'resnet', expected one of: mlp, dcgan"),
    ("train.loss", "l2", "train.loss: got 'l2', expected one of: bce, hinge, wgan-gp"),
    ("model.latent_dim", 0, "model.latent_dim: got 0"),
    ("train.beta_1", 1.0, "train.beta_1: got 1.0, expected a number in [0, 1)"),
    ("train.ema", 1.5, "train.ema: got 1.5"),
    ("evaluate.n", 20000, "evaluate.n: got 20000, expected at most 10000"),
    ("train.d_steps", 0, "train.d_steps: got 0, expected a positive int"),
    ("seed", "x", "seed: got 'x', expected an int >= 0"),
    ("tracking.enabled", "yes", "tracking.enabled: got 'yes', expected true or false"),
    ("train.jit_compile", "maybe", "train.jit_compile: got 'maybe', expected true, false or auto"),
    ("sample.n", 0, "sample.n: got 0, expected a positive int"),
    ("train.fid_samples", 100000, "train.fid_samples: got 100000, expected at most 10000"),
    ("data.train_limit", 100000, "data.train_limit: got 100000, expected null or at most 60000"),
    ("train.lr_g", -1, "train.lr_g: got -1, expected null or a positive number"),
    ("runtime.threads", -2, "runtime.threads: got -2, expected an int >= 0"),
    ("train.lr_decay", 1.5, "train.lr_decay: got 1.5, expected a number in [0, 1]"),
    ("train.ema_warmup", "on", "train.ema_warmup: got 'on', expected true or false"),
    ("model.clusters", -1, "model.clusters: got -1, expected an int >= 0"),
    ("model.clusters", 1, "model.clusters: got 1, expected 0 or 2 to 60000"),
    ("train.strategy", "tpu", "train.strategy: got 'tpu', expected one of: auto, one_device, mirrored, multi_worker"),
    ("train.mixed_precision", "fp8", "train.mixed_precision: got 'fp8', expected one of: auto, float32, mixed_float16"),
])
def test_bad_values_name_key_value_and_allowed(raw_params, dotted, value, expected):
    with pytest.raises(ConfigError) as err:
        config.parse(_mutated(raw_params, dotted, value))
    assert str(err.value).startswith(expected)
    assert "\n" not in str(err.value)


def test_unknown_key_suggests_the_close_one(raw_params):
    raw = copy.deepcopy(raw_params)
    raw["train"]["learning_rat"] = raw["train"].pop("learning_rate")
    with pytest.raises(ConfigError, match=r"train.learning_rat: unknown key \(did you mean 'train.learning_rate'\?\)"):
        config.parse(raw)


def test_missing_key(raw_params):
    raw = copy.deepcopy(raw_params)
    del raw["sample"]["seed"]
    with pytest.raises(ConfigError, match="sample.seed: missing key"):
        config.parse(raw)


def test_clusters_are_for_unconditional_models_only(raw_params):
    raw = _mutated(raw_params, "model.clusters", 50)
    with pytest.raises(ConfigError, match="model.clusters: got 50, expected 0 with model.conditional true"):
        config.parse(_mutated(raw, "model.conditional", True))
    assert config.parse(_mutated(raw, "model.conditional", False)).model.clusters == 50


def test_batch_larger_than_training_set(raw_params):
    raw = _mutated(raw_params, "data.train_limit", 100)
    with pytest.raises(ConfigError, match="train.batch_size: got 128, expected at most the 100 training images"):
        config.parse(_mutated(raw, "train.batch_size", 128))
    config.parse(_mutated(raw, "train.batch_size", 100))


def test_invalid_yaml_names_file_and_line(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("seed: 1\ntrain: [unclosed\n")
    with pytest.raises(ConfigError, match=r"params.yaml: invalid YAML at line \d+"):
        config.load(path)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        config.load(tmp_path / "nope.yaml")


def test_a_data_source_that_names_no_idx_directory_is_a_params_error(raw_params, tmp_path):
    raw_params["data"]["source"] = str(tmp_path / "nowhere")
    with pytest.raises(ConfigError, match=r"^data.source: .*nowhere: not a directory \(expected fashion-mnist or a"):
        config.parse(raw_params)
    raw_params["data"]["source"] = str(tmp_path)
    with pytest.raises(ConfigError, match=r"^data.source: .*/train-images-idx3-ubyte: missing \(nor train-images"):
        config.parse(raw_params)
