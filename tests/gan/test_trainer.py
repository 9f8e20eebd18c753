import keras
import numpy as np
import pytest
import tensorflow as tf

from fashiongan.config import ModelConfig
from fashiongan.errors import Diverged
from fashiongan.gan import losses
from fashiongan.gan import trainer as T
from fashiongan.gan.build import build_trainer
from fashiongan.gan.loop import fit
from fashiongan.gan.optimizers import DecayToZero


def small_trainer(cfg, arch="mlp", loss="bce", conditional=False, spectral_norm=False, **train_overrides):
    keras.utils.set_random_seed(0)
    model = ModelConfig(
        arch=arch, latent_dim=8, conditional=conditional, spectral_norm=spectral_norm, clusters=0
    )
    train = cfg.train.model_copy(
        update={"batch_size": 16, "steps_per_call": 4, "loss": loss, **train_overrides}
    )
    return build_trainer(cfg.model_copy(update={"seed": 7, "model": model, "train": train}), total_steps=None)


@pytest.fixture(scope="module")
def tiny_data():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (64, 28, 28), dtype=np.uint8), rng.integers(0, 10, 64).astype(np.uint8)


def weights(model):
    return [w.copy() for w in model.get_weights()]


@pytest.mark.parametrize(
    "arch, loss, conditional, d_steps, spectral_norm",
    [
        ("mlp", "bce", False, 1, False),
        ("mlp", "hinge", True, 1, True),
        ("dcgan", "wgan-gp", False, 2, False),
        ("dcgan", "bce", True, 1, False),
        ("dcgan", "hinge", True, 1, True),
    ],
)
def test_steps_update_both_models_and_report_finite_metrics(
    cfg, tiny_data, arch, loss, conditional, d_steps, spectral_norm
):
    tr = small_trainer(cfg, arch, loss, conditional, spectral_norm, d_steps=d_steps)
    g0, d0 = weights(tr.gan.generator), weights(tr.gan.discriminator)
    order = T.epoch_order(7, 0, 64)
    history = tr.run_steps(
        2, tf.constant(tiny_data[0]), tf.constant(tiny_data[1].astype(np.int32)), order
    ).numpy()
    assert history.shape == (2, len(T.METRIC_NAMES)) and np.isfinite(history).all()
    assert int(tr.step.numpy()) == 2
    assert any(not np.allclose(a, b) for a, b in zip(g0, weights(tr.gan.generator)))
    assert any(not np.allclose(a, b) for a, b in zip(d0, weights(tr.gan.discriminator)))
    hits = (
        history[:, 2:] * 16 * d_steps
    )  # D's accuracies: images of each batch of 16 it got right, over its steps
    np.testing.assert_array_equal(hits, np.round(hits))


def test_rpgan_with_lazy_r1_r2_and_top_k_trains_and_the_penalty_moves_d(cfg, tiny_data):
    data = tf.constant(tiny_data[0]), tf.constant(tiny_data[1].astype(np.int32)), T.epoch_order(7, 0, 64)
    options = {"top_k": 0.5, "penalty_every": 2}
    penalised = small_trainer(cfg, "dcgan", "rpgan", True, True, r1_r2=1.0, **options)
    plain = small_trainer(cfg, "dcgan", "rpgan", True, True, r1_r2=0.0, **options)
    assert np.isfinite(penalised.run_steps(3, *data).numpy()).all()
    plain.run_steps(3, *data)
    assert any(
        not np.allclose(a, b)
        for a, b in zip(weights(penalised.gan.discriminator), weights(plain.gan.discriminator))
    )


def test_the_lazy_penalty_comes_every_nth_step_scaled_by_n(cfg):
    tr = small_trainer(cfg, r1_r2=0.1, penalty_every=4)
    real, fake = tf.random.normal([16, 28, 28, 1]), tf.random.normal([16, 28, 28, 1])
    labels = tf.zeros([16], tf.int32)
    tr.step.assign(8)
    expected = 4 * losses.r1_r2_penalty(lambda x: tr.gan.criticize(x, None), real, fake, 0.1)
    np.testing.assert_allclose(tr._lazy_penalty(real, fake, labels), expected, rtol=1e-5)
    assert float(tf.reduce_min(expected)) > 0
    tr.step.assign(9)
    np.testing.assert_array_equal(tr._lazy_penalty(real, fake, labels), np.zeros(16))


def test_ema_generator_lags_the_generator(cfg, tiny_data):
    tr = small_trainer(cfg, ema=0.9)
    fit(tr, tiny_data[0], tiny_data[1], 4, [], lambda *a: None)
    g, ema = tr.gan.generator.get_weights()[0], tr.ema_generator.get_weights()[0]
    assert not np.allclose(g, ema)
    assert tr.inference_generator is tr.ema_generator


def test_epoch_order_is_a_seeded_permutation():
    a, b = T.epoch_order(1, 0, 100).numpy(), T.epoch_order(1, 0, 100).numpy()
    np.testing.assert_array_equal(a, b)
    assert sorted(a.tolist()) == list(range(100))
    assert not np.array_equal(a, T.epoch_order(1, 1, 100).numpy())


@pytest.mark.slow
def test_fit_calls_events_and_logs_every_step(cfg, tiny_data):
    tr = small_trainer(cfg, log_every=3)
    logged, events = [], []
    # 64 images / 16 = 4 steps per epoch: 10 steps cross two epoch boundaries.
    fit(
        tr,
        tiny_data[0],
        tiny_data[1],
        10,
        [(5, events.append)],
        lambda first, rows: logged.append((first, len(rows))),
    )
    assert events == [5, 10]
    assert sum(n for _, n in logged) == 10
    assert [first for first, _ in logged] == sorted(first for first, _ in logged)
    assert logged[0][0] == 0


@pytest.mark.slow
def test_same_seed_same_weights_and_resume_is_exact(cfg, tiny_data, tmp_path):
    """An interrupted run restored from a checkpoint ends where an uninterrupted one does."""
    straight = small_trainer(cfg)
    fit(straight, tiny_data[0], tiny_data[1], 10, [], lambda *a: None)

    first = small_trainer(cfg)
    fit(first, tiny_data[0], tiny_data[1], 6, [], lambda *a: None)
    path = first.checkpoint.save(str(tmp_path / "ckpt"))

    resumed = small_trainer(cfg)
    resumed.checkpoint.restore(path).assert_existing_objects_matched()
    assert int(resumed.step.numpy()) == 6
    fit(resumed, tiny_data[0], tiny_data[1], 10, [], lambda *a: None)
    for a, b in zip(weights(straight.gan.generator), weights(resumed.gan.generator)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    for a, b in zip(weights(straight.ema_generator), weights(resumed.ema_generator)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_decay_to_zero_holds_the_peak_then_falls_linearly_to_zero():
    schedule = DecayToZero(1e-3, updates=100, fraction=0.25)
    rates = [float(schedule(step)) for step in (0, 74, 75, 80, 90, 99, 100, 120)]
    np.testing.assert_allclose(
        rates, [1e-3, 1e-3, 1e-3, 0.8e-3, 0.4e-3, 0.04e-3, 0.0, 0.0], rtol=1e-5, atol=1e-12
    )


def test_lr_decay_reaches_both_optimizers_over_the_run(cfg, tiny_data):
    with pytest.raises(ValueError, match="total_steps"):
        small_trainer(cfg, lr_decay=0.5)
    tr = small_trainer(cfg, d_steps=2, lr_g=1e-3, lr_d=2e-3)
    tr = T.Trainer(tr.gan, tr.loss, tr.cfg.model_copy(update={"lr_decay": 0.5}), 7, 8, False, total_steps=2)
    fit(tr, tiny_data[0], tiny_data[1], 1, [], lambda *a: None)
    # after 1 of 2 steps (G: 1 of 2 updates, D: 2 of 4) both stand where their decay over the last half starts
    assert float(tr.g_optimizer.learning_rate) == pytest.approx(1e-3)
    assert float(tr.d_optimizer.learning_rate) == pytest.approx(2e-3)
    fit(tr, tiny_data[0], tiny_data[1], 2, [], lambda *a: None)
    assert float(tr.g_optimizer.learning_rate) == 0.0 and float(tr.d_optimizer.learning_rate) == 0.0


@pytest.mark.parametrize("warmup", [False, True])
def test_ema_warmup_lets_the_first_steps_move_the_average(cfg, tiny_data, warmup):
    tr = small_trainer(cfg, ema=0.999, ema_warmup=warmup)
    before = weights(tr.gan.generator)
    fit(tr, tiny_data[0], tiny_data[1], 1, [], lambda *a: None)
    after, average = weights(tr.gan.generator), weights(tr.ema_generator)
    decay = 0.1 if warmup else 0.999  # (1 + 0) / (10 + 0) at the first step
    for b, a, m in zip(before, after, average):
        np.testing.assert_allclose(m, decay * b + (1 - decay) * a, rtol=1e-4, atol=1e-6)


def test_several_averages_follow_their_decays_resume_and_publish_the_lowest_scoring(cfg, tiny_data, tmp_path):
    tr = small_trainer(cfg, ema=[0.9, 0.5, 0.99], ema_warmup=False)
    before = weights(tr.gan.generator)
    fit(tr, tiny_data[0], tiny_data[1], 1, [], lambda *a: None)
    after = weights(tr.gan.generator)
    assert tr.inference_generator is tr.averages[0] and len(tr.averages) == 3
    for decay, average in zip((0.9, 0.5, 0.99), tr.averages):
        for b, a, m in zip(before, after, weights(average)):
            np.testing.assert_allclose(m, decay * b + (1 - decay) * a, rtol=1e-4, atol=1e-6)
    path = tr.checkpoint.save(str(tmp_path / "ckpt"))
    restored = small_trainer(cfg, ema=[0.9, 0.5, 0.99], ema_warmup=False)
    restored.checkpoint.restore(path).assert_existing_objects_matched()
    for kept, back in zip(tr.averages, restored.averages):
        for a, b in zip(weights(kept), weights(back)):
            np.testing.assert_array_equal(a, b)

    lowest = weights(tr.averages[1])
    fake_fids = {id(tr.averages[0]): 3.0, id(tr.averages[1]): 1.0, id(tr.averages[2]): 2.0}
    assert tr.publish_best_average(lambda model: fake_fids[id(model)]) == {0.9: 3.0, 0.5: 1.0, 0.99: 2.0}
    for a, b in zip(lowest, weights(tr.inference_generator)):
        np.testing.assert_array_equal(a, b)


class NanFromStep:
    """BCE whose D loss turns NaN at training step `step` (1-based) and stays so: a run that
    diverges in the middle of a compiled chunk, between the steps where losses are fetched."""

    def __init__(self, step):
        self.inner, self.step, self.calls = losses.make_loss("bce", 10.0), step, tf.Variable(0)

    def d_loss(self, real_logits, fake_logits):
        self.calls.assign_add(1)
        loss = self.inner.d_loss(real_logits, fake_logits)
        return loss * tf.where(
            self.calls >= self.step, np.nan, 1.0
        )  # (tf.where of two losses: NaN gradients)

    def g_loss(self, fake_logits, real_logits=None):
        return self.inner.g_loss(fake_logits, real_logits)

    def d_regularizer(self, *args):
        return self.inner.d_regularizer(*args)


def finite_weights(tr):
    models_ = (tr.gan.generator, tr.gan.discriminator, tr.ema_generator)
    return all(np.isfinite(v).all() for m in models_ for v in m.get_weights())


def test_no_event_sees_a_diverged_model_and_the_error_names_the_first_bad_step(cfg, tiny_data):
    """Samples, FIDs and checkpoints fire at their own multiples, not where losses are fetched
    (log_every): each still sees finite losses and weights, so no checkpoint of NaNs is written."""
    tr = small_trainer(cfg, ema=0.9, log_every=1000)
    tr.loss = NanFromStep(7)
    seen = []
    with pytest.raises(Diverged, match=r"^non-finite loss at step 7: g_loss=.*d_loss=nan"):
        fit(
            tr,
            tiny_data[0],
            tiny_data[1],
            12,
            [(4, lambda step: seen.append((step, finite_weights(tr))))],
            lambda *a: None,
        )
    assert seen == [(4, True)]  # step 8's events never ran


def test_non_finite_weights_with_finite_losses_stop_before_the_next_event(cfg, tiny_data):
    """The weight average takes no part in the losses: a non-finite one is caught by the weights check."""
    tr = small_trainer(cfg, ema=0.9, log_every=1000)
    seen = []

    def event(step):
        seen.append(step)
        if step == 4:
            tr.ema_generator.weights[0].assign(np.full(tr.ema_generator.weights[0].shape, np.inf, np.float32))

    with pytest.raises(
        Diverged, match=r"^non-finite weights after step 8 \(every loss up to it was finite\)"
    ):
        fit(tr, tiny_data[0], tiny_data[1], 12, [(4, event)], lambda *a: None)
    assert seen == [4]
