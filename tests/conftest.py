import os
from pathlib import Path

import pytest

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")

from fashiongan.runtime import quiet_tensorflow

quiet_tensorflow()

from fashiongan import params  # noqa: E402
from fashiongan.data.sources import CLASS_NAMES, DEBIAN_DIR, locate  # noqa: E402
from fashiongan.paths import RAW_DIR  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def real_data_in(root: Path) -> Path | None:
    """The Fashion-MNIST that `prepare` run in `root` would read, looked up in its order."""
    return locate(root / RAW_DIR)


@pytest.fixture(scope="session")
def real_data_dir():
    directory = real_data_in(ROOT)
    if directory is None:
        pytest.fail(
            f"real Fashion-MNIST not found in {ROOT / RAW_DIR}, $FASHION_MNIST_DIR or {DEBIAN_DIR}: "
            "`make run` downloads it, `make setup` run as root installs dataset-fashion-mnist"
        )
    return str(directory)


# The unit tests' own params: a change of a default in params.yaml breaks none of them.
UNIT_PARAMS = {
    "seed": 0,
    "runtime": {"threads": 0, "deterministic": True},
    "data": {"source": "fashion-mnist", "class_names": list(CLASS_NAMES), "train_limit": None},
    "classifier": {"ruler": "auto", "epochs": 1, "batch_size": 128, "learning_rate": 0.002},
    "model": {"arch": "mlp", "latent_dim": 16, "conditional": False, "spectral_norm": False, "clusters": 0},
    "train": {
        "epochs": 1,
        "batch_size": 32,
        "loss": "bce",
        "learning_rate": 0.0002,
        "lr_g": None,
        "lr_d": None,
        "beta_1": 0.5,
        "beta_2": 0.999,
        "gp_weight": 10.0,
        "r1_r2": 0.0,
        "penalty_every": 1,
        "top_k": 1.0,
        "d_steps": 1,
        "lr_decay": 0.0,
        "ema": 0.999,
        "ema_warmup": False,
        "jit_compile": "auto",
        "steps_per_call": 10,
        "log_every": 10,
        "sample_every": 100,
        "checkpoint_every": 100,
        "fid_every": 50,
        "fid_samples": 500,
        "strategy": "auto",
        "mixed_precision": "auto",
    },
    "sample": {"n": 1000, "seed": 1},
    "evaluate": {"n": 1000},
    "inception": {"n": 0},
    "tracking": {"enabled": False, "experiment": "fashiongan-tests", "register_model": False},
}


@pytest.fixture
def raw_params():
    import copy

    return copy.deepcopy(UNIT_PARAMS)


@pytest.fixture
def cfg(raw_params):
    return params.parse(raw_params)
