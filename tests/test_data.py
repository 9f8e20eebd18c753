import gzip
import shutil
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from shapes import idx_bytes

from fashiongan.data import download, sources
from fashiongan.data.idx import parse_idx
from fashiongan.data.images import class_balanced, to_uint8, to_unit_range
from fashiongan.data.sources import FILES
from fashiongan.errors import DataError


def test_parse_images_and_labels():
    images = np.arange(2 * 28 * 28, dtype=np.uint32).reshape(2, 28, 28) % 256
    np.testing.assert_array_equal(parse_idx(idx_bytes(images)), images)
    labels = np.array([0, 9, 3], np.uint8)
    np.testing.assert_array_equal(parse_idx(idx_bytes(labels), labels=True), labels)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda b: b"\x00\x00\x09\x03" + b[4:], "bad IDX magic 00000903"),
        (lambda b: b[:-1], "bytes, expected"),
        (lambda b: b[:6], "truncated IDX header"),
        (lambda b: b"", "too short for an IDX header"),
    ],
)
def test_corrupted_headers_are_named(mutate, message):
    raw = idx_bytes(np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(DataError, match=message):
        parse_idx(mutate(raw), "bad.idx")


def test_wrong_image_dimensions():
    with pytest.raises(DataError, match="image dimensions 32x32, expected 28x28"):
        parse_idx(idx_bytes(np.zeros((1, 32, 32), np.uint8)), "x")


@pytest.mark.parametrize(
    "array, labels, problem",
    [
        (
            np.zeros(3, np.uint8),
            False,
            "IDX magic 00000801 (labels: 1 dimension), expected 00000803 (images: 3 dimensions)",
        ),
        (
            np.zeros((3, 28, 28), np.uint8),
            True,
            "IDX magic 00000803 (images: 3 dimensions), expected 00000801 (labels: 1 dimension)",
        ),
    ],
)
def test_a_file_of_the_other_kind_is_named(array, labels, problem):
    with pytest.raises(DataError) as error:
        parse_idx(idx_bytes(array), "x", labels=labels)
    assert str(error.value) == f"x: {problem}"


def test_label_out_of_range():
    with pytest.raises(DataError, match="label 10 outside 0-9"):
        parse_idx(idx_bytes(np.array([1, 10], np.uint8)), "labels", labels=True)


@pytest.fixture(scope="module")
def labels_raw(real_data_dir):
    with gzip.open(f"{real_data_dir}/{FILES['test_labels'].name}") as f:
        return f.read()


def test_recompressed_file_passes_checksum(tmp_path, labels_raw):
    # Different compression level and header: other .gz bytes, the same contents.
    path = tmp_path / FILES["test_labels"].name
    path.write_bytes(gzip.compress(labels_raw, compresslevel=1, mtime=12345))
    assert sources.read_verified(path, FILES["test_labels"]) == labels_raw


def test_altered_byte_fails_checksum(tmp_path, labels_raw):
    altered = bytearray(labels_raw)
    altered[100] ^= 1
    path = tmp_path / FILES["test_labels"].name
    path.write_bytes(gzip.compress(bytes(altered)))
    with pytest.raises(DataError, match=f"{path}: sha256 of decompressed bytes is .*altered or truncated"):
        sources.read_verified(path, FILES["test_labels"])


def test_truncated_gzip_is_named(tmp_path, labels_raw):
    path = tmp_path / FILES["test_labels"].name
    path.write_bytes(gzip.compress(labels_raw)[:-20])
    with pytest.raises(DataError, match=f"{path}: not a readable gzip file"):
        sources.read_verified(path, FILES["test_labels"])


def test_missing_and_directory(tmp_path):
    with pytest.raises(DataError, match="missing"):
        sources.read_verified(tmp_path / "none.gz", FILES["test_labels"])
    (tmp_path / "dir.gz").mkdir()
    with pytest.raises(DataError, match="not a regular file"):
        sources.read_verified(tmp_path / "dir.gz", FILES["test_labels"])


def test_load_real_arrays(real_data_dir):
    arrays = sources.load_arrays(__import__("pathlib").Path(real_data_dir))
    assert arrays["train_images"].shape == (60000, 28, 28) and arrays["train_images"].dtype == np.uint8
    assert arrays["test_labels"].shape == (10000,)
    assert np.bincount(arrays["train_labels"]).tolist() == [6000] * 10


def test_locate_prefers_a_verified_raw_dir_then_the_env_dir(tmp_path, monkeypatch, real_data_dir):
    monkeypatch.setenv("FASHION_MNIST_DIR", real_data_dir)
    raw = tmp_path / "raw"
    raw.mkdir()
    assert str(sources.locate(raw)) == real_data_dir  # empty raw dir is skipped
    for f in FILES.values():
        shutil.copyfile(Path(real_data_dir) / f.name, raw / f.name)
    assert sources.locate(raw) == raw  # a verified raw dir comes first
    (raw / FILES["test_labels"].name).write_bytes(b"junk")
    assert str(sources.locate(raw)) == real_data_dir  # a damaged one is skipped


def test_unit_range_round_trip():
    images = np.array([[[0, 128, 255] + [0] * 25] * 28], np.uint8)
    scaled = to_unit_range(images)
    assert scaled.shape == (1, 28, 28, 1) and scaled.min() == -1.0 and scaled.max() == 1.0
    np.testing.assert_array_equal(to_uint8(scaled), images)


def test_a_user_directory_is_read_checked_and_hashed(tmp_path):
    from shapes import write_shapes

    directory = write_shapes(tmp_path / "shapes", train=50, test=20, gz=True)
    arrays, sha256s = sources.read_directory(directory, classes=2)
    assert arrays["train_images"].shape == (50, 28, 28) and arrays["test_labels"].shape == (20,)
    assert set(np.unique(arrays["train_labels"])) == {0, 1} and arrays["train_images"].max() >= 150
    assert sorted(sha256s) == sorted(p.name for p in directory.iterdir())
    import hashlib

    name = "t10k-labels-idx1-ubyte.gz"
    assert sha256s[name] == hashlib.sha256((directory / name).read_bytes()).hexdigest()
    assert sources.source_sizes(str(directory)) == (50, 20)


def _break(directory: Path, name: str, content: bytes | None):
    if content is None:
        (directory / name).unlink()
    else:
        (directory / name).write_bytes(content)


@pytest.mark.parametrize(
    "name, content, problem",
    [
        (
            "t10k-images-idx3-ubyte",
            None,
            "missing (nor t10k-images-idx3-ubyte.gz); a data.source directory holds",
        ),
        (
            "train-images-idx3-ubyte",
            b"\x00\x00\x08\x05" + bytes(12),
            "bad IDX magic 00000805, expected 00000801 or",
        ),
        (
            "train-labels-idx1-ubyte",
            idx_bytes(np.array([0, 1, 2] * 10, np.uint8)),
            "label 2 outside 0-1 (data.class_names has 2 names)",
        ),
        (
            "t10k-labels-idx1-ubyte",
            idx_bytes(np.zeros(7, np.uint8)),
            "7 labels for 20 images in t10k-images-idx3-ubyte",
        ),
        (
            "train-images-idx3-ubyte",
            idx_bytes(np.zeros(30, np.uint8)),
            "IDX magic 00000801 (labels: 1 dimension), expected 00000803 (images: 3 dimensions)",
        ),
        (
            "t10k-labels-idx1-ubyte",
            idx_bytes(np.zeros((20, 28, 28), np.uint8)),
            "IDX magic 00000803 (images: 3 dimensions), expected 00000801 (labels: 1 dimension)",
        ),
    ],
)
def test_a_bad_user_directory_is_one_line_naming_the_file_and_the_problem(tmp_path, name, content, problem):
    from shapes import write_shapes

    directory = write_shapes(tmp_path / "shapes", train=30, test=20)
    _break(directory, name, content)
    with pytest.raises(DataError) as error:
        sources.read_directory(directory, classes=2)
    assert str(error.value).startswith(f"{directory / name}: {problem}") and "\n" not in str(error.value)


def test_a_source_that_is_no_directory_says_what_is_expected(tmp_path):
    with pytest.raises(DataError, match="nowhere: not a directory .expected fashion-mnist or a directory"):
        sources.source_sizes(str(tmp_path / "nowhere"))


def test_counts_come_from_the_headers_alone(tmp_path):
    from shapes import write_shapes

    directory = write_shapes(tmp_path / "shapes", train=30, test=20, gz=True)
    noise = np.random.default_rng(0).integers(
        0, 256, (2000, 28, 28)
    )  # incompressible: the cut is far past the header
    compressed = gzip.compress(idx_bytes(noise))
    (directory / "train-images-idx3-ubyte.gz").write_bytes(compressed[: len(compressed) // 2])
    assert sources.source_sizes(str(directory)) == (2000, 20)
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz: not readable"):  # validate reads it all
        sources.read_directory(directory, classes=2)


def test_a_stalled_download_stops_with_one_line_naming_the_url(tmp_path, monkeypatch):
    server = socket.create_server(("127.0.0.1", 0))  # listens and never answers
    # closing it resets the waiting connection, so a download without a timeout fails here too, not hangs
    reset = threading.Timer(10, server.close)
    reset.start()
    mirror = f"http://127.0.0.1:{server.getsockname()[1]}/"
    monkeypatch.setattr(download, "MIRROR", mirror)
    monkeypatch.setattr(download, "DOWNLOAD_TIMEOUT_S", 0.5)
    for proxy_bypass in ("no_proxy", "NO_PROXY"):  # loopback only, whatever proxy the environment names
        monkeypatch.setenv(proxy_bypass, "*")
    started = time.monotonic()
    try:
        with pytest.raises(DataError) as error:
            download.download(tmp_path / "raw")
    finally:
        reset.cancel()
        server.close()
    assert time.monotonic() - started < 5
    message = str(error.value)
    assert f"download from {mirror}{FILES['train_images'].name} failed (no answer within 0.5 s)" in message
    assert "\n" not in message and not any((tmp_path / "raw").iterdir())  # no .part file left


def test_a_subset_of_a_set_stored_class_by_class_holds_every_class_in_its_share():
    """evaluate.n below the test set's size: the first n images of a set stored class by class would
    hold its first classes only; the subset every metric uses holds each class in its share."""
    labels = np.repeat(np.arange(5), [100, 100, 100, 100, 200])
    chosen = class_balanced(labels, 60, seed=0)
    assert np.bincount(labels[chosen], minlength=5).tolist() == [10, 10, 10, 10, 20]
    assert len(np.unique(chosen)) == 60
    np.testing.assert_array_equal(class_balanced(labels, 60, seed=0), chosen)  # seeded
    np.testing.assert_array_equal(class_balanced(labels, 600, seed=0), np.arange(600))  # all: as stored


@pytest.mark.parametrize("n", [9995, 10])
def test_the_class_balanced_subset_takes_any_n(n):
    """n just below the set's size (5 images left for 10 classes) or one image per class."""
    labels = np.arange(10000) % 10
    chosen = class_balanced(labels, n, seed=1)
    assert len(np.unique(chosen)) == n and np.ptp(np.bincount(labels[chosen], minlength=10)) <= 1
