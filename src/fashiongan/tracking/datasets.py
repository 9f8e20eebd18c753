"""The data splits a run used, as MLflow dataset inputs."""

from __future__ import annotations

import hashlib
import json

from .store import repo_root

# The split of the data each context uses: train learns from the training set, evaluate scores
# against the test set. The contexts are MLflow's `mlflow.data.context` input tag.
DATASET_SPLITS = {"training": "train", "evaluation": "test"}


def dataset_input(data_report: dict, context: str):
    """The MLflow dataset input for the split `context` uses, from prepare's report (reports/data.json):
    the arrays are not read or hashed again. Its digest is the sha256 of the split's two IDX files'
    sha256s and its image count (data.train_limit keeps the first images of the training files)."""
    import numpy as np
    from mlflow.data.http_dataset_source import HTTPDatasetSource
    from mlflow.data.schema import TensorDatasetSchema
    from mlflow.data.sources import LocalArtifactDatasetSource
    from mlflow.entities import Dataset, DatasetInput, InputTag
    from mlflow.types import Schema, TensorSpec
    from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT
    from mlflow.utils.validation import MAX_DATASET_DIGEST_SIZE

    from ..data.sources import FASHION_MNIST, HOME, USER_FILES

    split = DATASET_SPLITS[context]
    images = data_report[f"{split}_images"]
    by_name = {
        file.removesuffix(".gz"): sha256 for file, sha256 in data_report["sha256"].items()
    }  # a user's as found
    hashed = "\n".join(
        [by_name[USER_FILES[f"{split}_images"]], by_name[USER_FILES[f"{split}_labels"]], str(images)]
    )
    if data_report["source"] == FASHION_MNIST:  # its verified bytes are upstream's wherever they were found
        name, origin = FASHION_MNIST, HTTPDatasetSource(HOME)
    else:
        directory = (repo_root() / data_report["source"]).resolve()
        name, origin = directory.name, LocalArtifactDatasetSource(str(directory))
    limit = data_report.get("train_limit") if split == "train" else None
    schema = TensorDatasetSchema(
        features=Schema([TensorSpec(np.dtype(np.uint8), (-1, 28, 28), "images")]),
        targets=Schema([TensorSpec(np.dtype(np.uint8), (-1,), "labels")]),
    )
    profile = {"images": images} | ({"train_limit": limit} if limit is not None else {})
    dataset = Dataset(
        name=f"{name}/{split}",
        digest=hashlib.sha256(hashed.encode()).hexdigest()[
            :MAX_DATASET_DIGEST_SIZE
        ],  # the store's column width
        source_type=origin._get_source_type(),
        source=origin.to_json(),  # as mlflow.data.Dataset.to_dict does
        schema=json.dumps(schema.to_dict()),
        profile=json.dumps(profile),
    )
    return DatasetInput(dataset, tags=[InputTag(MLFLOW_DATASET_CONTEXT, context)])
