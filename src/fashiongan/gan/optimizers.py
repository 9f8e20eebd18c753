"""The optimizers of both players: Adam with train.beta_1/beta_2 at a peak rate that
train.lr_decay holds, then takes linearly to zero."""

from __future__ import annotations

import keras
import tensorflow as tf

from ..config import TrainConfig


class DecayToZero(keras.optimizers.schedules.LearningRateSchedule):
    """`peak`, then linearly to zero over the last `fraction` of `updates` (Keras's own schedules
    decay from the first update, or add a warm-up; none holds the rate first)."""

    def __init__(self, peak: float, updates: int, fraction: float):
        self.peak, self.updates, self.fraction = peak, updates, fraction

    def __call__(self, update):
        left = (self.updates - tf.cast(update, tf.float32)) / (self.fraction * self.updates)
        return self.peak * tf.clip_by_value(left, 0.0, 1.0)

    def get_config(self):
        return {"peak": self.peak, "updates": self.updates, "fraction": self.fraction}


def adam(cfg: TrainConfig, learning_rate: float, updates: int) -> keras.optimizers.Optimizer:
    """Adam for one player that makes `updates` updates in the run (needed by train.lr_decay only)."""
    if cfg.lr_decay:
        learning_rate = DecayToZero(learning_rate, updates, cfg.lr_decay)
    optimizer = keras.optimizers.Adam(learning_rate, beta_1=cfg.beta_1, beta_2=cfg.beta_2)
    if keras.config.dtype_policy().name == "mixed_float16":  # bfloat16 needs no scaling
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer
