"""The one way to build a trainer from a config: G and D for model.arch (in the strategy's scope), the
loss train.loss names, whether XLA compiles its steps, and the trainer that runs them. The train stage,
the benches and the tests all build theirs here, so a new trainer option is one edit."""

from __future__ import annotations

from ..config import Config, TrainConfig
from .losses import make_loss
from .models import build_gan
from .trainer import Trainer


def use_xla(cfg: TrainConfig, arch: str, replicas: int = 1) -> bool:
    """XLA speeds up the MLP about 1.5x on CPU but makes convolutions about 10x slower there.
    A loop of `strategy.run` over several replicas is not one XLA cluster: off there."""
    import tensorflow as tf

    if replicas > 1:
        return False
    if cfg.jit_compile == "auto":
        return arch == "mlp" or bool(tf.config.list_physical_devices("GPU"))
    return bool(cfg.jit_compile)


def build_trainer(
    cfg: Config, total_steps: int | None, strategy=None, classes: int | None = None, build=build_gan
):
    """A Trainer of a new GAN for `cfg` (its seed, model and train sections), `total_steps` long (the rate
    schedule needs it; None only without train.lr_decay), on `strategy` (None: one device), for `classes`
    label values (default: data.class_names). `build` makes the GAN from the model config (a bench's
    variant)."""
    import tensorflow as tf

    strategy = strategy or tf.distribute.get_strategy()
    replicas = strategy.num_replicas_in_sync
    with strategy.scope():
        gan = build(
            cfg.model,
            synchronized_batch_norm=replicas > 1,
            classes=len(cfg.data.class_names) if classes is None else classes,
        )
    return Trainer(
        gan,
        make_loss(cfg.train.loss, cfg.train.gp_weight),
        cfg.train,
        cfg.seed,
        cfg.model.latent_dim,
        use_xla(cfg.train, cfg.model.arch, replicas),
        strategy,
        total_steps,
    )
