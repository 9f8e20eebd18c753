"""Generators and discriminators, one pair of layer stacks per architecture.

Conditioning is the same for every architecture: G gets a label embedding concatenated to z,
D gets a projection term (Miyato & Koyama 2018) on its last hidden features. So an
architecture is just two functions from a tensor to a tensor, and the trainer sees a `GAN`.
The labels are the classes (`model.conditional`) or, for an unconditional model with
`model.clusters`, cluster ids of the training images (see conditioning.py).

Batch normalisation is `synchronized` under a multi-replica strategy, so that the replicas
normalise with the global batch's statistics, as one device would. The outputs (G's image, D's
logit) are float32 under any mixed-precision policy, so losses and samples never see float16.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
from keras import layers, ops

from ..config import ModelConfig

IMAGE_SHAPE = (28, 28, 1)
CLUSTER_DRAWING = (
    "_by_cluster_share"  # the name suffix that marks a self-conditioned generator (drawing_clusters)
)


def mlp_generator_body(x, synchronized=False):
    """The Keras GAN tutorial's generator (Dense 256-512-1024, LeakyReLU 0.2, BN momentum 0.8)."""
    for units in (256, 512, 1024):
        x = layers.Dense(units)(x)
        x = layers.LeakyReLU(0.2)(x)
        x = layers.BatchNormalization(momentum=0.8, synchronized=synchronized)(x)
    x = layers.Dense(28 * 28, activation="tanh", dtype="float32")(x)
    return layers.Reshape(IMAGE_SHAPE, dtype="float32")(x)


def mlp_discriminator_body(x, normalize=lambda layer: layer):
    """The tutorial's discriminator up to its last hidden layer (Dense 512-256, LeakyReLU 0.2)."""
    x = layers.Flatten()(x)
    for units in (512, 256):
        x = normalize(layers.Dense(units))(x)
        x = layers.LeakyReLU(0.2)(x)
    return x


def dcgan_generator_body(x, synchronized=False):
    """Dense to 7x7x64, then two stride-2 transposed convolutions to 28x28; BN in G.

    Half the classic DCGAN width: on the 2-core CPU this trains 2.2x faster (20 vs 9.3 steps/s
    at batch 64), which buys more FID per CPU-minute than the wider net's capacity.
    """
    x = layers.Dense(7 * 7 * 64, use_bias=False)(x)
    x = layers.BatchNormalization(synchronized=synchronized)(x)
    x = layers.LeakyReLU(0.2)(x)
    x = layers.Reshape((7, 7, 64))(x)
    x = layers.Conv2DTranspose(32, 4, strides=2, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization(synchronized=synchronized)(x)
    x = layers.LeakyReLU(0.2)(x)
    return layers.Conv2DTranspose(1, 4, strides=2, padding="same", activation="tanh", dtype="float32")(x)


def dcgan_discriminator_body(x, normalize=lambda layer: layer):
    """Two stride-2 convolutions; no BN on the input layer (nor elsewhere: it fights GP/hinge)."""
    x = normalize(layers.Conv2D(32, 4, strides=2, padding="same"))(x)
    x = layers.LeakyReLU(0.2)(x)
    x = normalize(layers.Conv2D(64, 4, strides=2, padding="same"))(x)
    x = layers.LeakyReLU(0.2)(x)
    return layers.Flatten()(x)


ARCHITECTURES = {
    "mlp": (mlp_generator_body, mlp_discriminator_body),
    "dcgan": (dcgan_generator_body, dcgan_discriminator_body),
}


def label_count(cfg: ModelConfig, classes: int) -> int:
    """How many label values G and D take: the data's classes, the clusters, or none."""
    return classes if cfg.conditional else cfg.clusters


def build_generator(cfg: ModelConfig, synchronized: bool = False, classes: int = 10) -> keras.Model:
    body, _ = ARCHITECTURES[cfg.arch]
    z = keras.Input((cfg.latent_dim,), name="z")
    if not label_count(cfg, classes):
        return keras.Model(z, body(z, synchronized), name=f"{cfg.arch}_generator")
    label = keras.Input((), dtype="int32", name="label")
    embedded = layers.Embedding(label_count(cfg, classes), 50)(label)
    x = layers.Concatenate()([z, embedded])
    return keras.Model([z, label], body(x, synchronized), name=f"{cfg.arch}_cond_generator")


def build_discriminator(cfg: ModelConfig, classes: int = 10) -> keras.Model:
    """Returns logits (no sigmoid): the losses work on logits for numerical stability."""
    _, body = ARCHITECTURES[cfg.arch]
    # Miyato et al. 2018: every weight layer of D divided by its largest singular value
    normalize = layers.SpectralNormalization if cfg.spectral_norm else (lambda layer: layer)
    image = keras.Input(IMAGE_SHAPE, name="image")
    features = body(image, normalize)
    logit = normalize(layers.Dense(1, dtype="float32"))(features)
    if not label_count(cfg, classes):
        return keras.Model(image, logit, name=f"{cfg.arch}_discriminator")
    label = keras.Input((), dtype="int32", name="label")
    embedded = layers.Embedding(label_count(cfg, classes), features.shape[-1])(label)
    # <features, embedding> as a product and a sum, in float32: layers.Dot runs it as a batched matmul
    # of 1 x 3,136 rows, about 5% of the training step's op time on a CPU (docs/step_profile.md)
    projection = ops.sum(
        ops.multiply(ops.cast(features, "float32"), ops.cast(embedded, "float32")), axis=1, keepdims=True
    )
    return keras.Model(
        [image, label],
        layers.Add(dtype="float32")([logit, projection]),
        name=f"{cfg.arch}_cond_discriminator",
    )


@dataclass
class GAN:
    """The pair the trainer works on; hides whether labels take part."""

    generator: keras.Model
    discriminator: keras.Model
    conditional: bool

    def generate(self, z, labels, training=False):
        return self.generator([z, labels] if self.conditional else z, training=training)

    def criticize(self, images, labels, training=True):
        return self.discriminator([images, labels] if self.conditional else images, training=training)


def build_gan(cfg: ModelConfig, synchronized_batch_norm: bool = False, classes: int = 10) -> GAN:
    """G and D for `classes` label values (the data's classes; clusters come from cfg)."""
    return GAN(
        build_generator(cfg, synchronized_batch_norm, classes),
        build_discriminator(cfg, classes),
        bool(label_count(cfg, classes)),
    )


def drawing_clusters(generator: keras.Model, counts) -> keras.Model:
    """A cluster-conditioned G as an unconditional generator of z alone: z's first coordinate picks
    a cluster with the cluster's share of the training images (through the normal CDF), and is then
    mapped back to a standard normal within that share, so G still sees z ~ N(0, I) independent of
    the cluster. Built from keras.ops, it saves and loads as plain Keras (no custom code)."""
    shares = np.asarray(counts, np.float64) / np.sum(counts)
    upper = np.cumsum(shares)
    lower, shares, bounds = (np.float32(a) for a in (upper - shares, shares, upper[None, :-1]))
    root2 = 2.0**0.5
    z = keras.Input((generator.inputs[0].shape[-1],), name="z")
    u = 0.5 * (1.0 + ops.erf(z[:, 0] / root2))
    cluster = ops.sum(ops.cast(u[:, None] >= bounds, "int32"), axis=1)
    within = (u - ops.take(lower, cluster)) / ops.take(shares, cluster)
    first = root2 * ops.erfinv(2.0 * ops.clip(within, 1e-6, 1.0 - 1e-6) - 1.0)
    fresh = ops.concatenate([first[:, None], z[:, 1:]], axis=1)
    return keras.Model(z, generator([fresh, cluster]), name=f"{generator.name}{CLUSTER_DRAWING}")


def latents(latent_dim: int, n: int, seed: int) -> np.ndarray:
    """A fixed latent draw: the same seed gives the same z, for grids, FIDs and samples."""
    return np.random.default_rng(seed).standard_normal((n, latent_dim)).astype(np.float32)


def class_shares(train_labels: np.ndarray, classes: int) -> np.ndarray:
    """Each class's share of the training set: what a generator that learned the data draws."""
    return np.bincount(train_labels, minlength=classes) / len(train_labels)


def class_labels(n: int, shares) -> np.ndarray:
    """n labels in which every prefix holds each class in its share, to within about one image: label i
    goes to the class furthest behind its quota. So the first k samples of any draw hold the
    training set's class mix, whatever k a metric takes."""
    shares = np.asarray(shares, np.float64) / np.sum(shares)
    labels, counts = np.empty(n, np.int32), np.zeros(len(shares))
    for i in range(n):
        labels[i] = np.argmax(shares * (i + 1) - counts)
        counts[labels[i]] += 1
    return labels


def grid_latents(
    latent_dim: int, rows: int, cols: int, seed: int, classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """A fixed draw for an image grid with one class per row (row r: class r mod classes)."""
    labels = np.repeat(np.arange(rows) % max(classes, 1), cols).astype(np.int32)
    return latents(latent_dim, rows * cols, seed), labels


@dataclass(frozen=True)
class TrainedGenerator:
    """A trained generator as everything after training sees it: its latent size, whether it
    takes a class label, and images drawn in inference mode."""

    model: keras.Model

    @property
    def conditional(self) -> bool:
        return len(self.model.inputs) == 2

    @property
    def classes(self) -> int:
        """How many class labels a conditional generator takes (its embedding's rows); 0 otherwise."""
        if not self.conditional:
            return 0
        return next(layer.input_dim for layer in self.model.layers if isinstance(layer, layers.Embedding))

    @property
    def latent_dim(self) -> int:
        return int(self.model.inputs[0].shape[-1])

    def draw(self, z, labels=None, batch: int = 1000) -> np.ndarray:
        """Images in [-1, 1], (N, 28, 28, 1), in batches; `labels` are ignored by unconditional models."""
        if self.conditional and labels is None:
            raise ValueError("a conditional generator needs labels")
        out = [
            self.model(
                [z[i : i + batch], labels[i : i + batch]] if self.conditional else z[i : i + batch],
                training=False,
            )
            for i in range(0, len(z), batch)
        ]
        return np.concatenate([np.asarray(o) for o in out])

    @property
    def draws_clusters(self) -> bool:
        """A self-conditioned generator (drawing_clusters): z's first coordinate picks the cluster."""
        return self.model.name.endswith(CLUSTER_DRAWING)

    def truncate(self, z: np.ndarray, psi: float) -> np.ndarray:
        """z scaled toward its mean by psi (truncation), only where it is latent noise: the
        coordinate that picks a self-conditioned generator's cluster keeps its value, or psi < 1
        would favour the middle clusters and mix mode dropping into typicality."""
        truncated = psi * np.asarray(z, np.float32)
        if self.draws_clusters:
            truncated[:, 0] = z[:, 0]
        return truncated

    def sample(self, n: int, seed: int, shares=None) -> tuple[np.ndarray, np.ndarray]:
        """n images from the fixed latents of `seed` and their labels: classes drawn by `shares`
        (the training set's, models.class_shares; None: equal), every prefix in those shares."""
        labels = (
            class_labels(n, np.ones(self.classes) if shares is None else shares)
            if self.conditional
            else np.zeros(n, np.int32)
        )
        return self.draw(latents(self.latent_dim, n, seed), labels), labels
