"""`fashiongan report` (`make report`): reports/index.html comparing experiments (use/report.py)."""

from __future__ import annotations

from pathlib import Path

from ..params import load
from .common import MAX_RUNS, MAX_RUNS_WHY, int_in, store_errors_in_one_line


def add_parser(subcommands) -> None:
    rep = subcommands.add_parser(
        "report",
        help="write reports/index.html comparing experiments, viewable offline",
        description=(
            "Write reports/index.html: the DVC experiments of the workspace (what `dvc exp show` lists, the "
            "workspace included), or with --mlflow-runs N the latest N MLflow runs: one table per ruler, "
            "one row per recipe (seeds grouped: mean ± std), the params that differ and the key metrics "
            "(best mean FID first, each beside its real-data reference), sample "
            "grids side by side, FID by images seen overlaid; then the workspace's run in detail. "
            "Images are inlined: the file opens with no network."
        ),
    )
    rep.add_argument(
        "--mlflow-runs",
        type=int_in(0, MAX_RUNS, MAX_RUNS_WHY),
        default=0,
        metavar="N",
        help="compare the latest N MLflow runs instead of the DVC experiments",
    )
    rep.add_argument("--params", default="params.yaml", help="params file naming the MLflow experiment")
    rep.set_defaults(func=run)


def run(args) -> None:
    from ..use.report import write_report

    if not args.mlflow_runs:
        print(f"report: {write_report(Path('.'))}")
        return
    experiment = load(args.params, check_data=False).tracking.experiment
    with store_errors_in_one_line():
        print(f"report: {write_report(Path('.'), args.mlflow_runs, experiment)}")
