"""The generator as an MLflow model: logged from its .keras file, fetched back (registering it is
registry.py's). Every call goes through the run's MlflowClient or names the store: nothing starts a fluent
run, and MLflow's process-wide tracking URI is set only around the two calls that read it whatever they
are given (see process_store), and put back."""

from __future__ import annotations

import contextlib
import os
import tempfile
import warnings
from pathlib import Path

from ..errors import ModelFileError, TrackingError
from ..io import file_digest
from ..paths import RUN_FILE
from .outage import masked, survives_outage
from .store import tracking_uri

# The model URIs that name a model in the tracking store, as opposed to a file or another store's URI.
STORE_URIS = ("runs:/", "models:/")


@contextlib.contextmanager
def without_type_hint_warning():
    """Logging or loading the generator, MLflow warns that its predict has no type hints: the signature
    is logged, so it needs none. MLflow shows the warning under its own "once" filter, which overrides
    an "ignore" filter: drop it where it is shown."""
    with warnings.catch_warnings():  # puts warnings.showwarning back on leaving
        show = warnings.showwarning
        warnings.showwarning = lambda message, *args, **kwargs: (
            None if "type hints to the `predict`" in str(message) else show(message, *args, **kwargs)
        )
        yield


@contextlib.contextmanager
def process_store(uri: str):
    """MLflow's process-wide tracking URI set to `uri` for the block, then put back as it was (with
    MLFLOW_TRACKING_URI, which mlflow.set_tracking_uri sets too). For the two calls that take a store and
    still resolve models:/ URIs in the process-wide one (MLflow's own TODOs say so): downloading a
    models:/ URI (ModelsArtifactRepository), and registering a version from the logged model's
    models:/<id> URI in a SQL registry (the source from which the MLflow UI links the version to it)."""
    import mlflow
    from mlflow.tracking._tracking_service import utils

    previous, environment = utils._tracking_uri, os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(previous)
        if environment is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = environment


def model_directory(spec: str) -> str:
    """A local copy of the model that an MLflow model URI names (runs:/<id>/generator,
    models:/<name>/<version>, models:/<name>@<alias>), downloaded from the tracking store; any other
    spec (a path, another store's URI) as it is."""
    if not spec.startswith(STORE_URIS):
        return spec
    import mlflow

    uri = tracking_uri()
    try:
        with process_store(uri):  # where MLflow resolves models:/ URIs, whatever it is given
            return mlflow.artifacts.download_artifacts(artifact_uri=spec, tracking_uri=uri, registry_uri=uri)
    except Exception as e:  # MLflow raises several kinds for an unknown run, model or version
        raise ModelFileError(
            f"{spec}: not found in MLflow store {masked(uri)} "
            f"({masked(str(e).splitlines()[0] if str(e) else type(e).__name__)})"
        ) from None


def generator_file(spec: str) -> Path:
    """A generator's .keras file from a path, or from an MLflow model URI in the tracking store."""
    if not spec.startswith(STORE_URIS):
        return Path(spec)
    found = sorted(Path(model_directory(spec)).glob("artifacts/*.keras"))
    if not found:
        raise ModelFileError(f"{spec}: the model holds no .keras generator (is it a fashiongan generator?)")
    return found[0]


def generator_model(run):
    """The model named "generator" this run already holds (a LoggedModel), or None."""
    from mlflow.entities import LoggedModelStatus

    experiment_id = run.client.get_run(run.run_id).info.experiment_id
    found = run.client.search_logged_models(
        [experiment_id], filter_string=f"source_run_id = '{run.run_id}' AND name = 'generator'"
    )
    # not one a crash left half-made
    return next((m for m in found if m.status == LoggedModelStatus.READY), None)


@survives_outage
def log_generator(run, path: Path, class_names=None):
    """The .keras generator as the run's MLflow pyfunc model "generator" (save_generator_model: signature,
    input example, the data's `class_names`); returns it (a LoggedModel). A run holds one generator: when
    it holds one already (evaluated again), that one is returned, provided it is this very file."""
    logged = generator_model(run)
    if logged is None:
        return _log_generator_model(run, path, class_names)
    if file_digest(held := generator_file(logged.model_uri)) != file_digest(path):
        raise TrackingError(
            f"{path} (sha256 {file_digest(path)[:12]}) is not the generator MLflow run {run.run_id} holds "
            f"({logged.model_uri}, sha256 {file_digest(held)[:12]}): {RUN_FILE} and {path} come from "
            "different trainings; restore the pair (`dvc checkout`) or train again "
            "(`dvc repro --force train`)"
        )
    return logged


def save_generator_model(path: Path, directory: Path, class_names=None, mlflow_model=None) -> None:
    """Write the .keras generator at `path` as an MLflow pyfunc model directory (what `fashiongan serve
    --model DIRECTORY` and mlflow.pyfunc.load_model read): the model code (pyfunc.py), the file, its
    class names (`class_names`, the data's; None: answered by index) and a signature of the request
    params (pyfunc.PARAMS) with an input example of each kind of request."""
    from importlib.metadata import version

    import keras
    import mlflow
    import numpy as np
    from mlflow.models import ModelSignature
    from mlflow.types import ParamSchema, ParamSpec

    from ..gan.models import TrainedGenerator
    from ..io import load_model

    with without_type_hint_warning():  # MLflow warns as the model class is defined
        from .pyfunc import PARAMS

    generator = TrainedGenerator(load_model(path))
    kinds = {str: "string", int: "long", float: "double"}
    signature = ModelSignature(
        params=ParamSchema([ParamSpec(key, kinds[type(default)], default) for key, default in PARAMS.items()])
    )
    names = list(class_names) if class_names and len(class_names) == generator.classes else None
    example = {"n": 2, "seed": 0, "format": "png"} | (
        {"class": names[-1] if names else "0"} if generator.conditional else {}
    )
    with without_type_hint_warning():
        mlflow.pyfunc.save_model(
            directory,
            mlflow_model=mlflow_model,
            python_model=str(Path(__file__).with_name("pyfunc.py")),
            artifacts={"generator": str(path)},
            model_config={"conditional": generator.conditional, "classes": generator.classes}
            | ({"class_names": names} if names else {}),
            signature=signature,
            input_example=({}, example),  # MLflow checks it against the signature and runs it
            pip_requirements=[
                f"tensorflow=={version('tensorflow')}",
                f"keras=={keras.__version__}",
                f"mlflow=={mlflow.__version__}",
                f"pillow=={version('pillow')}",
                f"numpy=={np.__version__}",
            ],
        )


def _log_generator_model(run, path: Path, class_names=None):
    """Log the generator as the run's pyfunc model "generator" and return it (a LoggedModel). The steps
    of mlflow.pyfunc.log_model (Model.log), through the run's client: log_model takes the store from
    MLflow's process-wide tracking URI, whatever run it is given."""
    from mlflow.entities import LoggedModelOutput, LoggedModelStatus
    from mlflow.models import Model

    client = run.client
    experiment_id = client.get_run(run.run_id).info.experiment_id
    logged = client.create_logged_model(experiment_id, name="generator", source_run_id=run.run_id)
    try:
        client.log_outputs(run.run_id, [LoggedModelOutput(logged.model_id, step=0)])  # the run's model tab
        with tempfile.TemporaryDirectory() as directory:
            local = Path(directory) / "generator"
            model = Model(
                artifact_path=logged.artifact_location,
                run_id=run.run_id,
                model_uuid=logged.model_id,
                model_id=logged.model_id,
            )
            save_generator_model(path, local, class_names, mlflow_model=model)
            client.log_model_artifacts(logged.model_id, str(local))
    except Exception:
        client.finalize_logged_model(logged.model_id, LoggedModelStatus.FAILED)
        raise
    return client.finalize_logged_model(logged.model_id, LoggedModelStatus.READY)
