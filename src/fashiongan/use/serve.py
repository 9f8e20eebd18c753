"""`fashiongan serve` (what `make serve` runs): a logged generator over HTTP with MLflow's own
scoring server, as `mlflow models serve --env-manager local` builds it (the same /invocations,
/ping and /version), run in this process by uvicorn's Python API, so no `uvicorn` on PATH is needed;
and at / a page to try the generator in (templates/serve.html.j2), which asks the same /invocations.

What is served is the model's .keras generator with this fashiongan's model code (served_model): no
code from the store runs. In front of MLflow's handler, every /invocations request, whatever its
format, is read within limits.py's limits and checked against the model's contract (RequestCheck), so
that one MLflow cannot answer gets a 4xx with one line naming the culprit. MLflow's own answer to it
is the server's stack trace, the whole input echoed back, or, for a request of too many rows or a
body without end, minutes of work and gigabytes of memory.

    curl -s localhost:5001/invocations -H 'Content-Type: application/json' \
         -d '{"inputs": {}, "params": {"class": "sneaker", "n": 16, "seed": 3, "format": "png"}}'
    curl -s localhost:5001/invocations -H 'Content-Type: application/json' \
         -d '{"inputs": {"z": [[0.1, ...100 numbers...]], "label": [7]}}'
The request contract (params, formats, answers) is tracking/pyfunc.py's.
"""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
from http import HTTPStatus
from pathlib import Path

from ..errors import ConfigError, MissingInput, ModelFileError
from ..paths import PARAMS, RUN_FILE
from .limits import (
    BYTES_OF_STRUCTURE,
    BYTES_PER_NUMBER,
    ROOM,
    Guarded,
    Refused,
    parquet_footer,
    parse_json,
)

EXAMPLE = (
    '{"inputs": {}, "params": {"class": "sneaker", "n": 16, "seed": 3}} or '
    '{"inputs": {"z": [[...latent_dim numbers...]], "label": [7]}}'
)
JSON, CSV = "application/json", "text/csv"
PARQUET = "application/vnd.apache.parquet"  # the one Parquet type MLflow's scoring server reads


def latest_model_uri() -> str:
    """The generator of the pipeline's latest run (reports/train/run.json)."""
    if not RUN_FILE.is_file():
        raise MissingInput(
            f"{RUN_FILE}: no training run yet; run `dvc repro` or pass --model runs:/<id>/generator"
        )
    return f"runs:/{json.loads(RUN_FILE.read_text())['run_id']}/generator"


class RequestCheck:
    """The model's contract for one /invocations request, checked before MLflow sees it. `generator`
    is the served pyfunc model (tracking/pyfunc.Generator), whose checked_inputs are the value checks;
    this adds what a server needs: formats MLflow can read into this model's tensors, and size."""

    def __init__(self, generator, max_rows: int):
        self.generator, self.max_rows = generator, max_rows
        self.max_values = max_rows * (generator.latent_dim + 1) * ROOM
        self.max_bytes = self.max_values * BYTES_PER_NUMBER + BYTES_OF_STRUCTURE

    def headers(self, content_type: str | None, content_length: str | None) -> str:
        """The request's media type, or Refused before its body is read."""
        accepted = f"expected {JSON} or {PARQUET}"
        if not content_type:
            raise Refused(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, f"Content-Type: missing; {accepted}")
        media_type = content_type.split(";")[0].strip()  # as MLflow's scoring server splits it
        if media_type == CSV:
            # MLflow accepts text/csv too, but reads each CSV column with the signature's pandas dtype, which a
            # tensor signature has not: every CSV body fails there. Nor could a cell hold a row of z.
            raise Refused(
                HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                f"Content-Type: got {content_type!r}, {accepted} "
                f"(a CSV cell cannot hold a row of z's {self.generator.latent_dim} numbers)",
            )
        if media_type not in (JSON, PARQUET):
            raise Refused(
                HTTPStatus.UNSUPPORTED_MEDIA_TYPE, f"Content-Type: got {content_type!r}, {accepted}"
            )
        if content_length is not None and int(content_length) > self.max_bytes:
            raise self.too_large(int(content_length), "bytes", self.max_bytes)
        return media_type

    def body(self, media_type: str, body: bytes) -> None:
        """Refused unless the model takes this body (from `headers`' media type, read by
        limits.read_body within max_bytes) and MLflow can read it."""
        # MLflow reads params from JSON bodies only
        inputs, params = (
            self._json_request(body) if media_type == JSON else (self._parquet_inputs(body), None)
        )
        try:
            params = self.generator.checked_params(params)
            if params["n"] > self.max_rows:  # before any latent is drawn
                raise Refused(
                    HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                    f"n: got {params['n']}, expected at most {self.max_rows} per request (the server's "
                    "--max-rows)",
                )
            z = self.generator.checked_request(inputs, params)[0][0]
        except ValueError as e:
            raise Refused(HTTPStatus.BAD_REQUEST, str(e)) from None
        self._rows(len(z))

    def _rows(self, rows: int) -> None:
        if rows > self.max_rows:
            raise Refused(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"z: got {rows} rows, expected at most {self.max_rows} per request (the server's --max-rows)",
            )

    def too_large(self, size: int, unit: str, limit: int) -> Refused:
        return Refused(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            f"body: {size} {unit}, over the {limit} that {self.max_rows} rows take at most (the "
            f"server's --max-rows {self.max_rows}); send fewer rows per request",
        )

    @staticmethod
    def _json_request(body: bytes) -> tuple[dict, dict | None]:
        request = parse_json(body, EXAMPLE)
        inputs = request.get("inputs") if isinstance(request, dict) else None
        if not isinstance(inputs, dict):
            raise Refused(HTTPStatus.BAD_REQUEST, f"inputs: missing or not an object; expected {EXAMPLE}")
        params = request.get("params")
        if params is not None and not isinstance(params, dict):
            raise Refused(HTTPStatus.BAD_REQUEST, f"params: not an object; expected {EXAMPLE}")
        return inputs, params

    def _parquet_inputs(self, body: bytes) -> dict:
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            parquet = pq.ParquetFile(pa.BufferReader(body))
            self._rows(parquet.metadata.num_rows)
            parquet_footer(parquet.metadata, self.max_values, self.too_large)
            index = (parquet.schema_arrow.pandas_metadata or {}).get("index_columns", [])
            inputs = parquet.read().to_pydict()
        except (
            pa.ArrowException,
            OSError,
            ValueError,
        ) as e:  # OSError: a damaged footer; ValueError: its metadata
            label = " and a column label (class indices)" if self.generator.conditional else ""
            raise Refused(
                HTTPStatus.BAD_REQUEST,
                f"body: not a readable Parquet file ({str(e).splitlines()[0]}); "
                f"expected a column z (rows of {self.generator.latent_dim} numbers){label}",
            ) from None
        # MLflow reads the DataFrame's first value by the index label 0, which another index may lack
        if any(not isinstance(i, dict) or i.get("kind") != "range" or i.get("start") != 0 for i in index):
            raise Refused(
                HTTPStatus.BAD_REQUEST,
                "body: a DataFrame index other than 0, 1, 2, ...; expected the "
                "default one (df.reset_index(drop=True).to_parquet())",
            )
        return inputs


def _class_names(local: Path):
    """The class names the model was logged with: its MLmodel's model_config, read as YAML data (not
    the code beside it); else params.yaml's (a model logged before class names)."""
    from mlflow.exceptions import MlflowException
    from mlflow.models import Model

    from ..params import load

    try:
        names = Model.load(local).flavors["python_function"]["model_config"]["class_names"]
    except (MlflowException, OSError, KeyError, TypeError):
        names = None
    if isinstance(names, list) and all(isinstance(name, str) for name in names):
        return names
    return load(PARAMS, check_data=False).data.class_names if PARAMS.is_file() else None


def served_model(model_uri: str):
    """The pyfunc model to serve: the generator file the model `model_uri` holds (a .keras, loaded in
    Keras' safe mode) saved again with this fashiongan's model code, in a temporary directory. MLflow
    would run the code the model was logged with (its python_model, code_paths or pickle), which
    whoever can write to the store could have replaced: none of it is loaded."""
    import mlflow.pyfunc

    from ..tracking.model import model_directory, save_generator_model, without_type_hint_warning

    local = Path(model_directory(model_uri))  # runs:/ and models:/ from the tracking store, fetched here
    if not local.is_dir():
        raise ModelFileError(f"{model_uri}: no such model directory")
    found = sorted(local.glob("artifacts/*.keras"))
    if not found:
        raise ModelFileError(
            f"{model_uri}: the model holds no .keras generator; expected artifacts/<name>.keras, as "
            "fashiongan logs a generator"
        )
    directory = Path(tempfile.mkdtemp(prefix="fashiongan-serve-"))
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    with without_type_hint_warning():
        save_generator_model(found[0], directory / "generator", _class_names(local))
        return mlflow.pyfunc.load_model(str(directory / "generator"))


def build_app(model_uri: str, max_rows: int):
    from fastapi.responses import HTMLResponse
    from mlflow.pyfunc import scoring_server

    from .report import TEMPLATES

    try:
        model = served_model(model_uri)
    except ModelFileError as e:  # names the URI and the store
        raise ConfigError(f"--model: {e}") from None
    except Exception as e:  # MLflow raises several kinds for a bad URI; the first line names it
        raise ConfigError(f"--model: cannot load {model_uri!r}: {str(e).splitlines()[0]}") from None
    generator = model.unwrap_python_model()
    app = scoring_server.init(model)
    page = TEMPLATES.get_template("serve.html.j2").render(
        class_names=generator.class_names if generator.conditional else [],
        conditional=generator.conditional,
        max_rows=max_rows,
        latent_dim=generator.latent_dim,
        model_uri=model_uri,
    )
    app.add_api_route("/", lambda: HTMLResponse(page), methods=["GET"], include_in_schema=False)
    return Guarded(app, RequestCheck(generator, max_rows)), generator


def serve(model_uri: str | None, host: str, port: int, max_rows: int) -> None:
    import uvicorn

    model_uri = model_uri or latest_model_uri()
    app, generator = build_app(model_uri, max_rows)
    kind = f"conditional ({generator.classes} classes)" if generator.conditional else "unconditional"
    print(
        f"serve: {model_uri} (its .keras generator, with this fashiongan's model code), {kind}, "
        f"latent_dim {generator.latent_dim}, at most {max_rows} rows per request, "
        f"on http://{host}:{port}/invocations; a page to try it: http://{host}:{port}/",
        flush=True,
    )
    uvicorn.run(app, host=host, port=port, log_level="warning")
