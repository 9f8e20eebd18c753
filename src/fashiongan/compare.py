"""`fashiongan compare`: the latest MLflow runs side by side, best FID first."""

from __future__ import annotations

COLUMNS = [  # (header, where in the run, format)
    ("run", "name", "{}"),
    ("arch", "params.model.arch", "{}"),
    ("cond", "params.model.conditional", "{}"),
    ("loss", "params.train.loss", "{}"),
    ("lr", "params.train.learning_rate", "{}"),
    ("epochs", "params.train.epochs", "{}"),
    ("FID", "metrics.eval.fid", "{:.2f}"),
    ("FID real", "metrics.eval.fid_real", "{:.2f}"),
    ("KID", "metrics.eval.kid", "{:.4f}"),
    ("P", "metrics.eval.precision", "{:.3f}"),
    ("R", "metrics.eval.recall", "{:.3f}"),
    ("train s", "metrics.train.train_seconds", "{:.0f}"),
    ("status", "status", "{}"),
]


def run_rows(runs) -> list[list[str]]:
    """One row of strings per mlflow Run, in COLUMNS order ('-' where a value is missing)."""
    rows = []
    for run in runs:
        fields = {"name": run.info.run_name, "status": run.info.status,
                  **{f"params.{k}": v for k, v in run.data.params.items()},
                  **{f"metrics.{k}": v for k, v in run.data.metrics.items()}}
        rows.append(["-" if fields.get(key) is None else fmt.format(fields[key]) for _, key, fmt in COLUMNS])
    return rows


def format_table(rows: list[list[str]], markdown: bool = False) -> str:
    headers = [header for header, _, _ in COLUMNS]
    if markdown:
        lines = [headers, ["---"] * len(headers), *rows]
        return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)
    widths = [max(len(cells[i]) for cells in [headers, *rows]) for i in range(len(headers))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(cells, widths)).rstrip() for cells in [headers, *rows])


def compare(experiment: str, max_runs: int, markdown: bool) -> str:
    from . import tracking

    runs = tracking.latest_runs(experiment, max_runs)
    if not runs:
        return f"no runs in MLflow experiment {experiment!r} at {tracking.masked(tracking.tracking_uri())}"
    # best first among the latest: runs without an FID (unfinished, failed) go last
    runs = sorted(runs, key=lambda r: r.data.metrics.get("eval.fid", float("inf")))
    return format_table(run_rows(runs), markdown)
