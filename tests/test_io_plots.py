import numpy as np
import pytest

from fashiongan import io, plots


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "out.json"
    io.write_json(path, {"a": 1})
    with pytest.raises(RuntimeError):
        with io.atomic_path(path) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed mid-write")
    assert path.read_text().strip().startswith("{") and '"a": 1' in path.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]  # no temporary left behind


def test_image_grid_layout():
    images = np.stack([np.full((28, 28), i, np.uint8) for i in range(6)])
    grid = plots.image_grid(images, rows=2, cols=3, pad=1)
    assert grid.shape == (2 * 29 + 1, 3 * 29 + 1)
    assert grid[1 + 29 + 5, 1 + 2 * 29 + 5] == 5  # row 1, col 2 holds image 5


def test_save_grid_and_curves(tmp_path):
    images = np.random.default_rng(0).integers(0, 255, (100, 28, 28), dtype=np.uint8)
    plots.save_grid(tmp_path / "g.png", images, 10, 10, row_labels=[str(i) for i in range(10)])
    steps = np.arange(1, 301)
    plots.save_loss_curves(tmp_path / "c.png", steps, {"g_loss": np.sin(steps), "d_acc_real": np.cos(steps)})
    assert (tmp_path / "g.png").read_bytes()[:4] == b"\x89PNG" and (tmp_path / "c.png").stat().st_size > 1000
