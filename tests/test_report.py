"""report.py: the comparison page from experiments built here, opened in a real headless Chromium."""

import io

import numpy as np
from browser import rendered
from PIL import Image

from fashiongan import report


def png(seed: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (60, 60), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def experiments():
    base = {"train.learning_rate": 0.001, "train.epochs": 15, "seed": 42}
    metrics = {"fid": 9.8, "fid_real": 0.59, "kid": 1.9, "kid_real": -0.07, "recall": 0.67, "recall_real": 0.83}
    return [
        report.Experiment("workspace", base, metrics, png(0), [(64_000.0, 100.0), (128_000.0, 50.0)]),
        report.Experiment("exp-slow", base | {"train.learning_rate": 0.0002}, metrics | {"fid": 26.3}, png(1),
                          [(64_000.0, 150.0)]),
        report.Experiment("exp-failed", base | {"train.epochs": 1}, {}, None, []),
    ]


def test_the_table_shows_only_the_params_that_differ_best_fid_first():
    page = report.comparison_html(experiments(), "DVC experiments")
    assert report.differing_params(experiments()) == ["train.epochs", "train.learning_rate"]
    assert "<th>seed</th>" not in page
    assert page.index("workspace") < page.index("exp-slow") < page.index("exp-failed")
    assert "9.80 <span" in page and "(0.59)" in page  # each metric beside its real-data reference
    assert "Heusel" in page and "Bińkowski" in page and "Kynkäänniemi" not in page  # legend: shown metrics only


def test_fid_curves_are_read_as_images_seen():
    assert report.fid_curve("step,fid,seconds\n100,50.5,3.0\n200,20.0,6.1\n", 64) == [(6400.0, 50.5),
                                                                                     (12800.0, 20.0)]


def test_chromium_renders_every_image_and_one_row_per_experiment_with_no_network(tmp_path):
    page = tmp_path / "index.html"
    page.write_text(report.render(report.comparison_html(experiments(), "DVC experiments"), ""))
    shown = rendered(page)
    assert shown["rows"] == ["workspace", "exp-slow", "exp-failed"]
    assert len(shown["images"]) == 3 and all(image["width"] > 0 for image in shown["images"]), shown["images"]
    assert shown["requests"] == []


def test_a_broken_image_is_seen_as_one(tmp_path):
    page = tmp_path / "broken.html"
    page.write_text('<img alt="broken" src="data:image/png;base64,iVBORw0KGgo="><img src="https://example.com/a.png">')
    assert [image["width"] for image in rendered(page)["images"]] == [0, 0]
