"""What each `fashiongan` command runs: a stage, or a user command's body, imported only when it
runs (so `validate`, `prepare`, `ui` and `--help` never import TensorFlow)."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

from .errors import ConfigError, MissingInput
from .params import load
from .paths import PARAMS_VALID
from .runtime import quiet_tensorflow

NO_TENSORFLOW = ("validate", "prepare")  # numpy only: importing TensorFlow would cost them seconds each
DVC_YAML = Path("dvc.yaml")


def lazy(target: str, tensorflow: bool = False):
    """The command body "module:function", imported when its command runs, not when the parser is built:
    validate, prepare, ui, server and every --help must not wait seconds for TensorFlow."""
    module, function = target.split(":")

    def run(args):
        if tensorflow:
            quiet_tensorflow()
        getattr(importlib.import_module(module), function)(args)

    return run


def missing_input(stage: str) -> str | None:
    """The first of `stage`'s deps in dvc.yaml that another stage makes and that is not made yet, as a line
    saying how to make it; None when all are there, or when no dvc.yaml is here to say (a stage run in a
    directory of its own). validate's marker is not asked for: every stage checks params.yaml itself."""
    if not DVC_YAML.is_file():
        return None
    from ruamel.yaml import YAML

    stages = YAML(typ="safe", pure=True).load(DVC_YAML.read_text())["stages"]
    made_by = {
        next(iter(out)) if isinstance(out, dict) else out: name  # `- path` or `- path: {cache: false}`
        for name, spec in stages.items()
        for kind in ("outs", "metrics", "plots")
        for out in spec.get(kind) or []
    }
    for dep in stages.get(stage, {}).get("deps") or []:
        if dep in made_by and dep != str(PARAMS_VALID) and not Path(dep).exists():
            return (
                f"{dep}: missing; the {made_by[dep]} stage makes it: run `dvc repro {made_by[dep]}` first "
                "(or `dvc repro`: the whole pipeline)"
            )
    return None


def stage(args) -> None:
    cfg = load(args.params)
    # before the stage runs: otherwise a FileNotFoundError's traceback, after some outputs are written
    missing = missing_input(args.command)
    if missing:
        raise MissingInput(missing)
    if args.command not in NO_TENSORFLOW:
        quiet_tensorflow()
    importlib.import_module(f".stages.{args.command}", __package__).run(cfg)


def server(args) -> None:
    from .tracking.server import server

    srv = server(
        Path.cwd(),
        args.host,
        args.port,
        auth=args.auth,
        default_permission=args.default_permission,
        allowed_hosts=args.allowed_hosts,
        cors_allowed_origins=args.cors_allowed_origins,
    )
    shown = list(srv.command[2:])
    if "--allowed-hosts" in shown:  # dozens of patterns: the notes say what they allow
        at = shown.index("--allowed-hosts") + 1
        shown[at] = f"<{shown[at].count(',') + 1} patterns>"
    lines = [" ".join(shown), *srv.notes, f"export MLFLOW_TRACKING_URI={srv.url}"]
    print("\n".join(f"server: {line}" for line in lines), flush=True)
    os.execve(srv.command[0], srv.command, srv.env)  # the server gets our signals and exit status


def serve(args) -> None:
    if args.max_rows <= 0:
        raise ConfigError(f"--max-rows: got {args.max_rows}, expected a positive int")
    from .use.serve import serve

    quiet_tensorflow()
    serve(args.model, args.host, args.port, args.max_rows)


def _store_errors_in_one_line():
    """MLflow's failures to read the runs, an unreachable store first of all, as one line naming the store;
    importing tracking.store bounds MLflow's HTTP retries to seconds."""
    from .tracking.outage import one_line_errors
    from .tracking.store import tracking_uri

    return one_line_errors(tracking_uri())


def report(args) -> None:
    from .use.report import write_report

    if not args.mlflow_runs:
        print(f"report: {write_report(Path('.'))}")
        return
    experiment = load(args.params, check_data=False).tracking.experiment
    with _store_errors_in_one_line():
        print(f"report: {write_report(Path('.'), args.mlflow_runs, experiment)}")


def compare(args) -> None:
    from .use.compare import compare

    experiment = args.experiment or load(args.params, check_data=False).tracking.experiment
    with _store_errors_in_one_line():
        print(compare(experiment, args.max_runs, args.markdown))


def tracking_sync(args) -> None:
    from .tracking.sync import sync_saved

    cfg = load(args.params, check_data=False)
    register_as = cfg.tracking.experiment if cfg.tracking.register_model else None
    print(sync_saved(cfg.tracking.enabled, register_as, cfg.data.class_names))
