import numpy as np
import pytest

from fashiongan import io, plots
from fashiongan.errors import MissingInput


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "out.json"
    io.write_json(path, {"a": 1})
    with pytest.raises(RuntimeError), io.atomic_path(path) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed mid-write")
    assert path.read_text().strip().startswith("{") and '"a": 1' in path.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]  # no temporary left behind


def test_atomic_writes_get_the_mode_a_plain_open_would(tmp_path):
    import os

    previous = os.umask(0o022)
    try:
        io.write_json(tmp_path / "out.json", {})
        (tmp_path / "plain").write_text("")
    finally:
        os.umask(previous)
    assert (
        (tmp_path / "out.json").stat().st_mode & 0o777 == (tmp_path / "plain").stat().st_mode & 0o777 == 0o644
    )


def test_the_workspace_section_names_metrics_for_people_and_inlines_its_images(tmp_path):
    from fashiongan.use import report

    (tmp_path / "reports/samples").mkdir(parents=True)
    metrics = {"fid": 12.5, "fid_real": 0.6, "n": 100, "memorised_fraction": 0.01}
    io.write_json(tmp_path / "reports/metrics.json", metrics)
    plots.save_grid(tmp_path / "reports/samples/grid.png", np.zeros((4, 28, 28), np.uint8), 2, 2)
    page = report.render(workspace=report.workspace_section(tmp_path))
    assert "<td>FID</td><td>12.5</td><td>0.6</td>" in page and "<td>memorised fraction</td>" in page
    assert page.count('src="data:image/png;base64,') == 1 and "http" not in page


def test_report_outside_a_dvc_repository_is_one_line(tmp_path):
    from fashiongan.use import report

    with pytest.raises(MissingInput, match=r"dvc exp show in .*not inside of a DVC repository"):
        report.write_report(tmp_path)


def test_image_grid_layout():
    images = np.stack([np.full((28, 28), i, np.uint8) for i in range(6)])
    grid = plots.image_grid(images, rows=2, cols=3, pad=1)
    assert grid.shape == (2 * 29 + 1, 3 * 29 + 1)
    assert grid[1 + 29 + 5, 1 + 2 * 29 + 5] == 5  # row 1, col 2 holds image 5


def test_save_grid_and_curves(tmp_path):
    images = np.random.default_rng(0).integers(0, 255, (100, 28, 28), dtype=np.uint8)
    plots.save_grid(tmp_path / "g.png", images, 10, 10, row_labels=[str(i) for i in range(10)])
    steps = np.arange(1, 301)
    plots.save_loss_curves(
        tmp_path / "c.png",
        {"g_loss": list(zip(steps, np.sin(steps))), "d_acc_real": list(zip(steps, np.cos(steps)))},
    )
    assert (tmp_path / "g.png").read_bytes()[:4] == b"\x89PNG" and (tmp_path / "c.png").stat().st_size > 1000


def test_a_step_log_appends_keeps_through_a_step_and_reopens_with_its_columns(tmp_path):
    log = io.StepLog(tmp_path / "h.csv", ["g_loss", "d_loss"])
    log.append([1, 2, 3], [[0.5, 1.0], [0.25, 0.75], [0.125, 0.5]])
    log.keep_through(2)
    again = io.StepLog.open(tmp_path / "h.csv")
    assert again.columns == ["step", "g_loss", "d_loss"]
    assert again.series() == {"g_loss": [(1, 0.5), (2, 0.25)], "d_loss": [(1, 1.0), (2, 0.75)]}
