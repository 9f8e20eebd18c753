"""params.yaml -> frozen dataclasses, validated before any heavy work.

Every error is a `ConfigError` whose message names the key, the value and what is allowed,
so the CLI can print it as one line and exit 2.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

from ruamel.yaml import YAML, YAMLError

from .data import CLASS_NAMES, FASHION_MNIST, source_problem, source_sizes
from .errors import ConfigError

# tf.distribute strategies and Keras dtype policies (resolved in distribute.py, which imports TF)
STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker")
PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
# keras.utils.set_random_seed passes `seed` to np.random.seed, and the clusters' PCA and k-means take
# it as random_state: both refuse 2**32 and above (the trainer's int64 streams, seed * 8 + 7, allow more)
SEED_MAX = 2**32 - 1
# fewer evaluate.n images break evaluate's metrics: the classifier score splits them 10 ways (an empty
# split is NaN), density/coverage take each test image's 5th nearest other one (6 needed)
EVALUATE_MIN_N = 10


def _positive(v):
    return v > 0


def _non_negative(v):
    return v >= 0


def _rule(check, allowed):
    return field(metadata={"check": check, "allowed": allowed})


def _class_names(v) -> bool:
    return len(v) >= 2 and len(set(v)) == len(v) and all(isinstance(n, str) and n.strip() for n in v)


@dataclass(frozen=True)
class DataConfig:
    source: str = _rule(lambda v: len(v) > 0, f"{FASHION_MNIST} or a directory holding the four IDX files")
    class_names: list = _rule(_class_names, "a list of at least 2 distinct non-empty names, one per label value")
    train_limit: int | None = _rule(lambda v: v is None or v > 0, "null or a positive int")


@dataclass(frozen=True)
class ClassifierConfig:
    ruler: str = _rule(lambda v: v in ("auto", "train") or (v.startswith("rulers/") and v.endswith(".keras")),
                       "auto, train, or rulers/<name>.keras (a ruler file with its card beside it)")
    epochs: int = _rule(_positive, "a positive int")
    batch_size: int = _rule(_positive, "a positive int")
    learning_rate: float = _rule(_positive, "a positive number")


@dataclass(frozen=True)
class ModelConfig:
    arch: str = _rule(lambda v: v in ("mlp", "dcgan"), "one of: mlp, dcgan")
    latent_dim: int = _rule(_positive, "a positive int")
    conditional: bool = _rule(lambda v: True, "true or false")
    spectral_norm: bool = _rule(lambda v: True, "true or false")
    clusters: int = _rule(_non_negative, "an int >= 0 (0 = off)")


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = _rule(_positive, "a positive int")
    batch_size: int = _rule(_positive, "a positive int")
    loss: str = _rule(lambda v: v in ("bce", "hinge", "wgan-gp"), "one of: bce, hinge, wgan-gp")
    learning_rate: float = _rule(_positive, "a positive number")
    lr_g: float | None = _rule(lambda v: v is None or v > 0, "null or a positive number")
    lr_d: float | None = _rule(lambda v: v is None or v > 0, "null or a positive number")
    beta_1: float = _rule(lambda v: 0 <= v < 1, "a number in [0, 1)")
    gp_weight: float = _rule(_non_negative, "a number >= 0")
    d_steps: int = _rule(_positive, "a positive int")
    lr_decay: float = _rule(lambda v: 0 <= v <= 1, "a number in [0, 1] (0 = constant rates)")
    ema: float | None = _rule(lambda v: v is None or 0 < v < 1, "null or a number in (0, 1)")
    ema_warmup: bool = _rule(lambda v: True, "true or false")
    jit_compile: bool | str = _rule(lambda v: v in (True, False, "auto"), "true, false or auto")
    steps_per_call: int = _rule(_positive, "a positive int")
    log_every: int = _rule(_positive, "a positive int")
    sample_every: int = _rule(_positive, "a positive int")
    checkpoint_every: int = _rule(_positive, "a positive int")
    fid_every: int = _rule(_non_negative, "an int >= 0 (0 = off)")
    fid_samples: int = _rule(lambda v: v >= 2, "an int >= 2")
    strategy: str = _rule(lambda v: v in STRATEGIES, "one of: " + ", ".join(STRATEGIES))
    mixed_precision: str = _rule(lambda v: v in PRECISIONS, "one of: " + ", ".join(PRECISIONS))

    @property
    def g_learning_rate(self) -> float:
        return self.lr_g if self.lr_g is not None else self.learning_rate

    @property
    def d_learning_rate(self) -> float:
        return self.lr_d if self.lr_d is not None else self.learning_rate


@dataclass(frozen=True)
class RuntimeConfig:
    threads: int = _rule(_non_negative, "an int >= 0 (0 = TensorFlow's default)")
    deterministic: bool = _rule(lambda v: True, "true or false")


@dataclass(frozen=True)
class SampleConfig:
    n: int = _rule(_positive, "a positive int")
    seed: int = _rule(_non_negative, "an int >= 0")  # only np.random.default_rng takes it: no upper bound


@dataclass(frozen=True)
class EvaluateConfig:
    n: int = _rule(lambda v: v >= EVALUATE_MIN_N,
                   f"an int >= {EVALUATE_MIN_N} (the classifier score splits the images 10 ways; density and "
                   "coverage use each image's 5 nearest neighbours)")


@dataclass(frozen=True)
class TrackingConfig:
    enabled: bool = _rule(lambda v: True, "true or false")
    experiment: str = _rule(lambda v: len(v) > 0, "a non-empty string")
    register_model: bool = _rule(lambda v: True, "true or false")


@dataclass(frozen=True)
class Config:
    seed: int = _rule(lambda v: 0 <= v <= SEED_MAX,
                      f"an int from 0 to {SEED_MAX} (2**32 - 1, the largest seed numpy, Keras and scikit-learn take)")
    runtime: RuntimeConfig = None
    data: DataConfig = None
    classifier: ClassifierConfig = None
    model: ModelConfig = None
    train: TrainConfig = None
    sample: SampleConfig = None
    evaluate: EvaluateConfig = None
    tracking: TrackingConfig = None

    @functools.cached_property
    def image_counts(self) -> tuple[int, int]:
        """(training images, test images) of data.source, read from its IDX headers once."""
        return source_sizes(self.data.source)

    @property
    def train_images(self) -> int:
        available = self.image_counts[0]
        return min(available, self.data.train_limit or available)


def _type_ok(value, annotation) -> bool:
    options = typing.get_args(annotation) if isinstance(annotation, types.UnionType) else (annotation,)
    for option in options:
        if option is type(None) and value is None:
            return True
        if option is bool and isinstance(value, bool):
            return True
        if option is int and isinstance(value, int) and not isinstance(value, bool):
            return True
        if option is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return True
        if option is str and isinstance(value, str):
            return True
        if option is list and isinstance(value, list):
            return True
    return False


def _build(cls, raw, prefix: str):
    if not isinstance(raw, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'params'}: expected a mapping, got {raw!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    for key in raw:
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f" (did you mean '{prefix}{close[0]}'?)" if close else ""
            shown = key if isinstance(key, str) and key.isprintable() else repr(key)
            raise ConfigError(f"{prefix}{shown}: unknown key{hint}; allowed: {', '.join(names)}")
    values = {}
    for f in dataclasses.fields(cls):
        key = prefix + f.name
        if f.name not in raw:
            raise ConfigError(f"{key}: missing key")
        value = raw[f.name]
        annotation = hints[f.name]
        if dataclasses.is_dataclass(annotation):
            values[f.name] = _build(annotation, value, key + ".")
            continue
        if not _type_ok(value, annotation) or not f.metadata["check"](value):
            raise ConfigError(f"{key}: got {value!r}, expected {f.metadata['allowed']}")
        values[f.name] = float(value) if annotation is float else value
    return cls(**values)


def _check_data(cfg: Config) -> None:
    """Params against data.source: that it names an IDX directory, and its image counts."""
    if problem := source_problem(cfg.data.source):  # a typo'd path is a bad param; a broken file, bad data
        raise ConfigError(f"data.source: {problem}")
    train_images, test_images = cfg.image_counts
    if cfg.model.clusters == 1 or cfg.model.clusters > cfg.train_images:
        raise ConfigError(f"model.clusters: got {cfg.model.clusters}, expected 0 or 2 to {cfg.train_images} "
                          "(the training images)")
    if cfg.data.train_limit is not None and cfg.data.train_limit > train_images:
        raise ConfigError(f"data.train_limit: got {cfg.data.train_limit}, expected null or at most {train_images} "
                          "(the training set)")
    if cfg.train_images < cfg.train.batch_size * cfg.train.d_steps:
        raise ConfigError(
            f"train.batch_size: got {cfg.train.batch_size}, expected at most the {cfg.train_images} training images"
            + (f" / train.d_steps {cfg.train.d_steps}" if cfg.train.d_steps > 1 else "")
        )
    if cfg.evaluate.n > test_images:
        raise ConfigError(f"evaluate.n: got {cfg.evaluate.n}, expected at most {test_images} (the test set)")
    if cfg.train.fid_every and cfg.train.fid_samples > test_images:
        raise ConfigError(f"train.fid_samples: got {cfg.train.fid_samples}, expected at most {test_images} "
                          "(the test set)")


def _check_params(cfg: Config) -> None:
    """What params say about each other, with no look at data.source's files."""
    if cfg.classifier.ruler.endswith(".keras") and not Path(cfg.classifier.ruler).is_file():
        raise ConfigError(f"classifier.ruler: {cfg.classifier.ruler}: no such file (expected auto, train, or "
                          "rulers/<name>.keras, a ruler file with its card beside it)")
    if cfg.data.source == FASHION_MNIST and len(cfg.data.class_names) != len(CLASS_NAMES):
        raise ConfigError(f"data.class_names: got {len(cfg.data.class_names)} names, expected {len(CLASS_NAMES)} for "
                          f"data.source {FASHION_MNIST}")
    if cfg.model.clusters and cfg.model.conditional:
        raise ConfigError(f"model.clusters: got {cfg.model.clusters}, expected 0 with model.conditional true "
                          "(clusters stand in for class labels in unconditional models)")
    if cfg.train.loss == "wgan-gp" and cfg.train.gp_weight <= 0:
        raise ConfigError(f"train.gp_weight: got {cfg.train.gp_weight!r}, expected > 0 with train.loss wgan-gp")
    if cfg.evaluate.n > cfg.sample.n:
        raise ConfigError(f"evaluate.n: got {cfg.evaluate.n}, expected at most sample.n ({cfg.sample.n})")


def parse(raw, check_data: bool = True) -> Config:
    """Validate a params mapping (as loaded from YAML) into a Config. check_data=False skips what
    needs data.source's files (for commands that read no data: compare, report, generate, tracking)."""
    cfg = _build(Config, raw, "")
    if check_data:
        _check_data(cfg)
    _check_params(cfg)
    return cfg


def load(path: str | Path = "params.yaml", check_data: bool = True) -> Config:
    """params.yaml as DVC reads it: ruamel.yaml's safe loader, YAML 1.2 (1e-3 is a number, yes a string)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(f"{path}: cannot read ({e.strerror or e})") from None
    try:
        raw = YAML(typ="safe", pure=True).load(text)
    except YAMLError as e:
        where = getattr(e, "problem_mark", None)
        at = f" at line {where.line + 1}, column {where.column + 1}" if where else ""
        problem = " ".join(str(getattr(e, "problem", None) or e).split())
        raise ConfigError(f"{path}: invalid YAML{at}: {problem}") from None
    except (ValueError, IndexError) as e:  # ruamel's, unmarked, for a scalar its tag cannot hold: 2001-13-45, !!int
        raise ConfigError(f"{path}: invalid YAML: {e}") from None
    return parse(raw, check_data)


def flatten(cfg: Config, sections: tuple[str, ...] | None = None) -> dict[str, object]:
    """Dotted keys (`train.learning_rate`) for MLflow params; only the top-level `sections` if given."""
    out: dict[str, object] = {}

    def walk(obj, prefix):
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if dataclasses.is_dataclass(value):
                walk(value, prefix + f.name + ".")
            else:
                out[prefix + f.name] = value

    walk(cfg, "")
    return out if sections is None else {k: v for k, v in out.items() if k.split(".")[0] in sections}
