from types import SimpleNamespace

from fashiongan.compare import COLUMNS, format_table, run_rows


def fake_run(name, fid=None, status="FINISHED"):
    metrics = {"eval.precision": 0.9} | ({"eval.fid": fid} if fid is not None else {})
    return SimpleNamespace(info=SimpleNamespace(run_name=name, status=status),
                           data=SimpleNamespace(params={"model.arch": "dcgan", "train.learning_rate": "0.0002"},
                                                metrics=metrics))


def test_rows_format_values_and_mark_missing_ones():
    (row,) = run_rows([fake_run("a", fid=12.3456)])
    cells = dict(zip([h for h, _, _ in COLUMNS], row))
    assert cells["run"] == "a" and cells["arch"] == "dcgan" and cells["lr"] == "0.0002"
    assert cells["FID"] == "12.35" and cells["P"] == "0.900" and cells["KID"] == "-"


def test_plain_and_markdown_tables():
    rows = run_rows([fake_run("best", 1.0), fake_run("failed", status="FAILED")])
    plain = format_table(rows).splitlines()
    assert plain[0].startswith("run") and plain[1].startswith("best") and len(plain) == 3
    assert len({line.index("arch") if "arch" in line else line.index("dcgan") for line in plain}) == 1
    markdown = format_table(rows, markdown=True).splitlines()
    assert markdown[1].startswith("| --- |") and markdown[3].startswith("| failed |")
    assert all(line.count("|") == len(COLUMNS) + 1 for line in markdown)
