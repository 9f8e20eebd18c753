import numpy as np
import pytest
import tensorflow as tf

from fashiongan.errors import ConfigError
from fashiongan.gan.losses import keep_top_k, make_loss, r1_r2_penalty


def test_bce_at_the_undecided_point():
    loss = make_loss("bce")
    zeros = tf.zeros([4, 1])
    np.testing.assert_allclose(loss.d_loss(zeros, zeros), [2 * np.log(2)] * 4, rtol=1e-6)
    np.testing.assert_allclose(loss.g_loss(zeros), [np.log(2)] * 4, rtol=1e-6)
    # Non-saturating: G's loss keeps a gradient where D is sure the fake is fake.
    assert float(tf.reduce_mean(loss.g_loss(tf.fill([1, 1], -10.0)))) == pytest.approx(10.0, rel=1e-3)


def test_hinge_values():
    loss = make_loss("hinge")
    real, fake = tf.constant([[2.0], [0.0]]), tf.constant([[-2.0], [0.5]])
    np.testing.assert_allclose(loss.d_loss(real, fake), [0.0, 1.0 + 1.5])
    np.testing.assert_allclose(loss.g_loss(fake), [2.0, -0.5])


def test_wgan_gp_penalty_is_zero_for_a_unit_gradient_critic():
    loss = make_loss("wgan-gp", gp_weight=10.0)
    real = tf.random.normal([8, 28, 28, 1])
    fake = tf.random.normal([8, 28, 28, 1])
    unit = tf.ones([28, 28, 1]) / 28.0  # ||w|| = 1

    def linear(x):
        return tf.reduce_sum(x * unit, axis=[1, 2, 3])[:, None]

    np.testing.assert_allclose(
        loss.d_regularizer(linear, real, fake, tf.constant([1, 2], tf.int64)), 0.0, atol=1e-4
    )
    penalty = loss.d_regularizer(lambda x: 3.0 * linear(x), real, fake, tf.constant([1, 2], tf.int64))
    np.testing.assert_allclose(penalty, 10.0 * (3.0 - 1.0) ** 2, rtol=1e-4)
    np.testing.assert_allclose(loss.d_loss(tf.constant([[1.0]]), tf.constant([[3.0]])), [2.0])


def test_relativistic_pairing_values():
    loss = make_loss("rpgan")
    real, fake = tf.constant([[2.0], [0.0]]), tf.constant([[0.0], [1.0]])
    np.testing.assert_allclose(loss.d_loss(real, fake), np.log1p(np.exp([-2.0, 1.0])), rtol=1e-6)
    np.testing.assert_allclose(loss.g_loss(fake, real), np.log1p(np.exp([2.0, -1.0])), rtol=1e-6)


def test_r1_r2_penalty_is_gamma_over_two_times_both_squared_gradient_norms():
    unit = tf.ones([28, 28, 1]) / 28.0  # ||w|| = 1

    def critic(x):
        return 3.0 * tf.reduce_sum(x * unit, axis=[1, 2, 3])[:, None]

    real, fake = tf.random.normal([4, 28, 28, 1]), tf.random.normal([4, 28, 28, 1])
    np.testing.assert_allclose(r1_r2_penalty(critic, real, fake, 0.1), [0.05 * (9.0 + 9.0)] * 4, rtol=1e-4)


def test_keep_top_k_keeps_the_fakes_d_scores_highest():
    per_example = tf.constant([10.0, 20.0, 30.0, 40.0])
    logits = tf.constant([[0.5], [-1.0], [2.0], [0.0]])
    assert sorted(keep_top_k(per_example, logits, 2).numpy()) == [10.0, 30.0]


def test_unknown_loss():
    with pytest.raises(ConfigError, match="train.loss"):
        make_loss("l1")
