"""What each `fashiongan` command runs: a stage, or a user command's body, imported only when it
runs (so `validate`, `prepare`, `ui` and `--help` never import TensorFlow)."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

from .errors import ConfigError
from .params import load
from .runtime import quiet_tensorflow

NO_TENSORFLOW = ("validate", "prepare")  # numpy only: importing TensorFlow would cost them seconds each


def lazy(target: str, tensorflow: bool = False):
    """The command body "module:function", imported when its command runs, not when the parser is built:
    validate, prepare, ui, server and every --help must not wait seconds for TensorFlow."""
    module, function = target.split(":")

    def run(args):
        if tensorflow:
            quiet_tensorflow()
        getattr(importlib.import_module(module), function)(args)

    return run


def stage(args) -> None:
    cfg = load(args.params)
    if args.command not in NO_TENSORFLOW:
        quiet_tensorflow()
    importlib.import_module(f".stages.{args.command}", __package__).run(cfg)


def server(args) -> None:
    from .tracking.store import server_command

    command, env = server_command(Path.cwd(), args.host, args.port)
    print(
        f"server: {' '.join(command[2:])}\nserver: export MLFLOW_TRACKING_URI=http://{args.host}:{args.port}",
        flush=True,
    )
    os.execve(command[0], command, env)  # the server gets our signals and exit status


def serve(args) -> None:
    if args.max_rows <= 0:
        raise ConfigError(f"--max-rows: got {args.max_rows}, expected a positive int")
    from .use.serve import serve

    quiet_tensorflow()
    serve(args.model, args.host, args.port, args.max_rows)


def report(args) -> None:
    from .use.report import write_report

    if args.mlflow_runs < 0:
        raise ConfigError(f"--mlflow-runs: got {args.mlflow_runs}, expected a positive int")
    experiment = load(args.params, check_data=False).tracking.experiment if args.mlflow_runs else ""
    print(f"report: {write_report(Path('.'), args.mlflow_runs, experiment)}")


def compare(args) -> None:
    from .use.compare import compare

    experiment = args.experiment or load(args.params, check_data=False).tracking.experiment
    print(compare(experiment, args.max_runs, args.markdown))


def tracking_sync(args) -> None:
    from .tracking.sync import sync_saved

    cfg = load(args.params, check_data=False)
    register_as = cfg.tracking.experiment if cfg.tracking.register_model else None
    print(sync_saved(cfg.tracking.enabled, register_as, cfg.data.class_names))
