"""`fashiongan compare`: the latest MLflow training runs side by side, each once per evaluation of its
generator; one table per ruler (the newest run's first), one row per recipe and evaluation (runs whose params
differ only in `seed`, trained with the same code and data, evaluated alike), best mean FID first."""

from __future__ import annotations

from ..evaluation.inception import RULER as INCEPTION
from .ranking import Experiment, Recipe, RulerTable, ruler_tables

FID = "eval.fid"  # MLflow's name of the FID that ranks the rows
COLUMNS = [  # (header, where in the recipe, format)
    ("run", "names", "{}"),
    ("seeds", "seeds", "{}"),
    ("code", "code", "{}"),
    ("n", "identity.evaluate.n", "{}"),
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


# The evaluation params and tags that, beside the ruler, tell two evaluations of one recipe apart
EVALUATION_IDENTITY = ("evaluate.n", "sample.n", "sample.seed", "evaluate_code")


def run_experiment(run, evaluation=None) -> Experiment:
    """A training run (an mlflow Run) as an Experiment, with one `evaluation` of its generator (an mlflow
    Run, tracking/evaluation.py): the training run's params and train.* metrics, the evaluation's eval.*
    metrics and ruler, and what identifies both (code digest, git state, evaluation params). With no
    evaluation: the training run alone (its eval.* metrics, if evaluate logged them into it as fashiongan
    did before evaluations had runs of their own)."""
    tags, measured = run.data.tags, evaluation or run
    metrics = {k: v for k, v in run.data.metrics.items() if not k.startswith("eval.")}
    # an evaluation on the Inception ruler names its metrics inception.*: its own ruler's table shows them
    # in the same columns, never beside the project ruler's numbers
    metrics |= {
        f"eval.{k.partition('.')[2]}": v
        for k, v in measured.data.metrics.items()
        if k.startswith("eval.") or (evaluation and k.startswith("inception."))
    }
    held = measured.data.params | measured.data.tags
    evaluated = {key: held[key] for key in EVALUATION_IDENTITY if key in held}
    return Experiment(
        run.info.run_name or run.info.run_id[:8],
        dict(run.data.params),
        metrics,
        ruler=measured.data.tags.get("ruler") if evaluation else tags.get("ruler"),
        status=run.info.status,
        identity={"code": tags.get("train.inputs_digest"), "git_dirty": tags.get("git_dirty")} | evaluated,
    )


def code_cell(identities: list[dict]) -> str:
    """The digest of train's code and data the row's runs share ('?' where not recorded), marked where the
    working tree differed from the commit the runs name."""
    identity = identities[0]
    dirty = " (uncommitted)" if any(i.get("git_dirty") == "true" for i in identities) else ""
    return f"{(identity.get('code') or '?')[:8]}{dirty}"


def markdown_cell(text: str) -> str:
    """A cell's text inside a Markdown table: a `|` would end the cell."""
    return text.replace("\\", "\\\\").replace("|", "\\|")


def recipe_row(table: RulerTable, recipe: Recipe) -> list[str]:
    """One row of strings per recipe, in COLUMNS order: params as its runs share them, each metric as
    mean ± std over seeds ('-' where a value is missing)."""
    facts = {
        "names": ", ".join(recipe.names),
        "seeds": recipe.seeds_text,
        "spread": table.spread_cell(recipe),
        "status": ", ".join(dict.fromkeys(e.status for e in recipe.experiments)),
        "code": code_cell([e.identity for e in recipe.experiments]),
    }
    row = []
    for _, key, fmt in COLUMNS:
        kind, _, name = key.partition(".")
        if kind in ("params", "identity"):
            value = getattr(recipe.experiments[0], kind).get(name)
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
        return "\n".join("| " + " | ".join(map(markdown_cell, cells)) + " |" for cells in lines)
    widths = [max(len(cells[i]) for cells in [headers, *rows]) for i in range(len(headers))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(cells, widths)).rstrip() for cells in [headers, *rows]
    )


def runs_text(experiments: list[Experiment], markdown: bool = False) -> str:
    """The experiments (newest first) as one table per ruler, each under its heading, above its seed-spread
    note; the newest run's project ruler first (the Inception one, opt-in, after it)."""
    first = next((e.ruler for e in experiments if e.ruler != INCEPTION), experiments[0].ruler)
    tables = ruler_tables(experiments, first, FID)
    return "\n\n".join(
        f"{table.heading(i == 0)}\n\n"
        f"{format_table([recipe_row(table, recipe) for recipe in table.recipes], markdown)}\n\n"
        f"{table.note}"
        for i, table in enumerate(tables)
    )


def compare(experiment: str, max_runs: int, markdown: bool) -> str:
    from ..tracking.outage import masked
    from ..tracking.store import tracking_uri

    experiments = mlflow_experiments(experiment, max_runs)
    if not experiments:
        return f"no runs in MLflow experiment {experiment!r} at {masked(tracking_uri())}"
    return runs_text(experiments, markdown)


def evaluated_runs(experiment: str, max_runs: int) -> list[tuple[object, object | None]]:
    """The latest `max_runs` training runs of the MLflow experiment, newest first, each paired with each
    finished evaluation of its generator (newest first), or with None where it has none."""
    from mlflow.tracking import MlflowClient

    from ..tracking.evaluation import evaluations_of
    from ..tracking.store import latest_runs, tracking_uri

    runs = latest_runs(experiment, max_runs)
    if not runs:
        return []
    evaluations = evaluations_of(
        MlflowClient(tracking_uri()), runs[0].info.experiment_id, [run.info.run_id for run in runs]
    )
    return [(run, evaluation) for run in runs for evaluation in evaluations.get(run.info.run_id) or [None]]


def mlflow_experiments(experiment: str, max_runs: int) -> list[Experiment]:
    return [run_experiment(run, evaluation) for run, evaluation in evaluated_runs(experiment, max_runs)]
