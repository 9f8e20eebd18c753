"""figures.py: slerp, and each figure from an untrained generator checked for shape and content."""

import numpy as np
import pytest
from PIL import Image

from fashiongan.config import ModelConfig
from fashiongan.evaluation import figures as explore  # what `fashiongan explore` draws
from fashiongan.evaluation.features import FeatureExtractor, build_classifier
from fashiongan.gan.models import TrainedGenerator, build_generator


def test_slerp_ends_at_both_ends_and_keeps_the_norm_of_equal_norm_ends():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(64), rng.standard_normal(64)
    b *= np.linalg.norm(a) / np.linalg.norm(b)
    path = explore.slerp(a, b, np.linspace(0, 1, 7))
    np.testing.assert_allclose(path[0], a, atol=1e-12)
    np.testing.assert_allclose(path[-1], b, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(path, axis=1), np.linalg.norm(a), rtol=1e-9)
    line_midpoint = np.linalg.norm((a + b) / 2)
    assert line_midpoint < np.linalg.norm(path[3])  # the straight line cuts inside the sphere
    np.testing.assert_allclose(explore.slerp(a, a, np.array([0.5]))[0], a)


def test_interpolation_latents_are_seeded_and_shaped():
    z = explore.interpolation_latents(16, rows=3, steps=5, seed=1)
    assert z.shape == (3, 5, 16) and z.dtype == np.float32
    np.testing.assert_array_equal(z, explore.interpolation_latents(16, 3, 5, 1))
    assert not np.allclose(z, explore.interpolation_latents(16, 3, 5, 2))


@pytest.fixture(scope="module")
def figures(tmp_path_factory):
    out = tmp_path_factory.mktemp("explore")
    generator = TrainedGenerator(
        build_generator(
            ModelConfig(arch="mlp", latent_dim=8, conditional=True, spectral_norm=False, clusters=0)
        )
    )
    test_features = np.random.default_rng(0).standard_normal((500, 128))
    table = explore.write_figures(
        generator,
        out,
        FeatureExtractor(build_classifier()),
        test_features,
        np.arange(500) % 10,
        n=200,
        class_names=[f"class {i}" for i in range(10)],
    )
    return out, table


def pixels(path):
    return np.asarray(Image.open(path).convert("L"), np.float64)


def test_each_figure_has_its_shape_and_is_not_blank(figures):
    out, _ = figures
    assert sorted(p.name for p in out.iterdir()) == [
        "class_morph.png",
        "interpolation.gif",
        "interpolation.png",
        "truncation.png",
    ]
    for name in ("class_morph.png", "interpolation.png", "truncation.png"):
        image = pixels(out / name)
        assert image.std() > 10, name  # neither blank nor one flat colour
    strip = Image.open(out / "interpolation.png")
    assert strip.width > strip.height  # 8 rows of 10 steps


def test_the_gif_animates_the_interpolation_forth_and_back(figures):
    out, _ = figures
    gif = Image.open(out / "interpolation.gif")
    assert gif.is_animated and gif.n_frames == 2 * 10 - 2
    frames = []
    for i in range(gif.n_frames):
        gif.seek(i)
        frames.append(np.asarray(gif.convert("L"), np.float64))
    assert all(f.std() > 10 for f in frames)
    assert np.abs(frames[0] - frames[9]).mean() > 1  # the images change along the path
    np.testing.assert_array_equal(frames[1], frames[-1])  # ...and come back


def test_the_truncation_table_holds_fid_and_recall_per_psi(figures):
    _, table = figures
    assert [row["truncation"] for row in table] == list(explore.TRUNCATIONS)
    assert all(row["fid"] > 0 and row["n"] == 200 for row in table)


def test_the_class_morph_starts_and_ends_on_the_classes_it_joins():
    generator = TrainedGenerator(
        build_generator(
            ModelConfig(arch="mlp", latent_dim=8, conditional=True, spectral_norm=False, clusters=0)
        )
    )
    morph = explore.class_morph(generator, steps=4, seed=3)
    assert morph.shape == (10, 4, 28, 28)
    z = np.repeat(np.random.default_rng(3).standard_normal((1, 8)).astype(np.float32), 10, axis=0)
    from fashiongan.data.images import to_uint8

    by_label = to_uint8(generator.draw(z, np.arange(10, dtype=np.int32))).reshape(10, 28, 28)
    assert np.abs(morph[:, 0].astype(int) - by_label).max() <= 1
    assert np.abs(morph[:, -1].astype(int) - np.roll(by_label, -1, axis=0)).max() <= 1
