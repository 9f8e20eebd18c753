"""The training loop: one compiled function runs `steps_per_call` GAN steps back to back.

Speed comes from how it is compiled, not from the loop: the training set stays resident as
a uint8 tensor, each step gathers its batch by index, noise is drawn with stateless RNG keyed
by the step, and per-step metrics stay on the device until the caller fetches a chunk.
Because data order and noise are pure functions of (seed, step), a checkpoint only needs the
models, the optimizers and the step to resume bit-for-bit on the same path.

Under a tf.distribute strategy each step runs in `strategy.run`: replica r of R takes rows
[r*B/R, (r+1)*B/R) of the global batch B and of the global noise draw, so the replicas together
see exactly what one device would; the optimizers sum the replicas' gradients of losses that
were averaged over the global batch. With one device the strategy is TensorFlow's default one,
whose `run` just calls the step.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import tensorflow as tf

from ..config import TrainConfig
from ..errors import ConfigError
from .losses import keep_top_k, r1_r2_penalty
from .models import GAN
from .optimizers import adam

METRIC_NAMES = ("g_loss", "d_loss", "d_acc_real", "d_acc_fake")


# Separate RNG streams so that e.g. changing d_steps does not shift G's noise.
_STREAM_SHUFFLE, _STREAM_D_NOISE, _STREAM_G_NOISE, _STREAM_GP = range(4)


def steps_per_epoch(cfg: TrainConfig, n_images: int) -> int:
    """Steps in one pass over n images (the pass ends where a whole step's batches no longer fit)."""
    return n_images // cfg.batch_size // cfg.d_steps


def epoch_order(seed: int, epoch: int, n: int) -> tf.Tensor:
    """The seeded permutation of the training set for one epoch."""
    keys = tf.random.stateless_uniform([n], seed=[seed * 8 + _STREAM_SHUFFLE, epoch])
    return tf.argsort(keys)


@dataclass
class Trainer:
    gan: GAN
    loss: object
    cfg: TrainConfig
    seed: int
    latent_dim: int
    jit_compile: bool
    strategy: tf.distribute.Strategy = None  # None: the default (one device); build `gan` in its scope
    total_steps: int | None = None  # the run's length, which train.lr_decay's schedule needs

    def __post_init__(self):
        self.strategy = self.strategy or tf.distribute.get_strategy()
        if self.cfg.batch_size % self.strategy.num_replicas_in_sync:
            raise ConfigError(
                f"train.batch_size: got {self.cfg.batch_size}, expected a multiple of the "
                f"{self.strategy.num_replicas_in_sync} replicas (it is the global batch)"
            )
        if self.cfg.lr_decay and not self.total_steps:
            raise ValueError("train.lr_decay needs the run's total_steps")
        with self.strategy.scope():
            self.g_optimizer = adam(self.cfg, self.cfg.g_learning_rate, updates=self.total_steps or 0)
            self.d_optimizer = adam(
                self.cfg, self.cfg.d_learning_rate, updates=(self.total_steps or 0) * self.cfg.d_steps
            )
            # Optimizer slots must exist before tracing into a while loop / XLA cluster.
            self.g_optimizer.build(self.gan.generator.trainable_variables)
            self.d_optimizer.build(self.gan.discriminator.trainable_variables)
            # one moving average of G's weights per train.ema decay; they never feed back into training
            self.averages = []
            for _ in self.cfg.ema_decays:
                average = keras.models.clone_model(self.gan.generator)
                average.set_weights(self.gan.generator.get_weights())
                self.averages.append(average)
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self.checkpoint = tf.train.Checkpoint(
            generator=self.gan.generator,
            discriminator=self.gan.discriminator,
            g_optimizer=self.g_optimizer,
            d_optimizer=self.d_optimizer,
            step=self.step,
            averages=self.averages,
        )
        self._compiled = None
        self._finite = None

    @property
    def ema_generator(self) -> keras.Model | None:
        """The published moving average of G's weights: the first decay's, until publish_best_average."""
        return self.averages[0] if self.averages else None

    @property
    def inference_generator(self) -> keras.Model:
        """The generator to sample from: the moving average of G's weights when enabled."""
        return self.ema_generator if self.ema_generator is not None else self.gan.generator

    def publish_best_average(self, fid) -> dict[float, float]:
        """Score every average with `fid` (a model -> FID function) and give the published one the
        weights of the lowest; returns each decay's score. The scores see the run's end only: they
        choose a decay for this run, which is what several averages kept at once are for."""
        scores = {decay: fid(average) for decay, average in zip(self.cfg.ema_decays, self.averages)}
        best = min(scores, key=scores.get)
        self.averages[0].set_weights(self.averages[self.cfg.ema_decays.index(best)].get_weights())
        return scores

    def _seed(self, stream: int, counter):
        return tf.stack([tf.constant(self.seed * 8 + stream, tf.int64), tf.cast(counter, tf.int64)])

    def _train_step(self, images, labels, order):
        """One step on this replica's share of the global batch; returns its share of the metrics
        (summed over replicas they are the global batch's)."""
        cfg, gan, batch = self.cfg, self.gan, self.cfg.batch_size
        replicas = self.strategy.num_replicas_in_sync
        local = batch // replicas
        replica = tf.cast(tf.distribute.get_replica_context().replica_id_in_sync_group, tf.int64)
        share = slice(None) if replicas == 1 else slice(replica * local, (replica + 1) * local)
        steps_per_epoch = tf.shape(order, out_type=tf.int64)[0] // batch // cfg.d_steps
        d_losses, acc_real, acc_fake = [], [], []
        for d in range(cfg.d_steps):
            batch_index = self.step * cfg.d_steps + d
            start = ((self.step % steps_per_epoch) * cfg.d_steps + d) * batch + replica * local
            idx = tf.gather(order, start + tf.range(local, dtype=tf.int64))  # static shape for XLA
            real = tf.cast(tf.gather(images, idx), tf.float32)[..., None] / 127.5 - 1.0
            y = tf.gather(labels, idx)
            z = tf.random.stateless_normal(
                [batch, self.latent_dim], seed=self._seed(_STREAM_D_NOISE, batch_index)
            )[share]
            fake = gan.generate(z, y, training=True)
            with tf.GradientTape() as tape:
                real_logits = gan.criticize(real, y)
                fake_logits = gan.criticize(fake, y)
                per_example = (
                    self.loss.d_loss(real_logits, fake_logits)
                    + self.loss.d_regularizer(
                        lambda x: gan.criticize(x, y),  # noqa: B023 (called within this iteration)
                        real,
                        fake,
                        self._seed(_STREAM_GP, batch_index * replicas + replica),
                    )
                    + self._lazy_penalty(real, fake, y)
                )
                d_loss = tf.nn.compute_average_loss(per_example, global_batch_size=batch)
                scaled = self.d_optimizer.scale_loss(d_loss)  # identity unless float16 loss scaling
            d_vars = gan.discriminator.trainable_variables
            self.d_optimizer.apply_gradients(zip(tape.gradient(scaled, d_vars), d_vars))
            d_losses.append(d_loss)
            acc_real.append(tf.reduce_sum(tf.cast(real_logits > 0, tf.float32)) / batch)
            acc_fake.append(tf.reduce_sum(tf.cast(fake_logits < 0, tf.float32)) / batch)

        z = tf.random.stateless_normal([batch, self.latent_dim], seed=self._seed(_STREAM_G_NOISE, self.step))[
            share
        ]
        with tf.GradientTape() as tape:
            fake_logits = gan.criticize(gan.generate(z, y, training=True), y)
            # the relativistic loss pairs each fake with a real image: the last D update's, as D saw
            # it before that update (no second pass of D over them)
            per_example = self.loss.g_loss(fake_logits, tf.stop_gradient(real_logits))
            if cfg.top_k < 1:
                keep = max(1, round(cfg.top_k * local))
                per_example = keep_top_k(per_example, fake_logits, keep)
            g_loss = tf.nn.compute_average_loss(
                per_example, global_batch_size=batch if cfg.top_k == 1 else keep * replicas
            )
            scaled = self.g_optimizer.scale_loss(g_loss)
        g_vars = gan.generator.trainable_variables
        self.g_optimizer.apply_gradients(zip(tape.gradient(scaled, g_vars), g_vars))
        return tf.stack(
            [
                g_loss,
                tf.add_n(d_losses) / cfg.d_steps,
                tf.add_n(acc_real) / cfg.d_steps,
                tf.add_n(acc_fake) / cfg.d_steps,
            ]
        )

    def _lazy_penalty(self, real, fake, labels):
        """train.r1_r2's penalty every train.penalty_every steps, times that many (lazy
        regularisation, Karras et al. 2020: the same strength at a fraction of the cost); else zero."""
        if not self.cfg.r1_r2:
            return tf.zeros([tf.shape(real)[0]])
        every = self.cfg.penalty_every
        doubled = tf.concat([labels, labels], axis=0)
        return tf.cond(
            self.step % every == 0,
            lambda: (
                every * r1_r2_penalty(lambda x: self.gan.criticize(x, doubled), real, fake, self.cfg.r1_r2)
            ),
            lambda: tf.zeros([tf.shape(real)[0]]),
        )

    def _after_step(self):
        """Cross-replica bookkeeping: the weight averages and the step counter."""
        step = tf.cast(self.step, tf.float32)
        for decay, average in zip(self.cfg.ema_decays, self.averages):
            # the warm-up is tf.train.ExponentialMovingAverage's num_updates rule: early weights fade fast
            if self.cfg.ema_warmup:
                decay = tf.minimum(decay, (1.0 + step) / (10.0 + step))
            for mean, current in zip(average.weights, self.gan.generator.weights):
                mean.assign(decay * mean + (1.0 - decay) * current)
        self.step.assign_add(1)

    def _steps_function(self):
        """The compiled chunk, traced once per run: the chunk length is a tensor and the metrics go
        into a buffer of steps_per_call rows (XLA needs static shapes), so the chunks cut short by
        epoch ends and event steps reuse it instead of tracing a graph per distinct length."""
        if self._compiled is None:
            capacity = self.cfg.steps_per_call

            @tf.function(jit_compile=self.jit_compile)
            def run(n, images, labels, order):
                history = tf.TensorArray(tf.float32, size=capacity, element_shape=[len(METRIC_NAMES)])
                for i in tf.range(n):
                    shares = self.strategy.run(self._train_step, args=(images, labels, order))
                    history = history.write(
                        i, self.strategy.reduce(tf.distribute.ReduceOp.SUM, shares, axis=None)
                    )
                    self._after_step()
                return history.stack()

            self._compiled = run
        return self._compiled

    def run_steps(self, n: int, images, labels, order) -> tf.Tensor:
        """Run n <= train.steps_per_call steps (not crossing an epoch boundary); returns (n, 4)
        metrics, still on device."""
        if not 0 < n <= self.cfg.steps_per_call:
            raise ValueError(
                f"a chunk of {n} steps: expected 1 to train.steps_per_call ({self.cfg.steps_per_call})"
            )
        return self._steps_function()(tf.constant(n, tf.int32), images, labels, order)[:n]

    def steps_per_epoch(self, n_images: int) -> int:
        return steps_per_epoch(self.cfg, n_images)

    def non_finite_variables(self) -> list[str]:
        """The names of the run's float variables (G, D, the weight average, the optimizers'
        slots: all a checkpoint holds) that hold a NaN or an infinity."""
        if self._finite is None:
            models = [self.gan.generator, self.gan.discriminator, self.g_optimizer, self.d_optimizer]
            variables = [
                v for m in models + self.averages for v in m.variables if tf.as_dtype(v.dtype).is_floating
            ]
            self._finite = (
                tf.function(lambda: tf.stack([tf.reduce_all(tf.math.is_finite(v)) for v in variables])),
                [v.path for v in variables],
            )
        check, names = self._finite
        return [name for name, finite in zip(names, check().numpy()) if not finite]
