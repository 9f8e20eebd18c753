"""`fashiongan tracking sync`: what the MLflow store missed while it was away (tracking/sync.py)."""

from __future__ import annotations

from ..params import load
from .common import PARAMS_HELP


def add_parser(subcommands) -> None:
    trk = subcommands.add_parser(
        "tracking",
        help="MLflow housekeeping: `tracking sync` re-sends metrics after an outage",
        description="MLflow housekeeping.",
    )
    trk.add_argument(
        "action", choices=["sync"], help="sync: send the metrics the store missed while it was away"
    )
    trk.add_argument("--params", default="params.yaml", help=PARAMS_HELP)
    trk.set_defaults(func=run)


def run(args) -> None:
    from ..tracking.sync import sync_saved

    cfg = load(args.params, check_data=False)
    register_as = cfg.tracking.experiment if cfg.tracking.register_model else None
    print(sync_saved(cfg.tracking.enabled, register_as, cfg.data.class_names))
