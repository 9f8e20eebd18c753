"""ruler.py: the shipped Fashion-MNIST ruler is the file its card describes and measures, on this
machine, what its card says; a file that is not the card's is refused in one line."""

import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from fashiongan import params
from fashiongan.data.sources import FASHION_MNIST, load_arrays
from fashiongan.errors import ConfigError, ModelFileError
from fashiongan.evaluation import card, ruler
from fashiongan.io import file_digest, save_model

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / ruler.SHIPPED[FASHION_MNIST]
CARD = json.loads(ruler.card_path(SHIPPED).read_text())


def test_the_shipped_ruler_is_its_cards_file_small_and_without_optimizer_state():
    assert (
        file_digest(SHIPPED) == CARD["sha256"]
        and ruler.ruler_id(SHIPPED) == CARD["id"] == CARD["sha256"][:12]
    )
    assert SHIPPED.stat().st_size == CARD["bytes"] <= 2 * 1024 * 1024
    with zipfile.ZipFile(SHIPPED) as archive:
        assert not json.loads(archive.read("config.json")).get("compile_config")
    assert CARD["made_by"]["commit"] and not CARD["made_by"]["uncommitted_changes"]
    assert CARD["measured"]["test_accuracy"] >= 0.925 and CARD["measured"]["n"] == 10_000


def test_the_shipped_ruler_measures_its_cards_accuracy_floor_and_ceiling_here(real_data_dir):
    """Inference only, on the real data: CPU kernels differ in round-off, not in weights."""
    measured, problems = card.check(SHIPPED, load_arrays(Path(real_data_dir)))
    assert problems == [], problems
    for key in ("test_accuracy", "fid_real", "fid_noise"):
        assert card.agree(measured[key], CARD["measured"][key]), key


def test_a_file_that_is_not_its_cards_ruler_is_refused_in_one_line(tmp_path):
    copy = tmp_path / "rulers" / "fashion-mnist.keras"
    copy.parent.mkdir()
    shutil.copyfile(ruler.card_path(SHIPPED), ruler.card_path(copy))
    data = bytearray(SHIPPED.read_bytes())
    data[len(data) // 2] ^= 1  # one bit of one weight
    copy.write_bytes(bytes(data))
    with pytest.raises(ModelFileError) as refused:
        ruler.verified_card(copy)
    message = str(refused.value)
    assert "\n" not in message and str(copy) in message and CARD["sha256"][:12] in message
    assert "not the ruler the card describes" in message
    ruler.card_path(copy).unlink()
    with pytest.raises(ModelFileError, match="no readable ruler card"):
        ruler.verified_card(copy)


@pytest.mark.parametrize(
    "value, card_value, agrees",
    [
        (0.6351, 0.6347, True),
        (0.6353, 0.6347, False),
        (618.9, 618.567, True),
        (619.2, 618.567, False),
        (0.92551, 0.926, True),
        (0.9254, 0.926, False),
    ],
)
def test_agreement_is_to_three_significant_digits_of_the_card(value, card_value, agrees):
    assert card.agree(value, card_value) is agrees


def test_auto_takes_the_shipped_ruler_for_fashion_mnist_and_trains_one_for_other_data():
    assert ruler.named_file("auto", FASHION_MNIST) == ruler.SHIPPED[FASHION_MNIST]
    assert ruler.named_file("auto", "/data/kmnist") is None
    assert ruler.named_file("train", FASHION_MNIST) is None
    assert ruler.named_file("rulers/mine.keras", "/data/kmnist") == Path("rulers/mine.keras")


@pytest.mark.parametrize(
    "value, message",
    [
        ("inception", "classifier.ruler: got 'inception', expected auto, train, or rulers/<name>.keras"),
        (
            "/tmp/x.keras",
            "classifier.ruler: got '/tmp/x.keras', expected auto, train, or rulers/<name>.keras",
        ),
        ("rulers/absent.keras", "classifier.ruler: rulers/absent.keras: no such file"),
    ],
)
def test_classifier_ruler_names_a_ruler_file_in_rulers(raw_params, value, message):
    raw_params["classifier"]["ruler"] = value
    with pytest.raises(ConfigError) as refused:
        params.parse(raw_params, check_data=False)
    assert str(refused.value).startswith(message)


def test_a_trained_ruler_has_no_optimizer_state(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {
        "train_images": rng.integers(0, 256, (64, 28, 28), dtype=np.uint8),
        "train_labels": np.arange(64) % 3,
    }
    path = tmp_path / "r.keras"
    save_model(ruler.trained(arrays, 3, 1, 32, 1e-3), path)
    with zipfile.ZipFile(path) as archive:
        assert not json.loads(archive.read("config.json")).get("compile_config")


def test_the_classifier_stage_refuses_a_ruler_file_that_is_not_its_cards_and_writes_nothing(
    tmp_path, monkeypatch, capsys, raw_params
):
    import yaml

    from fashiongan import cli

    monkeypatch.chdir(tmp_path)
    (tmp_path / "rulers").mkdir()
    shutil.copyfile(ruler.card_path(SHIPPED), tmp_path / "rulers/fashion-mnist.json")
    data = bytearray(SHIPPED.read_bytes())
    data[-100] ^= 1
    (tmp_path / "rulers/fashion-mnist.keras").write_bytes(bytes(data))
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw_params))
    rng = np.random.default_rng(0)
    (tmp_path / "data/prepared").mkdir(parents=True)
    np.savez(
        tmp_path / "data/prepared/fashion_mnist.npz",
        train_images=rng.integers(0, 256, (20, 28, 28), np.uint8),
        train_labels=np.arange(20) % 10,
        test_images=rng.integers(0, 256, (10, 28, 28), np.uint8),
        test_labels=np.arange(10),
    )
    assert cli.main(["classifier"]) == 1
    line = capsys.readouterr().err.strip()
    assert line.startswith("fashiongan classifier: rulers/fashion-mnist.keras: sha256 ") and "\n" not in line
    assert not (tmp_path / "models").exists() and not (tmp_path / "data/features").exists()
