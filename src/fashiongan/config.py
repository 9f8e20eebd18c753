"""The schema of params.yaml: frozen pydantic models, one per section, and the checks of what
params say about each other.

Each key's type and bounds carry what is allowed as its description (also in params.schema.json,
for editors); params.py reads the file and turns a pydantic error into one line from them. A
cross-field check raises `ConfigError` itself, already one line.
"""

from __future__ import annotations

import json
import typing
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    model_validator,
)

from .errors import ConfigError

FASHION_MNIST = "fashion-mnist"  # data.source's default: the built-in set (data/sources.py finds it)

# tf.distribute strategies and Keras dtype policies (resolved in distribute.py, which imports TF)
Strategy = Literal["auto", "one_device", "mirrored", "multi_worker"]
Precision = Literal["auto", "float32", "mixed_float16", "mixed_bfloat16"]
STRATEGIES = typing.get_args(Strategy)
PRECISIONS = typing.get_args(Precision)
# keras.utils.set_random_seed passes `seed` to np.random.seed, and the clusters' PCA and k-means take
# it as random_state: both refuse 2**32 and above (the trainer's int64 streams, seed * 8 + 7, allow more)
SEED_MAX = 2**32 - 1
# fewer evaluate.n images break evaluate's metrics: the classifier score splits them 10 ways (an empty
# split is NaN), density/coverage take each test image's 5th nearest other one (6 needed)
EVALUATE_MIN_N = 10

PositiveInt = Annotated[int, Field(gt=0, description="a positive int")]
PositiveNumber = Annotated[float, Field(gt=0, description="a positive number")]
NullOrPositiveNumber = Annotated[
    Annotated[float, Field(gt=0)] | None, Field(description="null or a positive number")
]
Switch = Annotated[bool, Field(description="true or false")]


def _distinct(values: list) -> list:
    if len(set(values)) < len(values):
        raise ValueError("values repeat")
    return values


class Section(BaseModel):
    """A mapping of params.yaml: exactly its keys, each of its type. Strict: YAML's true is no int and
    "1" no number (an int is a number, stored as a float)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class DataConfig(Section):
    source: str = Field(
        min_length=1, description=f"{FASHION_MNIST} or a directory holding the four IDX files"
    )
    class_names: Annotated[list[Annotated[str, Field(pattern=r"\S")]], AfterValidator(_distinct)] = Field(
        min_length=2,
        json_schema_extra={"uniqueItems": True},
        description="a list of at least 2 distinct non-empty names, one per label value",
    )
    train_limit: Annotated[int, Field(gt=0)] | None = Field(description="null or a positive int")


class ClassifierConfig(Section):
    ruler: Literal["auto", "train"] | Annotated[str, Field(pattern=r"^rulers/.*\.keras$")] = Field(
        description="auto, train, or rulers/<name>.keras (a ruler file with its card beside it)"
    )
    epochs: PositiveInt
    batch_size: PositiveInt
    learning_rate: PositiveNumber


class ModelConfig(Section):
    arch: Literal["mlp", "dcgan"] = Field(description="one of: mlp, dcgan")
    latent_dim: PositiveInt
    conditional: Switch
    spectral_norm: Switch
    clusters: int = Field(ge=0, description="an int >= 0 (0 = off)")


class TrainConfig(Section):
    epochs: PositiveInt
    batch_size: PositiveInt
    loss: Literal["bce", "hinge", "wgan-gp", "rpgan"] = Field(
        description="one of: bce, hinge, wgan-gp, rpgan"
    )
    learning_rate: PositiveNumber
    lr_g: NullOrPositiveNumber
    lr_d: NullOrPositiveNumber
    beta_1: float = Field(ge=0, lt=1, description="a number in [0, 1)")
    beta_2: float = Field(gt=0, lt=1, description="a number in (0, 1)")
    gp_weight: float = Field(ge=0, description="a number >= 0")
    r1_r2: float = Field(ge=0, description="a number >= 0 (0 = off)")
    penalty_every: PositiveInt
    top_k: float = Field(gt=0, le=1, description="a number in (0, 1]")
    d_steps: PositiveInt
    lr_decay: float = Field(ge=0, le=1, description="a number in [0, 1] (0 = constant rates)")
    ema: (
        Annotated[float, Field(gt=0, lt=1)]
        | Annotated[
            list[Annotated[float, Field(gt=0, lt=1)]],
            Field(min_length=1, json_schema_extra={"uniqueItems": True}),
            AfterValidator(_distinct),
        ]
        | None
    ) = Field(description="null, a number in (0, 1), or a list of distinct such numbers")
    ema_warmup: Switch
    jit_compile: bool | Literal["auto"] = Field(description="true, false or auto")
    steps_per_call: PositiveInt
    log_every: PositiveInt
    sample_every: PositiveInt
    checkpoint_every: PositiveInt
    fid_every: int = Field(ge=0, description="an int >= 0 (0 = off)")
    fid_samples: int = Field(ge=2, description="an int >= 2")
    strategy: Strategy = Field(description="one of: " + ", ".join(STRATEGIES))
    mixed_precision: Precision = Field(description="one of: " + ", ".join(PRECISIONS))

    @property
    def ema_decays(self) -> tuple[float, ...]:
        """The decays of the moving averages of G's weights that training keeps: none, one, or several
        (of which training publishes the one with the lowest FID at its end; Trainer.publish_best_average)."""
        if self.ema is None:
            return ()
        return tuple(self.ema) if isinstance(self.ema, list) else (self.ema,)

    @property
    def g_learning_rate(self) -> float:
        return self.lr_g if self.lr_g is not None else self.learning_rate

    @property
    def d_learning_rate(self) -> float:
        return self.lr_d if self.lr_d is not None else self.learning_rate


class RuntimeConfig(Section):
    threads: int = Field(ge=0, description="an int >= 0 (0 = TensorFlow's default)")
    deterministic: Switch


class SampleConfig(Section):
    n: PositiveInt
    seed: int = Field(ge=0, description="an int >= 0")  # only np.random.default_rng takes it: no upper bound


class EvaluateConfig(Section):
    n: int = Field(
        ge=EVALUATE_MIN_N,
        description=f"an int >= {EVALUATE_MIN_N} (the classifier score splits the images 10 ways; "
        "density and coverage use each image's 5 nearest neighbours)",
    )


class InceptionConfig(Section):
    n: int = Field(
        ge=0,
        description=f"0 (off) or an int >= {EVALUATE_MIN_N} (images per side for the Inception FID and KID)",
    )


class TrackingConfig(Section):
    enabled: Switch
    experiment: str = Field(min_length=1, description="a non-empty string")
    register_model: Switch


class Config(Section):
    """Every knob of the fashiongan pipeline (params.yaml)."""

    model_config = ConfigDict(
        title="fashiongan params.yaml",
        json_schema_extra={"$schema": "https://json-schema.org/draft/2020-12/schema"},
    )

    seed: int = Field(
        ge=0,
        le=SEED_MAX,
        description=f"an int from 0 to {SEED_MAX} (2**32 - 1, the largest seed numpy, Keras "
        "and scikit-learn take)",
    )
    runtime: RuntimeConfig
    data: DataConfig
    classifier: ClassifierConfig
    model: ModelConfig
    train: TrainConfig
    sample: SampleConfig
    evaluate: EvaluateConfig
    inception: InceptionConfig
    tracking: TrackingConfig

    @model_validator(mode="after")
    def _check_params(self, info: ValidationInfo) -> Config:
        """What params say about each other, after what they say about data.source's files (the context's
        check_data: data/checks.py, which params.parse passes; first, as the data's bounds are those no
        other param can raise). ConfigError is no ValueError: pydantic lets it through as it is, one line."""
        if info.context and (check_data := info.context.get("check_data")):
            check_data(self)
        if self.classifier.ruler.endswith(".keras") and not Path(self.classifier.ruler).is_file():
            raise ConfigError(
                f"classifier.ruler: {self.classifier.ruler}: no such file (expected auto, "
                "train, or rulers/<name>.keras, a ruler file with its card beside it)"
            )
        if self.model.clusters and self.model.conditional:
            raise ConfigError(
                f"model.clusters: got {self.model.clusters}, expected 0 with model.conditional "
                "true (clusters stand in for class labels in unconditional models)"
            )
        if self.train.loss == "wgan-gp" and self.train.gp_weight <= 0:
            raise ConfigError(
                f"train.gp_weight: got {self.train.gp_weight!r}, expected > 0 with train.loss wgan-gp"
            )
        if self.evaluate.n > self.sample.n:
            raise ConfigError(
                f"evaluate.n: got {self.evaluate.n}, expected at most sample.n ({self.sample.n})"
            )
        if 0 < self.inception.n < EVALUATE_MIN_N or self.inception.n > self.sample.n:
            raise ConfigError(
                f"inception.n: got {self.inception.n}, expected 0 (off) or {EVALUATE_MIN_N} to sample.n "
                f"({self.sample.n})"
            )
        return self


def flatten(cfg: Config, sections: tuple[str, ...] | None = None) -> dict[str, object]:
    """Dotted keys (`train.learning_rate`) for MLflow params; only the top-level `sections` if given."""
    out: dict[str, object] = {}

    def walk(values: dict, prefix: str):
        for key, value in values.items():
            if isinstance(value, dict):
                walk(value, prefix + key + ".")
            else:
                out[prefix + key] = value

    walk(cfg.model_dump(), "")
    return out if sections is None else {k: v for k, v in out.items() if k.split(".")[0] in sections}


def json_schema() -> str:
    """params.schema.json: the JSON Schema of params.yaml, for editors (and its test)."""
    return json.dumps(Config.model_json_schema(), indent=2, sort_keys=True) + "\n"
