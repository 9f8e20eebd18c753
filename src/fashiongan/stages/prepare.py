"""prepare: data.source's four IDX files -> data/prepared/fashion_mnist.npz, and reports/data.json
naming the source, each file and its sha256 (for Fashion-MNIST, the verified ones)."""

from __future__ import annotations

from pathlib import Path

from ..config import Config
from ..data.download import download
from ..data.sources import FASHION_MNIST, FILES, load_arrays, locate, read_directory
from ..io import write_json, write_npz
from ..paths import DATA_REPORT, PREPARED, RAW_DIR


def run(cfg: Config) -> None:
    if cfg.data.source == FASHION_MNIST:
        directory = locate(RAW_DIR) or download(RAW_DIR)
        arrays = load_arrays(directory)
        # the .gz bytes differ between distributors; the decompressed ones were verified to be these
        files = {f.name.removesuffix(".gz"): f.sha256 for f in FILES.values()}
        checked = "sha256 of the decompressed bytes verified against Fashion-MNIST's"
    else:
        directory = Path(cfg.data.source)
        arrays, files = read_directory(directory, len(cfg.data.class_names))
        checked = "IDX structure, 28x28 sizes, label range and counts checked; sha256 of each file as found"
    limit = cfg.data.train_limit
    if limit is not None:
        arrays["train_images"] = arrays["train_images"][:limit]
        arrays["train_labels"] = arrays["train_labels"][:limit]
    write_npz(PREPARED, **arrays)
    write_json(
        DATA_REPORT,
        {
            "source": cfg.data.source,
            "checked": checked,
            "sha256": files,
            "class_names": cfg.data.class_names,
            "train_images": len(arrays["train_images"]),
            "test_images": len(arrays["test_images"]),
        },
    )
    print(
        f"prepare: {len(arrays['train_images'])} train and {len(arrays['test_images'])} test images "
        f"from {directory} -> {PREPARED}"
    )
