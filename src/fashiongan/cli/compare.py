"""`fashiongan compare`: the latest MLflow runs ranked, one table per ruler (use/compare.py)."""

from __future__ import annotations

from ..params import load
from .common import MAX_RUNS, MAX_RUNS_WHY, int_in, store_errors_in_one_line


def add_parser(subcommands) -> None:
    cmp = subcommands.add_parser(
        "compare",
        help=(
            "the latest MLflow runs: one table per ruler, seeds of one recipe in one row, best mean FID first"
        ),
        description=(
            "The latest MLflow training runs of the experiment, each once per evaluation of its generator: "
            "one table per ruler (the newest run's first; runs measured with another ruler are never ranked "
            "with it), one row per recipe and evaluation (runs whose params differ only in seed, trained "
            "with the same code and data, evaluated with the same n, sample seed and evaluate code: each "
            "metric as mean ± sample std over seeds), best mean FID first; rows within the seed spread of "
            "the best are marked. Columns code (digest of train's code and data; 'uncommitted' where the "
            "working tree differed from the commit) and n (images per side)."
        ),
    )
    cmp.add_argument(
        "--params", default="params.yaml", help="params file naming the experiment (default: params.yaml)"
    )
    cmp.add_argument(
        "--experiment", help="MLflow experiment (default: tracking.experiment in the params file)"
    )
    cmp.add_argument(
        "--max-runs",
        type=int_in(1, MAX_RUNS, MAX_RUNS_WHY),
        default=20,
        help="how many of the latest runs (default 20)",
    )
    cmp.add_argument("--markdown", action="store_true", help="a Markdown table, for README and PRs")
    cmp.set_defaults(func=run)


def run(args) -> None:
    from ..use.compare import compare

    experiment = args.experiment or load(args.params, check_data=False).tracking.experiment
    with store_errors_in_one_line():
        print(compare(experiment, args.max_runs, args.markdown))
