"""prepare: the four verified IDX files -> data/prepared/fashion_mnist.npz."""

from __future__ import annotations

from .. import data
from ..config import Config
from ..io import write_npz
from ..paths import PREPARED, RAW_DIR


def run(cfg: Config) -> None:
    source = data.locate(RAW_DIR) or data.download(RAW_DIR)
    arrays = data.load_arrays(source)
    limit = cfg.data.train_limit
    if limit is not None:
        arrays["train_images"] = arrays["train_images"][:limit]
        arrays["train_labels"] = arrays["train_labels"][:limit]
    write_npz(PREPARED, **arrays)
    print(f"prepare: {len(arrays['train_images'])} train and {len(arrays['test_images'])} test images "
          f"from {source} -> {PREPARED}")
