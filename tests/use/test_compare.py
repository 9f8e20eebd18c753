from types import SimpleNamespace

from fashiongan.use.compare import COLUMNS, format_table, recipe_row, run_experiment, runs_text
from fashiongan.use.ranking import ruler_tables

RULER_A, RULER_B = "3fa9c01b22de", "77aa00bb11cc"


def fake_run(
    name, fid=None, status="FINISHED", ruler=RULER_A, seed=42, lr="0.0002", code="c0de", dirty="false"
):
    """A training run as MLflow returns it; with `fid`, one that holds its evaluation's eval.* metrics itself
    (as training runs did before evaluations had runs of their own)."""
    metrics = {"eval.precision": 0.9} | ({"eval.fid": fid} if fid is not None else {})
    return SimpleNamespace(
        info=SimpleNamespace(run_name=name, status=status),
        data=SimpleNamespace(
            params={"model.arch": "dcgan", "train.learning_rate": lr, "seed": str(seed)},
            metrics=metrics | {"train.train_seconds": 500.0},
            tags=({"ruler": ruler} if ruler else {}) | {"train.inputs_digest": code, "git_dirty": dirty},
        ),
    )


def fake_evaluation(fid, n="10000", ruler=RULER_A, sample_seed="1234"):
    """An evaluation's own run (tracking/evaluation.py): its params, its ruler tag and eval.* metrics."""
    return SimpleNamespace(
        info=SimpleNamespace(run_name="eval", status="FINISHED"),
        data=SimpleNamespace(
            params={"evaluate.n": n, "sample.n": "10000", "sample.seed": sample_seed},
            metrics={"eval.fid": fid, "eval.precision": 0.8},
            tags={"ruler": ruler, "evaluate_code": "e1"},
        ),
    )


def experiments_of(runs):
    return [run_experiment(*r) if isinstance(r, tuple) else run_experiment(r) for r in runs]


def rows_of(runs):
    (table,) = ruler_tables(experiments_of(runs), RULER_A, "eval.fid")
    return [dict(zip([h for h, _, _ in COLUMNS], recipe_row(table, recipe))) for recipe in table.recipes]


def test_rows_format_values_and_mark_missing_ones():
    (cells,) = rows_of([fake_run("a", fid=12.3456)])
    assert (
        cells["run"] == "a"
        and cells["arch"] == "dcgan"
        and cells["lr"] == "0.0002"
        and cells["seeds"] == "42"
    )
    assert cells["FID"] == "12.35" and cells["P"] == "0.900" and cells["KID"] == "-"


def test_plain_and_markdown_tables():
    (table,) = ruler_tables(
        [run_experiment(r) for r in [fake_run("best", 1.0), fake_run("failed", status="FAILED")]],
        RULER_A,
        "eval.fid",
    )
    rows = [recipe_row(table, recipe) for recipe in table.recipes]
    plain = format_table(rows).splitlines()
    assert plain[0].startswith("run") and plain[1].startswith("best") and len(plain) == 3
    assert len({line.index("arch") if "arch" in line else line.index("dcgan") for line in plain}) == 1
    markdown = format_table(rows, markdown=True).splitlines()
    assert markdown[1].startswith("| --- |") and markdown[3].startswith("| failed |")
    assert all(line.count("|") == len(COLUMNS) + 1 for line in markdown)


def test_three_seeds_are_one_row_of_mean_and_std_ranked_by_the_mean():
    runs = [
        fake_run("s1", 26.0, seed=1),
        fake_run("s2", 28.0, seed=2),
        fake_run("s3", 30.0, seed=3),
        fake_run("lucky", 27.0, lr="0.001"),
        fake_run("s4", status="FAILED", seed=4),
    ]
    rows = rows_of(runs)
    # 27.0 beats the mean 28.0; the failed run is a row of its own
    assert [r["run"] for r in rows] == ["lucky", "s1, s2, s3", "s4"]
    assert (
        rows[1]["FID"] == "28.00 ± 2.00"
        and rows[1]["seeds"] == "3 (1, 2, 3)"
        and rows[1]["P"] == "0.900 ± 0.000"
    )
    assert rows[2]["FID"] == "-" and rows[2]["status"] == "FAILED"


def test_a_run_within_the_seed_spread_of_the_best_is_marked_one_far_away_is_not():
    runs = [
        fake_run("s1", 26.0, seed=1),
        fake_run("s2", 28.0, seed=2),
        fake_run("s3", 30.0, seed=3),
        fake_run("close", 29.5, lr="0.001"),
        fake_run("far", 35.0, lr="0.003"),
    ]
    spread = {r["run"]: r["seed spread"] for r in rows_of(runs)}
    assert spread == {"s1, s2, s3": "", "close": "within seed spread of #1 (sigma 2.00)", "far": ""}
    assert "Seed spread sigma 2.00" in runs_text(experiments_of(runs))


def test_rulers_are_apart_newest_run_first_and_unknown_rulers_in_a_table_of_their_own():
    runs = [
        fake_run("a-newest", 20.0),
        fake_run("b-lower", 5.0, ruler=RULER_B),
        fake_run("old", 1.0, ruler=None),
        fake_run("a-older", 10.0, lr="0.001"),
    ]
    text = runs_text(experiments_of(runs), markdown=True)
    sections = text.split("Measured with ")[1:]
    assert [s.split()[0] for s in sections] == ["ruler", "ruler", "an"]
    assert sections[0].startswith(f"ruler {RULER_A} (see") and "not comparable" not in sections[0]
    assert sections[1].startswith(f"ruler {RULER_B}, not comparable with the above")
    assert sections[2].startswith("an unknown ruler") and "not comparable with the above" in sections[2]
    table_a = [line for line in sections[0].splitlines() if line.startswith("| a-")]
    assert [line.split(" | ")[0] for line in table_a] == ["| a-older", "| a-newest"]  # b-lower is not there
    assert "b-lower" in sections[1] and "| old |" in sections[2]
    assert text.count("Seed spread unknown") == 3 and "dvc exp run --queue -S seed=1,2,3" in text


def test_each_evaluation_of_a_training_run_is_a_row_of_its_own_showing_its_n():
    trained = fake_run("a", seed=1)
    rows = rows_of([(trained, fake_evaluation(9.0, n="10000")), (trained, fake_evaluation(12.0, n="1000"))])
    # not one recipe with two seeds: each evaluation's own numbers, beside its n
    assert [(r["run"], r["n"], r["FID"], r["seeds"]) for r in rows] == [
        ("a", "10000", "9.00", "1"),
        ("a", "1000", "12.00", "1"),
    ]
    assert (
        rows[0]["P"] == "0.800" and rows[0]["train s"] == "500"
    )  # the evaluation's P, the training's seconds
    # two seeds evaluated alike share a row; another sample seed does not
    seeds = rows_of(
        [
            (fake_run("s1", seed=1), fake_evaluation(9.0)),
            (fake_run("s2", seed=2), fake_evaluation(11.0)),
            (fake_run("s3", seed=3), fake_evaluation(10.0, sample_seed="7")),
        ]
    )
    assert [(r["run"], r["FID"]) for r in seeds] == [("s1, s2", "10.00 ± 1.41"), ("s3", "10.00")]


def test_runs_of_other_code_or_data_are_other_rows_and_uncommitted_code_is_marked():
    rows = rows_of(
        [
            fake_run("old-code", 9.0, seed=1, code="aaaa1111bbbb"),
            fake_run("new-code", 11.0, seed=2, code="cccc2222dddd", dirty="true"),
        ]
    )
    assert [(r["run"], r["seeds"], r["code"]) for r in rows] == [
        ("old-code", "1", "aaaa1111"),
        ("new-code", "2", "cccc2222 (uncommitted)"),
    ]


def test_a_pipe_or_backslash_in_a_run_name_keeps_the_markdown_table_whole():
    text = runs_text(experiments_of([fake_run("a|b\\c", 9.0)]), markdown=True)
    (row,) = [line for line in text.splitlines() if line.startswith("| a")]
    assert row.startswith("| a\\|b\\\\c |")
    assert row.replace("\\\\", "").replace("\\|", "").count("|") == len(COLUMNS) + 1
