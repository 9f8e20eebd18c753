"""How experiments are ranked, for `fashiongan report` and `fashiongan compare` alike: one table per ruler
(numbers from two rulers are never ranked together), one row per recipe (experiments whose params differ only
in `seed` and whose code, data and evaluation agree: each metric as mean ± std over seeds), best mean FID
first, and the seed spread that tells a win from seed noise."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Experiment:
    """One row of the comparison, wherever it came from."""

    name: str
    params: dict[str, object]  # dotted keys
    metrics: dict[str, float]  # as in reports/metrics.json
    grid: bytes | None = None  # PNG
    fid_curve: list[tuple[float, float]] = field(default_factory=list)  # (images seen, FID)
    ruler: str | None = None  # id of the feature network every metric was measured with; None: not recorded
    status: str = ""  # an MLflow run's status
    # What else decides the numbers besides the params: the digest of train's code and data ("code"), and how
    # the evaluation measured (n, the samples' seed, evaluate's code). Experiments differing here never share a row.
    identity: dict[str, object] = field(default_factory=dict)


def differing_params(experiments: list[Experiment]) -> list[str]:
    """Params keys whose values differ between experiments; `seed` is not a difference of recipe."""
    keys = sorted({key for e in experiments for key in e.params} - {"seed"})
    return [k for k in keys if len({json.dumps(e.params.get(k)) for e in experiments}) > 1]


@dataclass
class Recipe:
    """Experiments on one ruler whose params are equal except `seed`, and whose identities are equal: one
    row, their metrics over seeds."""

    experiments: list[Experiment]

    @property
    def names(self) -> list[str]:
        return [e.name for e in self.experiments]

    @property
    def per_seed(self) -> list[Experiment]:
        """The first experiment of each seed: another one with the same params and seed (the workspace and the
        commit it came from, a re-run) is the same draw again, not one more sample of the seed noise."""
        first: dict[str, Experiment] = {}
        for e in self.experiments:
            first.setdefault(str(e.params.get("seed")), e)  # str: DVC gives 42, MLflow "42"
        return list(first.values())

    @property
    def seeds_text(self) -> str:
        seeds = sorted(
            (str(e.params.get("seed")) for e in self.per_seed), key=lambda s: (len(s), s)
        )  # ints >= 0
        return seeds[0] if len(seeds) == 1 else f"{len(seeds)} ({', '.join(seeds)})"

    def values(self, metric: str) -> list[float]:
        return [e.metrics[metric] for e in self.per_seed if metric in e.metrics]

    def mean(self, metric: str) -> float | None:
        values = self.values(metric)
        return float(np.mean(values)) if values else None

    def text(self, metric: str, fmt: str) -> str | None:
        """Mean ± sample std over seeds, the value alone for one seed; None when no seed has the metric."""
        values = self.values(metric)
        if len(values) < 2:
            return fmt.format(values[0]) if values else None
        return f"{fmt.format(np.mean(values))} ± {fmt.format(np.std(values, ddof=1))}"


def recipes(experiments: list[Experiment], fid: str = "fid") -> list[Recipe]:
    """Experiments grouped by their params except `seed` and by their identity (code, data, evaluation), best
    mean FID first. Those without an FID (failed, unfinished) are rows of their own, last: they are never
    averaged in with finished ones."""
    groups: dict[tuple[str, str, bool], list[Experiment]] = {}
    for e in experiments:
        recipe_params = {k: str(v) for k, v in e.params.items() if k != "seed"}  # str: DVC 42, MLflow "42"
        key = (json.dumps(recipe_params, sort_keys=True), json.dumps(e.identity, sort_keys=True, default=str))
        groups.setdefault((*key, fid in e.metrics), []).append(e)
    grouped = [Recipe(members) for members in groups.values()]
    return sorted(grouped, key=lambda r: r.mean(fid) if fid in r.experiments[0].metrics else float("inf"))


def seed_spread(recipes: list[Recipe], fid: str = "fid") -> float | None:
    """Pooled sample std of FID over the recipes with 2 or more seeds (the square root of their variances'
    mean weighted by degrees of freedom, n - 1 each); None when no recipe has 2 seeds."""
    samples = [values for values in (r.values(fid) for r in recipes) if len(values) >= 2]
    if not samples:
        return None
    variances = sum((len(values) - 1) * np.var(values, ddof=1) for values in samples)
    return float(np.sqrt(variances / sum(len(values) - 1 for values in samples)))


SEED_SPREAD_UNKNOWN = (
    "Seed spread unknown: no recipe here has 2 or more seeds, so an FID difference cannot be told "
    "from seed noise. Measure it: `dvc exp run --queue -S seed=1,2,3 ...` (the recipe's other -S "
    "overrides in place of ...), then `dvc queue start`."
)


def ruler_name(ruler: str | None) -> str:
    return f"ruler {ruler}" if ruler else "an unknown ruler, none recorded"


@dataclass
class RulerTable:
    """The recipes measured with one ruler, best mean FID first, and the seed spread of their FIDs."""

    ruler: str | None
    recipes: list[Recipe]
    sigma: float | None  # seed_spread of the recipes
    fid: str  # the FID's key in Experiment.metrics

    @property
    def experiments(self) -> list[Experiment]:
        return [e for recipe in self.recipes for e in recipe.experiments]

    def heading(self, first: bool) -> str:
        apart = " (see docs/ruler.md)" if first else ", not comparable with the above"
        return f"Measured with {ruler_name(self.ruler)}{apart}; best mean FID first"

    def spread_cell(self, recipe: Recipe) -> str:
        """Marks a row whose mean FID is within sigma of the best row's: a difference that small is no win."""
        best, mean = self.recipes[0].mean(self.fid), recipe.mean(self.fid)
        if recipe is self.recipes[0] or self.sigma is None or mean is None or abs(mean - best) >= self.sigma:
            return ""
        return f"within seed spread of #1 (sigma {self.sigma:.2f})"

    @property
    def note(self) -> str:
        if self.sigma is None:
            return SEED_SPREAD_UNKNOWN
        pooled = sum(len(r.values(self.fid)) >= 2 for r in self.recipes)
        return (
            f"Seed spread sigma {self.sigma:.2f}: the pooled sample std of FID over the {pooled} recipe(s) "
            f"with 2 or more seeds. A row within sigma of #1 is marked: its difference is seed noise, "
            f"not a win."
        )


def ruler_tables(
    experiments: list[Experiment], first_ruler: str | None, fid: str = "fid"
) -> list[RulerTable]:
    """One table per ruler: `first_ruler`'s first (when an experiment has it), the rest as they appear."""
    by_ruler: dict[str | None, list[Experiment]] = {}
    for e in experiments:
        by_ruler.setdefault(e.ruler, []).append(e)
    tables = []
    for ruler in sorted(by_ruler, key=lambda r: r != first_ruler):  # stable: the rest keep their order
        grouped = recipes(by_ruler[ruler], fid)
        tables.append(RulerTable(ruler, grouped, seed_spread(grouped, fid), fid))
    return tables


def most_experiments_ruler(experiments: list[Experiment]) -> str | None:
    return Counter(e.ruler for e in experiments).most_common(1)[0][0] if experiments else None
