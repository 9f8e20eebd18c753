"""evaluate's refusals: it scores only samples of the generator it records them for, and n of them."""

import numpy as np
import pytest

from fashiongan.errors import MissingInput
from fashiongan.io import file_digest
from fashiongan.paths import GENERATOR, SAMPLES
from fashiongan.tracking.evaluation import evaluation_identity


@pytest.fixture
def drawn(tmp_path, monkeypatch):
    """A generator file and what sample drew from it (5 images, latent seed 3), in a fresh working directory."""
    monkeypatch.chdir(tmp_path)
    GENERATOR.parent.mkdir(parents=True)
    GENERATOR.write_bytes(b"a trained generator")
    return {"images": np.zeros((5, 28, 28), np.uint8), "generator_sha256": file_digest(GENERATOR), "seed": 3}


def test_an_evaluation_is_named_by_its_ruler_n_samples_generator_and_code(drawn):
    identity = evaluation_identity(drawn, 4, "ruler-a", "evaluate")
    assert {k: identity[k] for k in ("ruler", "evaluate.n", "sample.n", "sample.seed")} == {
        "ruler": "ruler-a",
        "evaluate.n": 4,
        "sample.n": 5,
        "sample.seed": 3,
    }
    assert identity["generator_sha256"] == file_digest(GENERATOR) and len(identity["evaluate_code"]) == 16


def test_samples_of_another_generator_are_refused(drawn):
    GENERATOR.write_bytes(b"trained again")  # `fashiongan train` by hand, then `fashiongan evaluate`
    with pytest.raises(
        MissingInput, match=rf"^{SAMPLES}: drawn from generator sha256 \w{{12}}, not {GENERATOR}"
    ):
        evaluation_identity(drawn, 4, "ruler-a", "evaluate")
    unnamed = {key: value for key, value in drawn.items() if key != "generator_sha256"}  # an older sample's
    with pytest.raises(MissingInput, match="drawn from a generator it does not name"):
        evaluation_identity(unnamed, 4, "ruler-a", "evaluate")


def test_fewer_samples_than_n_are_refused(drawn):
    with pytest.raises(MissingInput, match=rf"^{SAMPLES}: holds 5 images, but evaluate.n is 6: set sample.n"):
        evaluation_identity(drawn, 6, "ruler-a", "evaluate")
