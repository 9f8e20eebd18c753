import copy
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from ruamel.yaml import YAML

from fashiongan import config, params
from fashiongan.data import checks
from fashiongan.errors import ConfigError, DataError
from fashiongan.evaluation import metrics

ROOT = Path(__file__).resolve().parents[1]


def test_the_shipped_params_file_is_valid():
    params.load(ROOT / "params.yaml")


def test_learning_rates_default_to_the_shared_one(cfg):
    assert cfg.train.g_learning_rate == cfg.train.d_learning_rate == cfg.train.learning_rate


def test_flatten_gives_one_dotted_key_per_leaf(cfg, raw_params):
    flat = config.flatten(cfg)
    leaves = {
        f"{section}.{key}": value
        for section, values in raw_params.items()
        if isinstance(values, dict)
        for key, value in values.items()
    } | {"seed": raw_params["seed"]}
    assert flat == leaves
    assert config.flatten(cfg, ("seed", "model")) == {
        k: v for k, v in leaves.items() if k == "seed" or k.startswith("model.")
    }


def _mutated(raw, dotted, value):
    raw = copy.deepcopy(raw)
    *parents, leaf = dotted.split(".")
    node = raw
    for p in parents:
        node = node[p]
    node[leaf] = value
    return raw


@pytest.mark.parametrize(
    "dotted, value, expected",
    [
        ("train.epochs", 0, "train.epochs: got 0, expected a positive int"),
        ("train.epochs", "ten", "train.epochs: got 'ten'"),
        ("train.learning_rate", -1.0, "train.learning_rate: got -1.0, expected a positive number"),
        ("train.batch_size", True, "train.batch_size: got True"),
        ("model.arch", "resnet", "model.arch: got 'resnet', expected one of: mlp, dcgan"),
        ("train.loss", "l2", "train.loss: got 'l2', expected one of: bce, hinge, wgan-gp, rpgan"),
        ("model.latent_dim", 0, "model.latent_dim: got 0"),
        ("train.beta_1", 1.0, "train.beta_1: got 1.0, expected a number in [0, 1)"),
        ("train.ema", 1.5, "train.ema: got 1.5"),
        ("evaluate.n", 20000, "evaluate.n: got 20000, expected at most 10000"),
        ("train.d_steps", 0, "train.d_steps: got 0, expected a positive int"),
        ("seed", "x", "seed: got 'x', expected an int from 0 to 4294967295"),
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
        (
            "train.strategy",
            "tpu",
            "train.strategy: got 'tpu', expected one of: auto, one_device, mirrored, multi_worker",
        ),
        (
            "train.mixed_precision",
            "fp8",
            "train.mixed_precision: got 'fp8', expected one of: auto, float32, mixed_float16",
        ),
        ("train.learning_rate", "1e-3", "train.learning_rate: got '1e-3', expected a positive number"),
        (
            "train.ema",
            True,
            "train.ema: got True, expected null, a number in (0, 1), or a list of distinct such numbers",
        ),
        (
            "train.ema",
            [0.9, 0.9],
            "train.ema: got [0.9, 0.9], expected null, a number in (0, 1), or a list of distinct",
        ),
        ("train.epochs", 1.0, "train.epochs: got 1.0, expected a positive int"),
        ("data.class_names", ["a", "a"], "data.class_names: got ['a', 'a'], expected a list of at least 2"),
        ("data.class_names", ["a", " "], "data.class_names: got ['a', ' '], expected a list of at least 2"),
        ("classifier.ruler", "rulers/x.pt", "classifier.ruler: got 'rulers/x.pt', expected auto, train, or"),
        ("train", 3, "train: expected a mapping, got 3"),
    ],
)
def test_bad_values_name_key_value_and_allowed(raw_params, dotted, value, expected):
    with pytest.raises(ConfigError) as err:
        params.parse(_mutated(raw_params, dotted, value))
    assert str(err.value).startswith(expected)
    assert "\n" not in str(err.value)


def test_unknown_key_suggests_the_close_one(raw_params):
    raw = copy.deepcopy(raw_params)
    raw["train"]["learning_rat"] = raw["train"].pop("learning_rate")
    with pytest.raises(
        ConfigError, match=r"train.learning_rat: unknown key \(did you mean 'train.learning_rate'\?\)"
    ):
        params.parse(raw)


def test_an_int_is_a_number_stored_as_a_float(raw_params):
    cfg = params.parse(_mutated(_mutated(raw_params, "train.learning_rate", 1), "train.lr_g", 2))
    assert (cfg.train.learning_rate, cfg.train.g_learning_rate) == (1.0, 2.0)
    assert isinstance(cfg.train.learning_rate, float) and isinstance(cfg.train.lr_g, float)


def test_a_key_that_is_no_string_is_unknown(raw_params):
    raw = copy.deepcopy(raw_params)
    raw["model"][1] = 2
    with pytest.raises(ConfigError, match=r"^model.1: unknown key; allowed: arch, latent_dim, conditional, "):
        params.parse(raw)


def test_missing_key(raw_params):
    raw = copy.deepcopy(raw_params)
    del raw["sample"]["seed"]
    with pytest.raises(ConfigError, match="sample.seed: missing key"):
        params.parse(raw)


def test_clusters_are_for_unconditional_models_only(raw_params):
    raw = _mutated(raw_params, "model.clusters", 50)
    with pytest.raises(ConfigError, match="model.clusters: got 50, expected 0 with model.conditional true"):
        params.parse(_mutated(raw, "model.conditional", True))
    assert params.parse(_mutated(raw, "model.conditional", False)).model.clusters == 50


def test_batch_larger_than_training_set(raw_params):
    raw = _mutated(raw_params, "data.train_limit", 100)
    with pytest.raises(
        ConfigError, match="train.batch_size: got 128, expected at most the 100 training images"
    ):
        params.parse(_mutated(raw, "train.batch_size", 128))
    params.parse(_mutated(raw, "train.batch_size", 100))


def test_invalid_yaml_names_file_and_line(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("seed: 1\ntrain: [unclosed\n")
    with pytest.raises(ConfigError, match=r"params.yaml: invalid YAML at line \d+"):
        params.load(path)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        params.load(tmp_path / "nope.yaml")


def test_a_data_source_that_names_no_idx_directory_is_a_params_error(raw_params, tmp_path):
    raw_params["data"]["source"] = str(tmp_path / "nowhere")
    with pytest.raises(
        ConfigError, match=r"^data.source: .*nowhere: not a directory \(expected fashion-mnist or a"
    ):
        params.parse(raw_params)
    raw_params["data"]["source"] = str(tmp_path)
    with pytest.raises(
        ConfigError, match=r"^data.source: .*/train-images-idx3-ubyte: missing \(nor train-images"
    ):
        params.parse(raw_params)


def _params_text(raw, literals: dict[str, str]) -> str:
    """raw as YAML, with each dotted key's value written as the given literal text."""
    for i, dotted in enumerate(literals):
        raw = _mutated(raw, dotted, f"@{i}@")
    text = yaml.safe_dump(raw)
    for i, literal in enumerate(literals.values()):
        text = text.replace(f"'@{i}@'", literal)
    return text


def test_params_yaml_means_to_fashiongan_what_it_means_to_dvc(raw_params, tmp_path):
    from dvc.utils.serialize import parse_yaml  # what `dvc repro` and `dvc exp show` read

    path = tmp_path / "params.yaml"
    path.write_text(
        _params_text(
            raw_params,
            {"train.learning_rate": "1e-3", "classifier.learning_rate": "2E-4", "train.lr_decay": ".5"},
        )
    )
    cfg = params.load(path)
    assert (cfg.train.learning_rate, cfg.classifier.learning_rate, cfg.train.lr_decay) == (0.001, 0.0002, 0.5)
    dvc = parse_yaml(path.read_text(), str(path))
    assert (dvc["train"]["learning_rate"], dvc["classifier"]["learning_rate"], dvc["train"]["lr_decay"]) == (
        0.001,
        0.0002,
        0.5,
    )

    # YAML 1.2: yes and on are strings, for DVC as for the validation
    path.write_text(_params_text(raw_params, {"tracking.enabled": "yes", "train.ema_warmup": "on"}))
    assert parse_yaml(path.read_text(), str(path))["tracking"]["enabled"] == "yes"
    with pytest.raises(ConfigError, match=r"^train.ema_warmup: got 'on', expected true or false$"):
        params.load(path)


def test_a_key_written_twice_is_invalid_yaml_at_its_second_line(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("seed: 1\nseed: 2\n")
    with pytest.raises(
        ConfigError,
        match=r"^\S*params.yaml: invalid YAML at line 2, column 1: found duplicate key "
        r'"seed" with value "2" \(original value: "1"\)$',
    ):
        params.load(path)


@pytest.mark.parametrize("scalar", ["2001-13-45", "!!float x", "!!int"])
def test_a_scalar_its_tag_cannot_hold_is_one_line(tmp_path, scalar):
    path = tmp_path / "params.yaml"
    path.write_text(f"seed: {scalar}\n")
    with pytest.raises(ConfigError) as error:
        params.load(path)
    assert str(error.value).startswith(f"{path}: invalid YAML") and "\n" not in str(error.value)


def test_seeds_up_to_2_32_minus_1_are_valid(raw_params):
    with pytest.raises(
        ConfigError, match=r"^seed: got 4294967296, expected an int from 0 to 4294967295 \(2\*\*32 - 1"
    ):
        params.parse(_mutated(raw_params, "seed", 2**32))
    assert params.parse(_mutated(raw_params, "seed", 2**32 - 1)).seed == config.SEED_MAX == 2**32 - 1
    # the bound is numpy's, which keras.utils.set_random_seed and scikit-learn's random_state go through
    np.random.RandomState(config.SEED_MAX)
    with pytest.raises(ValueError):
        np.random.RandomState(config.SEED_MAX + 1)


@pytest.mark.filterwarnings("ignore:Mean of empty slice", "ignore:invalid value encountered")
def test_evaluate_n_starts_where_the_metrics_work(raw_params):
    with pytest.raises(
        ConfigError, match=r"^evaluate.n: got 9, expected an int >= 10 \(the classifier score"
    ):
        params.parse(_mutated(raw_params, "evaluate.n", 9))
    assert params.parse(_mutated(raw_params, "evaluate.n", 10)).evaluate.n == config.EVALUATE_MIN_N == 10

    def scores(count):
        rng = np.random.default_rng(0)
        features, test_features = rng.normal(size=(count, 8)), rng.normal(size=(count, 8))
        return metrics.suite(
            features, rng.dirichlet(np.ones(10), count), test_features, rng.integers(0, 10, count), {}
        )

    assert all(np.isfinite(v) for v in scores(10).values() if isinstance(v, float))
    assert not np.isfinite(scores(9)["classifier_score"])  # a split of none
    with pytest.raises(ValueError, match="kth"):  # density/coverage's 5th nearest other image
        scores(5)


def _own_data_params(raw_params, directory):
    from shapes import CLASS_NAMES

    raw_params["data"].update(source=str(directory), class_names=CLASS_NAMES)
    raw_params["evaluate"]["n"] = raw_params["sample"]["n"] = raw_params["train"]["fid_samples"] = 20
    raw_params["train"]["batch_size"] = 8
    return raw_params


def test_a_user_directory_is_counted_once_per_load(raw_params, tmp_path, monkeypatch):
    from shapes import write_shapes

    raw = _own_data_params(raw_params, write_shapes(tmp_path / "shapes", train=40, test=20, gz=True))
    reads = []
    monkeypatch.setattr(checks, "source_sizes", lambda source: reads.append(source) or (40, 20))
    params.parse(raw)
    assert reads == [raw["data"]["source"]]


def test_commands_that_read_no_data_load_params_without_the_data_directory(raw_params, tmp_path):
    raw = _own_data_params(raw_params, tmp_path / "gone")
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert params.load(path, check_data=False).data.source == str(tmp_path / "gone")
    with pytest.raises(
        ConfigError, match=r"^data.source: \S*gone: not a directory \(expected fashion-mnist or a"
    ):
        params.load(path)
    # what needs no data is still checked
    with pytest.raises(ConfigError, match=r"^evaluate.n: got 20, expected at most sample.n \(10\)$"):
        params.parse(_mutated(raw, "sample.n", 10), check_data=False)


def test_an_images_file_holding_labels_is_bad_data(raw_params, tmp_path):
    from shapes import idx_bytes, write_shapes

    directory = write_shapes(tmp_path / "shapes", train=40, test=20)
    (directory / "train-images-idx3-ubyte").write_bytes(idx_bytes(np.zeros(40, np.uint8)))
    with pytest.raises(
        DataError,
        match=r"train-images-idx3-ubyte: IDX magic 00000801 \(labels: 1 dimension\), "
        r"expected 00000803 \(images: 3 dimensions\)$",
    ):
        params.parse(_own_data_params(raw_params, directory))


def test_the_committed_json_schema_is_the_models_own():
    regenerate = """python -c "from fashiongan import config; print(config.json_schema(), end='')" """
    assert (ROOT / "params.schema.json").read_text() == config.json_schema(), (
        f"params.schema.json is stale; regenerate it: {regenerate}> params.schema.json"
    )


def test_the_json_schema_takes_the_shipped_params_and_refuses_a_bad_value():
    jsonschema = pytest.importorskip("jsonschema")  # what editors check params.yaml with; not a dependency
    schema = json.loads((ROOT / "params.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    shipped = YAML(typ="safe", pure=True).load((ROOT / "params.yaml").read_text())  # YAML 1.2, as editors
    assert not list(validator.iter_errors(shipped))
    errors = list(validator.iter_errors(_mutated(shipped, "train.epochs", 0)))
    assert [list(e.absolute_path) for e in errors] == [["train", "epochs"]]
