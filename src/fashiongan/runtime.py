"""Process-wide settings: TensorFlow's log noise, one seed for numpy, TensorFlow and Python,
thread counts, op determinism, and Ctrl-C / SIGTERM deferred to a safe point."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from pathlib import Path

from .config import RuntimeConfig


def quiet_tensorflow() -> None:
    """Import TensorFlow without the lines that read like failures on a machine with no NVIDIA
    driver ("Could not find cuda drivers", "failed call to cuInit: CUDA error"): TensorFlow's
    CUDA build prints them to the C-level stderr before its own log settings apply, so they are
    dropped at the file descriptor while it loads. With a driver present, nothing is hidden."""
    if "tensorflow" in sys.modules:
        return
    if Path("/proc/driver/nvidia/version").exists():
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # the cuInit error is logged at ERROR, later
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def configure(seed: int, settings: RuntimeConfig) -> None:
    """Call before building any model. `threads` > 0 caps intra-op threads (parallel DVC jobs);
    TF_NUM_INTRAOP_THREADS in the environment does the same without editing params.
    `deterministic` makes TensorFlow pick deterministic kernels, so that one machine gives the
    same numbers for the same params every time."""
    quiet_tensorflow()
    import keras
    import tensorflow as tf

    threads = settings.threads or int(os.environ.get("TF_NUM_INTRAOP_THREADS", 0))
    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(min(threads, 2))
    keras.utils.set_random_seed(seed)
    if settings.deterministic:
        tf.config.experimental.enable_op_determinism()


@contextlib.contextmanager
def deferred_signals(signals=(signal.SIGINT, signal.SIGTERM)):
    """Inside the block, Ctrl-C and SIGTERM are recorded in the yielded list instead of raised,
    so the block can stop where its state is consistent. On leaving it normally, the previous
    handlers come back and the first recorded signal is delivered to them, then
    KeyboardInterrupt is raised."""
    requested: list[int] = []
    previous = {s: signal.signal(s, lambda signum, frame: requested.append(signum)) for s in signals}
    try:
        yield requested
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if requested:
        handler = previous[requested[0]]
        if callable(handler):
            handler(requested[0], None)
        raise KeyboardInterrupt
