"""Process-wide TensorFlow settings: one seed for numpy, TensorFlow and Python; thread counts."""

from __future__ import annotations

import os


def configure(seed: int, threads: int = 0) -> None:
    """Call before building any model. threads > 0 caps intra-op threads (parallel DVC jobs);
    TF_NUM_INTRAOP_THREADS in the environment does the same without editing params."""
    import keras
    import tensorflow as tf

    threads = threads or int(os.environ.get("TF_NUM_INTRAOP_THREADS", 0))
    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(min(threads, 2))
    keras.utils.set_random_seed(seed)
