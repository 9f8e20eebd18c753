"""The suite's own setup: where the real-data fixture looks, which warnings the suite hides."""

import shutil
import warnings
from pathlib import Path

import conftest

from fashiongan.data import sources
from fashiongan.data.sources import FILES


def test_the_real_data_fixture_looks_where_prepare_downloads_first(tmp_path, monkeypatch, real_data_dir):
    raw = tmp_path / "data/raw"
    raw.mkdir(parents=True)
    for f in FILES.values():
        shutil.copyfile(Path(real_data_dir) / f.name, raw / f.name)
    monkeypatch.delenv("FASHION_MNIST_DIR", raising=False)
    monkeypatch.setattr(sources, "DEBIAN_DIR", tmp_path / "no-debian-package")
    assert conftest.real_data_in(tmp_path) == raw


def shown(message: str, module: str) -> bool:
    """Whether the suite's warning filters (pyproject.toml, active in each test) let a
    DeprecationWarning raised in `module` through."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.warn_explicit(message, DeprecationWarning, f"{module}.py", 1, module=module, registry={})
    return bool(caught)


def test_deprecations_of_this_project_show_and_only_named_third_party_ones_are_hidden():
    assert shown("a fashiongan API is going away", "fashiongan.metrics")
    assert shown("a Keras API is going away", "keras.src.models.model")
    copy_keyword = "__array__ implementation doesn't accept a copy keyword, so passing copy=False failed."
    assert not shown(copy_keyword, "keras.src.backend.tensorflow.core")
    assert shown(copy_keyword, "fashiongan.metrics")
