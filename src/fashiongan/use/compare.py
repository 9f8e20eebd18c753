"""`fashiongan compare`: the latest MLflow runs side by side, one table per ruler (the newest run's first),
one row per recipe (runs whose params differ only in `seed`), best mean FID first."""

from __future__ import annotations

from .ranking import Experiment, Recipe, RulerTable, ruler_tables

FID = "eval.fid"  # MLflow's name of the FID that ranks the rows
COLUMNS = [  # (header, where in the recipe, format)
    ("run", "names", "{}"),
    ("seeds", "seeds", "{}"),
    ("arch", "params.model.arch", "{}"),
    ("cond", "params.model.conditional", "{}"),
    ("loss", "params.train.loss", "{}"),
    ("lr", "params.train.learning_rate", "{}"),
    ("epochs", "params.train.epochs", "{}"),
    ("FID", f"metrics.{FID}", "{:.2f}"),
    ("FID real", "metrics.eval.fid_real", "{:.2f}"),
    ("KID", "metrics.eval.kid", "{:.4f}"),
    ("P", "metrics.eval.precision", "{:.3f}"),
    ("R", "metrics.eval.recall", "{:.3f}"),
    ("train s", "metrics.train.train_seconds", "{:.0f}"),
    ("status", "status", "{}"),
    ("seed spread", "spread", "{}"),
]


def run_experiment(run) -> Experiment:
    """An mlflow Run as an Experiment: params and metrics under MLflow's names, the ruler from its tag."""
    return Experiment(
        run.info.run_name or run.info.run_id[:8],
        dict(run.data.params),
        dict(run.data.metrics),
        ruler=run.data.tags.get("ruler"),
        status=run.info.status,
    )


def recipe_row(table: RulerTable, recipe: Recipe) -> list[str]:
    """One row of strings per recipe, in COLUMNS order: params as its runs share them, each metric as
    mean ± std over seeds ('-' where a value is missing)."""
    facts = {
        "names": ", ".join(recipe.names),
        "seeds": recipe.seeds_text,
        "spread": table.spread_cell(recipe),
        "status": ", ".join(dict.fromkeys(e.status for e in recipe.experiments)),
    }
    row = []
    for _, key, fmt in COLUMNS:
        kind, _, name = key.partition(".")
        if kind == "params":
            value = recipe.experiments[0].params.get(name)
            row.append("-" if value is None else fmt.format(value))
        elif kind == "metrics":
            row.append(recipe.text(name, fmt) or "-")
        else:
            row.append(facts[key])
    return row


def format_table(rows: list[list[str]], markdown: bool = False) -> str:
    headers = [header for header, _, _ in COLUMNS]
    if markdown:
        lines = [headers, ["---"] * len(headers), *rows]
        return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)
    widths = [max(len(cells[i]) for cells in [headers, *rows]) for i in range(len(headers))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(cells, widths)).rstrip() for cells in [headers, *rows]
    )


def runs_text(runs, markdown: bool = False) -> str:
    """The runs (newest first) as one table per ruler, each under its heading, above its seed-spread note."""
    experiments = [run_experiment(run) for run in runs]
    tables = ruler_tables(experiments, experiments[0].ruler, FID)
    return "\n\n".join(
        f"{table.heading(i == 0)}\n\n"
        f"{format_table([recipe_row(table, recipe) for recipe in table.recipes], markdown)}\n\n"
        f"{table.note}"
        for i, table in enumerate(tables)
    )


def compare(experiment: str, max_runs: int, markdown: bool) -> str:
    from ..tracking.outage import masked
    from ..tracking.store import latest_runs, tracking_uri

    runs = latest_runs(experiment, max_runs)
    if not runs:
        return f"no runs in MLflow experiment {experiment!r} at {masked(tracking_uri())}"
    return runs_text(runs, markdown)
