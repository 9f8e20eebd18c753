import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")

from fashiongan import config  # noqa: E402
from fashiongan.data import DEBIAN_DIR, FILES  # noqa: E402


def _real_data_dir():
    for candidate in (os.environ.get("FASHION_MNIST_DIR"), str(DEBIAN_DIR)):
        if candidate and all(os.path.isfile(os.path.join(candidate, f.name)) for f in FILES.values()):
            return candidate
    return None


@pytest.fixture(scope="session")
def real_data_dir():
    directory = _real_data_dir()
    if directory is None:
        pytest.fail("real Fashion-MNIST not found: `make setup` installs dataset-fashion-mnist")
    return directory


@pytest.fixture
def raw_params():
    import yaml

    root = os.path.dirname(os.path.dirname(__file__))
    with open(os.path.join(root, "params.yaml")) as f:
        return yaml.safe_load(f)


@pytest.fixture
def cfg(raw_params):
    return config.parse(raw_params)
