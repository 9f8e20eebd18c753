"""`fashiongan ui` (`make ui`): `mlflow ui` on the repo's store (use/ui.py)."""

from __future__ import annotations


def add_parser(subcommands) -> None:
    ui = subcommands.add_parser(
        "ui",
        help="browse the repo's MLflow store (mlflow ui); prints the URL of the experiment's runs",
        description=(
            "Run `mlflow ui` on the repo's embedded store (mlflow.db, mlruns/), one worker, and print the "
            "URL that opens the experiment of params.yaml on its training runs (MLflow's own links open "
            'it on the GenAI overview in a browser that has not chosen "Model training").'
        ),
    )
    ui.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    ui.add_argument("--port", type=int, default=5000, help="port (default 5000)")
    ui.add_argument("--params", default="params.yaml", help="params file naming the MLflow experiment")
    ui.set_defaults(func=run)


def run(args) -> None:
    from ..use.ui import command

    command(args)
