"""GAN losses on discriminator logits. Each is a small object with `d_loss` and `g_loss`;
`d_regularizer` is a term added to D's loss (the gradient penalty for WGAN-GP, else zero).
`g_loss` also gets D's logits of the step's real images: only the relativistic loss reads them.
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

    def g_loss(self, fake_logits, real_logits=None):
        return tf.reshape(
            tf.nn.sigmoid_cross_entropy_with_logits(tf.ones_like(fake_logits), fake_logits), [-1]
        )


class Hinge(GANLoss):
    """Lim & Ye 2017 / Miyato et al. 2018."""

    def d_loss(self, real_logits, fake_logits):
        return tf.reshape(tf.nn.relu(1.0 - real_logits) + tf.nn.relu(1.0 + fake_logits), [-1])

    def g_loss(self, fake_logits, real_logits=None):
        return tf.reshape(-fake_logits, [-1])


class WassersteinGP(GANLoss):
    """Gulrajani et al. 2017: critic difference plus weight * (||grad D(x_hat)|| - 1)^2."""

    def __init__(self, gp_weight: float):
        self.gp_weight = gp_weight

    def d_loss(self, real_logits, fake_logits):
        return tf.reshape(fake_logits - real_logits, [-1])

    def g_loss(self, fake_logits, real_logits=None):
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


class RelativisticPairing(GANLoss):
    """RpGAN (Jolicoeur-Martineau 2019; R3GAN, Huang et al. 2024): each fake is judged against the
    real image it is paired with, -log sigmoid(D(x) - D(G(z))) for D and the reverse for G."""

    def d_loss(self, real_logits, fake_logits):
        return tf.reshape(tf.nn.softplus(fake_logits - real_logits), [-1])

    def g_loss(self, fake_logits, real_logits=None):
        return tf.reshape(tf.nn.softplus(real_logits - fake_logits), [-1])


def r1_r2_penalty(critic, real, fake, gamma: float):
    """gamma / 2 * (||grad D(real)||^2 + ||grad D(fake)||^2) per pair (R1 + R2: Mescheder et al.
    2018; R3GAN), with D's gradients taken at the images, in one pass over both halves."""
    both = tf.concat([real, fake], axis=0)
    with tf.GradientTape() as tape:
        tape.watch(both)
        scores = critic(both)
    grads = tape.gradient(scores, both)  # of their sum: each image only moves its own score
    squared = tf.reduce_sum(tf.square(tf.reshape(grads, [tf.shape(both)[0], -1])), axis=1)
    real_part, fake_part = tf.split(squared, 2)
    return 0.5 * gamma * (real_part + fake_part)


def keep_top_k(per_example, fake_logits, keep: int):
    """The per-example G losses of the `keep` fakes D scores highest (top-k training, Sinha et al.
    2020: the fakes D already finds worst say least about where G should go)."""
    return tf.gather(per_example, tf.math.top_k(tf.reshape(fake_logits, [-1]), keep).indices)


def make_loss(name: str, gp_weight: float = 10.0):
    if name == "bce":
        return NonSaturatingBCE()
    if name == "hinge":
        return Hinge()
    if name == "wgan-gp":
        return WassersteinGP(gp_weight)
    if name == "rpgan":
        return RelativisticPairing()
    raise ConfigError(f"train.loss: got {name!r}, expected one of: bce, hinge, wgan-gp, rpgan")
