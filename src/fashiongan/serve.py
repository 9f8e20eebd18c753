"""`fashiongan serve` (what `make serve` runs): a logged generator over HTTP with MLflow's own
scoring server, as `mlflow models serve --env-manager local` builds it (the same /invocations,
/ping and /version), run in this process by uvicorn's Python API, so no `uvicorn` on PATH is needed.

One thing is added in front of MLflow's handler: a request body is checked against the model's
contract first, so that a malformed one gets HTTP 400 with one line naming the field. MLflow's own
answer to it is the server's stack trace, or the whole input echoed back.

    curl -s localhost:5001/invocations -H 'Content-Type: application/json' \
         -d '{"inputs": {"z": [[0.1, ...100 numbers...]], "label": [7]}}'
"""

from __future__ import annotations

import json
import warnings

from .errors import ConfigError, MissingInput
from .paths import RUN_FILE

EXAMPLE = '{"inputs": {"z": [[...latent_dim numbers...]], "label": [7]}}'


def latest_model_uri() -> str:
    """The generator of the pipeline's latest run (reports/train/run.json)."""
    if not RUN_FILE.is_file():
        raise MissingInput(f"{RUN_FILE}: no training run yet; run `dvc repro` or pass --model runs:/<id>/generator")
    return f"runs:/{json.loads(RUN_FILE.read_text())['run_id']}/generator"


def request_problem(body: bytes, generator) -> str | None:
    """One line naming what is wrong with an /invocations JSON body, or None when the model takes it.
    `generator` is the logged pyfunc model (mlflow_model.Generator), whose checks these are."""
    try:
        request = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        return f"body: not JSON ({e.msg if hasattr(e, 'msg') else 'not UTF-8'}); expected {EXAMPLE}"
    inputs = request.get("inputs") if isinstance(request, dict) else None
    if not isinstance(inputs, dict):
        return f"inputs: missing or not an object; expected {EXAMPLE}"
    try:
        generator.checked_inputs(inputs)
    except ValueError as e:
        return str(e)
    return None


def build_app(model_uri: str):
    import mlflow.pyfunc
    from fastapi import Request
    from fastapi.responses import JSONResponse
    from mlflow.pyfunc import scoring_server

    from .tracking import tracking_uri

    mlflow.set_tracking_uri(tracking_uri())
    try:
        with warnings.catch_warnings():
            # The signature is logged, so predict needs no type hints. MLflow shows this warning under
            # its own "once" filter, which overrides an "ignore" filter: drop it where it is shown.
            show = warnings.showwarning
            warnings.showwarning = lambda message, *args, **kwargs: None if "type hints to the `predict`" in str(
                message) else show(message, *args, **kwargs)
            model = mlflow.pyfunc.load_model(model_uri)
    except Exception as e:  # MLflow raises several kinds for a bad URI; the first line names it
        raise ConfigError(f"--model: cannot load {model_uri!r}: {str(e).splitlines()[0]}") from None
    generator = model.unwrap_python_model()
    if not hasattr(generator, "checked_inputs"):
        raise ConfigError(f"--model: {model_uri} was logged by an earlier fashiongan whose model does not check "
                          "requests; `dvc repro -f evaluate` logs the generator again")
    app = scoring_server.init(model)

    @app.middleware("http")
    async def reject_malformed(request: Request, call_next):
        if request.url.path == "/invocations" and request.method == "POST" \
                and request.headers.get("content-type", "").startswith("application/json"):
            problem = request_problem(await request.body(), generator)
            if problem:
                return JSONResponse({"error_code": "BAD_REQUEST", "message": problem}, status_code=400)
        return await call_next(request)

    return app, generator


def serve(model_uri: str | None, host: str, port: int) -> None:
    import uvicorn

    model_uri = model_uri or latest_model_uri()
    app, generator = build_app(model_uri)
    kind = f"conditional ({generator.classes} classes)" if generator.conditional else "unconditional"
    print(f"serve: {model_uri}, {kind}, latent_dim {generator.latent_dim}, on http://{host}:{port}/invocations",
          flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")
