"""`fashiongan serve` (`make serve`): a logged generator over HTTP, every request checked first
(use/serve.py, use/limits.py)."""

from __future__ import annotations

from ..errors import ConfigError
from ..runtime import quiet_tensorflow


def add_parser(subcommands) -> None:
    srv_model = subcommands.add_parser(
        "serve",
        help="serve a logged generator over HTTP (MLflow's scoring server: POST /invocations)",
        description=(
            "Serve a generator logged to MLflow with MLflow's scoring server (what `mlflow models serve "
            "--env-manager local` runs), checking each request first: a malformed body gets HTTP 400, more "
            "images than --max-rows 413, a Content-Type other than application/json or "
            "application/vnd.apache.parquet 415, each with one line naming the culprit. By meaning: "
            '{"inputs": {}, "params": {"class": "sneaker", "n": 16, "seed": 3, "psi": 0.7, "format": "png"}} '
            '(also seed_to: an interpolation strip); by rows: {"inputs": {"z": [[...latent_dim numbers...]], '
            '"label": [7]}} or a Parquet DataFrame with those columns. Answer: {"predictions": images (n, 28, '
            "28, 1) in [-1, 1]}, the same as one base64 .npy file (format npy), or base64 PNGs (format png, grid). "
            "Only the model's .keras generator is loaded, never code from the store. GET / answers a page to try "
            "the generator in."
        ),
    )
    srv_model.add_argument(
        "--model",
        help="model URI: runs:/<id>/generator, models:/<name>/<version>, models:/<name>@champion, or a "
        "model directory (default: the generator of reports/train/run.json's run)",
    )
    srv_model.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    srv_model.add_argument("--port", type=int, default=5001, help="port (default 5001)")
    # 1024 rows of the default DCGAN take about 6 s and 230 MB in the server on 2 CPU cores and answer 19 MB
    # of JSON, well inside MLflow's 60 s request timeout (20,000 rows took 64 s and 3.7 GB, then a 504)
    srv_model.add_argument(
        "--max-rows",
        type=int,
        default=1024,
        help="most images one request may ask for (params n, or rows of z); more get HTTP 413 (default 1024)",
    )
    srv_model.set_defaults(func=run)


def run(args) -> None:
    if args.max_rows <= 0:
        raise ConfigError(f"--max-rows: got {args.max_rows}, expected a positive int")
    from ..use.serve import serve

    quiet_tensorflow()
    serve(args.model, args.host, args.port, args.max_rows)
