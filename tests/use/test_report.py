"""report.py and ranking.py: the comparison page from experiments built here, opened in a real headless
Chromium."""

import io

import numpy as np
from browser import rendered
from PIL import Image

from fashiongan.use import ranking, report
from fashiongan.use.experiments import fid_curve


def png(seed: int) -> bytes:
    buffer = io.BytesIO()
    pixels = np.random.default_rng(seed).integers(0, 256, (60, 60), dtype=np.uint8)
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


RULER_A, RULER_B = "3fa9c01b22de", "77aa00bb11cc"
BASE = {"train.learning_rate": 0.001, "train.epochs": 15, "seed": 42}
METRICS = {"fid": 9.8, "fid_real": 0.59, "kid": 1.9, "kid_real": -0.07, "recall": 0.67, "recall_real": 0.83}


def page_of(experiments, first_ruler=RULER_A, source="DVC experiments") -> str:
    return report.render(report.comparison_section(experiments, source, first_ruler))


def experiments():
    return [
        ranking.Experiment(
            "workspace", BASE, METRICS, png(0), [(64_000.0, 100.0), (128_000.0, 50.0)], RULER_A
        ),
        ranking.Experiment(
            "exp-slow",
            BASE | {"train.learning_rate": 0.0002},
            METRICS | {"fid": 26.3},
            png(1),
            [(64_000.0, 150.0)],
            RULER_A,
        ),
        ranking.Experiment("exp-failed", BASE | {"train.epochs": 1}, {}, None, [], RULER_A),
    ]


def on_other_rulers():
    """Lower FIDs than ruler A's, on ruler B and on no recorded ruler: not to be ranked among A's."""
    return [
        ranking.Experiment(
            "exp-other-ruler",
            BASE | {"train.learning_rate": 0.003},
            METRICS | {"fid": 2.0},
            png(2),
            [(64_000.0, 80.0)],
            RULER_B,
        ),
        ranking.Experiment("exp-old", BASE | {"train.learning_rate": 0.005}, METRICS | {"fid": 1.0}),
    ]


def seeds_and_singles():
    """Seeds 1, 2, 3 of one recipe (FID 26, 28, 30: sigma 2) and two single-seed recipes, near and far."""
    return [
        ranking.Experiment(f"exp-s{seed}", BASE | {"seed": seed}, METRICS | {"fid": fid}, ruler=RULER_A)
        for seed, fid in ((1, 26.0), (2, 28.0), (3, 30.0))
    ] + [
        ranking.Experiment(
            "exp-near", BASE | {"train.learning_rate": 0.0005}, METRICS | {"fid": 29.5}, ruler=RULER_A
        ),
        ranking.Experiment(
            "exp-far", BASE | {"train.learning_rate": 0.003}, METRICS | {"fid": 35.0}, ruler=RULER_A
        ),
    ]


def test_the_table_shows_only_the_params_that_differ_best_fid_first():
    page = page_of(experiments())
    assert ranking.differing_params(experiments()) == ["train.epochs", "train.learning_rate"]
    assert "<th>seed</th>" not in page
    assert page.index("workspace") < page.index("exp-slow") < page.index("exp-failed")
    assert "9.80 <span" in page and "(0.59)" in page  # each metric beside its real-data reference
    # the legend explains the metrics shown, only them
    assert "Heusel" in page and "Bińkowski" in page and "Kynkäänniemi" not in page
    assert f"Measured with ruler {RULER_A} (see docs/ruler.md)" in page
    assert "Fashion-MNIST classifier" not in page


def test_seeds_of_one_recipe_are_one_row_of_mean_and_std_ranked_by_the_mean():
    assert ranking.differing_params(seeds_and_singles()) == ["train.learning_rate"]  # seed is no difference
    grouped = ranking.recipes(seeds_and_singles())
    assert [r.names for r in grouped] == [["exp-s1", "exp-s2", "exp-s3"], ["exp-near"], ["exp-far"]]
    assert grouped[0].text("fid", "{:.2f}") == "28.00 ± 2.00" and grouped[0].seeds_text == "3 (1, 2, 3)"
    assert grouped[1].text("fid", "{:.2f}") == "29.50"
    page = page_of(seeds_and_singles())
    assert "<td>28.00 ± 2.00 <span" in page and "<td>3 (1, 2, 3)</td>" in page and "<th>seed</th>" not in page


def test_failed_runs_and_repeats_of_a_seed_are_not_averaged_in():
    failed = ranking.Experiment("exp-s4-failed", BASE | {"seed": 4}, {}, ruler=RULER_A)
    repeat = ranking.Experiment("exp-s1-again", BASE | {"seed": 1}, METRICS | {"fid": 26.0}, ruler=RULER_A)
    grouped = ranking.recipes([*seeds_and_singles(), failed, repeat])
    assert grouped[0].names == ["exp-s1", "exp-s2", "exp-s3", "exp-s1-again"]
    assert grouped[0].values("fid") == [26, 28, 30]  # seed 1 counted once
    assert grouped[0].seeds_text == "3 (1, 2, 3)"
    assert grouped[-1].names == ["exp-s4-failed"] and grouped[-1].mean("fid") is None


def test_a_single_seed_within_the_seed_spread_of_the_best_is_marked_one_far_away_is_not():
    (table,) = ranking.ruler_tables(seeds_and_singles(), RULER_A)
    assert ranking.seed_spread(table.recipes) == 2.0
    assert [table.spread_cell(r) for r in table.recipes] == ["", "within seed spread of #1 (sigma 2.00)", ""]
    two_seeds = [
        ranking.Experiment(f"exp-t{seed}", BASE | {"seed": seed, "train.epochs": 5}, {"fid": fid})
        for seed, fid in ((1, 40.0), (2, 44.0))
    ]
    # two recipes of 3 and 2 seeds: their variances weighted by degrees of freedom
    pooled = ranking.recipes(seeds_and_singles() + two_seeds)
    assert ranking.seed_spread(pooled) == np.sqrt((2 * 4.0 + 1 * 8.0) / 3)
    page = page_of(seeds_and_singles())
    assert page.count("within seed spread of #1") == 1 and "Seed spread sigma 2.00" in page
    assert "Seed spread unknown" not in page


def test_rulers_are_never_ranked_together():
    page = page_of(experiments() + on_other_rulers())
    headings = [
        page.index(f"Measured with ruler {RULER_A} (see docs/ruler.md)"),
        page.index(f"Measured with ruler {RULER_B}, not comparable with the above"),
        page.index("Measured with an unknown ruler, none recorded, not comparable with the above"),
    ]
    assert headings == sorted(headings)
    assert headings[0] < page.index("exp-failed") < headings[1] < page.index("exp-other-ruler") < headings[2]
    assert headings[2] < page.index("exp-old") and page.count("Seed spread unknown") == 3
    assert "dvc exp run --queue -S seed=1,2,3" in page and "dvc queue start" in page
    assert ranking.most_experiments_ruler(experiments() + on_other_rulers()) == RULER_A
    led_by_b = page_of(experiments() + on_other_rulers(), RULER_B)
    b_first = led_by_b.index(f"Measured with ruler {RULER_B} (see")
    assert b_first < led_by_b.index(f"ruler {RULER_A}, not comparable")


def test_names_params_values_and_tags_from_users_show_as_text_not_markup():
    hostile = '<script>alert("x")</script> & co'
    named = ranking.Experiment(
        hostile, BASE | {"model.arch": hostile}, METRICS, png(4), [(64_000.0, 9.0)], hostile
    )
    plain = ranking.Experiment(
        "plain", BASE | {"model.arch": "dcgan"}, METRICS | {"fid": 12.0}, ruler=hostile
    )
    page = page_of([named, plain], hostile, f"latest MLflow runs of {hostile!r}")
    escaped = "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; co"
    assert "<script>" not in page and "& co" not in page
    assert f'<span class="name">{escaped}</span>' in page and f'alt="samples of {escaped}"' in page  # a name
    as_json = "&#34;&lt;script&gt;alert(\\&#34;x\\&#34;)&lt;/script&gt; &amp; co&#34;"
    assert f"<td>{as_json}</td>" in page  # a params value, as JSON
    assert f"Measured with ruler {escaped} (see docs/ruler.md)" in page  # an MLflow tag
    assert f"latest MLflow runs of &#39;{escaped}&#39;" in page  # an experiment's name


def test_fid_curves_are_read_as_images_seen_counting_every_discriminator_batch():
    csv_text = "step,fid,seconds\n100,50.5,3.0\n200,20.0,6.1\n"
    assert fid_curve(csv_text, 64, 1) == [(6400.0, 50.5), (12800.0, 20.0)]
    # train.d_steps 2: D sees two batches of 64 real images a step
    assert fid_curve(csv_text, "64", "2") == [(12800.0, 50.5), (25600.0, 20.0)]


def test_chromium_renders_every_image_and_every_row_of_every_ruler_with_no_network(tmp_path):
    page = tmp_path / "index.html"
    seed_1 = ranking.Experiment("exp-s1", BASE | {"seed": 1}, METRICS | {"fid": 9.0}, png(3), [], RULER_A)
    page.write_text(page_of([*experiments(), *on_other_rulers(), seed_1]))
    shown = rendered(page)
    assert shown["rows"] == ["workspace, exp-s1", "exp-slow", "exp-failed", "exp-other-ruler", "exp-old"]
    assert sorted(shown["names"]) == sorted(e.name for e in experiments() + on_other_rulers() + [seed_1])
    assert shown["headers"].count("seeds") == 3 and "train.learning_rate" in shown["headers"]
    # 4 grids, an FID overlay for each ruler with curves (A, B)
    assert len(shown["images"]) == 6 and all(image["width"] > 0 for image in shown["images"]), shown["images"]
    assert shown["requests"] == []


def test_a_broken_image_is_seen_as_one(tmp_path):
    page = tmp_path / "broken.html"
    page.write_text(
        '<img alt="broken" src="data:image/png;base64,iVBORw0KGgo="><img src="https://example.com/a.png">'
    )
    assert [image["width"] for image in rendered(page)["images"]] == [0, 0]


def test_run_names_are_drawn_as_text_not_tex():
    names = ["a$\\foo$b", "$x^2$ and $y$"]
    overlay = report.fid_overlay(
        [ranking.Experiment(name, BASE, METRICS, fid_curve=[(1.0, 9.0), (2.0, 5.0)]) for name in names]
    )
    assert Image.open(io.BytesIO(overlay)).width > 0
