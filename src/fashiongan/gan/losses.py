"""GAN losses on discriminator logits. Each is a small object with `d_loss` and `g_loss`;
`d_regularizer` is a term added to D's loss (the gradient penalty for WGAN-GP, else zero).
Losses return per-example values: the caller averages them over the global batch.
"""

from __future__ import annotations

import tensorflow as tf

from ..errors import ConfigError


class GANLoss:
    def d_regularizer(self, critic, real, fake, seed):
        return tf.constant(0.0)


class NonSaturatingBCE(GANLoss):
    """Goodfellow et al. 2014: D minimises BCE, G maximises log D(G(z))."""

    def d_loss(self, real_logits, fake_logits):
        real = tf.nn.sigmoid_cross_entropy_with_logits(tf.ones_like(real_logits), real_logits)
        fake = tf.nn.sigmoid_cross_entropy_with_logits(tf.zeros_like(fake_logits), fake_logits)
        return tf.reshape(real + fake, [-1])

    def g_loss(self, fake_logits):
        return tf.reshape(
            tf.nn.sigmoid_cross_entropy_with_logits(tf.ones_like(fake_logits), fake_logits), [-1]
        )


class Hinge(GANLoss):
    """Lim & Ye 2017 / Miyato et al. 2018."""

    def d_loss(self, real_logits, fake_logits):
        return tf.reshape(tf.nn.relu(1.0 - real_logits) + tf.nn.relu(1.0 + fake_logits), [-1])

    def g_loss(self, fake_logits):
        return tf.reshape(-fake_logits, [-1])


class WassersteinGP(GANLoss):
    """Gulrajani et al. 2017: critic difference plus weight * (||grad D(x_hat)|| - 1)^2."""

    def __init__(self, gp_weight: float):
        self.gp_weight = gp_weight

    def d_loss(self, real_logits, fake_logits):
        return tf.reshape(fake_logits - real_logits, [-1])

    def g_loss(self, fake_logits):
        return tf.reshape(-fake_logits, [-1])

    def d_regularizer(self, critic, real, fake, seed):
        batch = tf.shape(real)[0]
        alpha = tf.random.stateless_uniform([batch, 1, 1, 1], seed=seed)
        mixed = real + alpha * (fake - real)
        with tf.GradientTape() as tape:
            tape.watch(mixed)
            scores = critic(mixed)
        grads = tf.reshape(tape.gradient(scores, mixed), [batch, -1])
        norm = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=1) + 1e-12)
        return self.gp_weight * tf.square(norm - 1.0)


def make_loss(name: str, gp_weight: float = 10.0):
    if name == "bce":
        return NonSaturatingBCE()
    if name == "hinge":
        return Hinge()
    if name == "wgan-gp":
        return WassersteinGP(gp_weight)
    raise ConfigError(f"train.loss: got {name!r}, expected one of: bce, hinge, wgan-gp")
