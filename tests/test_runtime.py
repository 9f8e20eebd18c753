"""runtime.py: signal deferral, quiet TensorFlow import, op determinism."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from fashiongan import runtime


def test_a_signal_inside_the_block_is_recorded_then_delivered_on_leaving():
    delivered = []
    interrupt_handler = signal.getsignal(signal.SIGINT)  # SIG_IGN where the suite runs in the background
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: delivered.append(signum))
    try:
        with pytest.raises(KeyboardInterrupt), runtime.deferred_signals() as requested:
            os.kill(os.getpid(), signal.SIGTERM)
            assert requested == [signal.SIGTERM] and delivered == []  # not raised inside
        assert delivered == [signal.SIGTERM]
        assert signal.getsignal(signal.SIGINT) is interrupt_handler  # handlers are back
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_no_signal_no_interrupt():
    with runtime.deferred_signals() as requested:
        pass
    assert requested == []


@pytest.mark.skipif(
    Path("/proc/driver/nvidia/version").exists(), reason="a GPU driver is present: nothing is hidden"
)
def test_tensorflow_loads_without_cuda_lines_on_a_machine_without_a_gpu_driver():
    code = (
        "from fashiongan import runtime; from fashiongan.config import RuntimeConfig; "
        "runtime.configure(0, RuntimeConfig(threads=0, deterministic=True)); import tensorflow as tf; "
        "from tensorflow.python.framework import config; "
        "print(tf.config.list_physical_devices(), config.is_op_determinism_enabled())"
    )
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("True")  # deterministic ops are on
    assert "cuda" not in result.stderr.lower() and "E0000" not in result.stderr, result.stderr
