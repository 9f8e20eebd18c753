"""Which tf.distribute strategy and which float policy a training run uses.

`auto` keeps one device unless several GPUs are visible. `mirrored` replicates over the GPUs,
or over the CPU's logical devices when there are no GPUs (how the tests split one CPU in two).
`multi_worker` reads the cluster from TF_CONFIG and must be created before TensorFlow runs
any op, so the train stage builds the strategy first.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import tensorflow as tf

from ..config import STRATEGIES
from ..errors import ConfigError

NVIDIA_DRIVER_FILE = Path("/proc/driver/nvidia/version")  # what the NVIDIA kernel driver puts there


def make_strategy(name: str) -> tf.distribute.Strategy:
    if name == "multi_worker":  # before anything (listing devices included) starts TensorFlow
        if "TF_CONFIG" not in os.environ:
            raise ConfigError(
                "train.strategy: multi_worker needs TF_CONFIG in the environment "
                '(e.g. {"cluster": {"worker": ["host1:port", "host2:port"]}, '
                '"task": {"type": "worker", "index": 0}})'
            )
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if name == "auto":
        return tf.distribute.MirroredStrategy() if len(gpus) > 1 else tf.distribute.get_strategy()
    if name == "one_device":
        return tf.distribute.OneDeviceStrategy((gpus or tf.config.list_logical_devices("CPU"))[0].name)
    if name == "mirrored":
        return tf.distribute.MirroredStrategy([d.name for d in gpus or tf.config.list_logical_devices("CPU")])
    raise ConfigError(f"train.strategy: got {name!r}, expected one of: {', '.join(STRATEGIES)}")


def precision_policy(setting: str) -> str:
    """`auto`: bfloat16 compute on GPUs that have it (compute capability >= 8, no loss scaling),
    float16 with loss scaling on older GPUs, float32 on CPUs: there the DCGAN step is not bound by
    matmul throughput, and bfloat16 measured no faster even on a CPU with AVX-512 BF16 (30.4 against
    28.9 steps/s, overlapping rounds; docs/results.md)."""
    if setting != "auto":
        return setting
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return "float32"
    capability = tf.config.experimental.get_device_details(gpus[0]).get("compute_capability", (0, 0))
    return "mixed_bfloat16" if capability >= (8, 0) else "mixed_float16"


def devices() -> str:
    """Where training runs, in words: the GPUs TensorFlow sees by name, else the CPU."""
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return f"CPU ({os.cpu_count()} cores)"
    names = [tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name) for gpu in gpus]
    return f"{len(gpus)} GPU{'s' if len(gpus) > 1 else ''} ({', '.join(sorted(set(names)))})"


def missing_gpu_warning() -> str | None:
    """One line when this machine has an NVIDIA driver but TensorFlow sees no GPU: a CPU-only
    TensorFlow (requirements.txt) would otherwise train on the CPU without a word."""
    driver = shutil.which("nvidia-smi") is not None or NVIDIA_DRIVER_FILE.exists()
    if not driver or tf.config.list_physical_devices("GPU"):
        return None
    return (
        "an NVIDIA driver is present but TensorFlow sees no GPU, so training runs on the CPU: "
        "`make setup GPU=1` installs TensorFlow's CUDA libraries (requirements-gpu.txt)"
    )
