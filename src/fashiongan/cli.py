"""`fashiongan <stage>` (what dvc.yaml runs); `generate`, `explore`, `serve`, `compare`, `report`, `ui`,
`server`, `ruler`, `fid` and `tracking sync` (for users). This module holds the parser and the error contract;
each command's body lives in its own module, imported when the command runs.

Errors a user can cause (errors.FashionGanError) end in one line on stderr naming the culprit and
a non-zero exit: 2 for bad params or arguments, 1 for bad data, model files, tracking or diverged
training; 130 / 143 for Ctrl-C / SIGTERM. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from . import commands
from .errors import FashionGanError
from .paths import GENERATOR
from .use import fid
from .use.generate import MAX_IMAGES

STAGES = {
    "validate": "check params.yaml before any stage runs (a bad value stops dvc repro with outputs intact)",
    "prepare": (
        "read and check data.source's IDX files (Fashion-MNIST: found and verified), write data/prepared/"
    ),
    "classifier": (
        "the ruler of every metric (shipped for Fashion-MNIST, else trained), cache real-data features"
    ),
    "reference": "score real training images against the test set: each metric's real-data reference",
    "train": "train the GAN (resumes from models/checkpoints when interrupted), log to MLflow",
    "sample": "generate sample.n images from a fixed seed and a 10x10 grid",
    "evaluate": "FID against the test set beside the real-data floor -> reports/metrics.json",
    "inception_reference": "opt-in (inception.n > 0): the test set's Inception features and real-data floor",
    "inception": "opt-in (inception.n > 0): the Inception FID and KID papers print -> reports/inception.json",
}


MODEL_HELP = (
    f"generator: a .keras file (default {GENERATOR}), runs:/<id>/generator or models:/<name>/<version>"
)

# The most runs one MLflow search returns (mlflow.store.tracking.SEARCH_MAX_RESULTS_THRESHOLD, not imported:
# --help must not wait for MLflow); it refuses to search for more
MAX_RUNS = 50_000

_exit_code_for_interrupt = 130


def _on_sigterm(signum, frame):
    global _exit_code_for_interrupt
    _exit_code_for_interrupt = 143
    raise KeyboardInterrupt


class _Parser(argparse.ArgumentParser):
    """argparse's parser, whose refusal of an argument is the error contract's one line and exit 2
    (`fashiongan explore: --seed: got -1, expected an integer >= 0`), not a usage line and an "error:" line."""

    def error(self, message):
        self.exit(2, f"{self.prog}: {message.removeprefix('argument ')}\n")


def int_in(low: int, high: int | None = None, why: str = ""):
    """An argparse type: an integer from `low` to `high` (None: no bound above)."""
    expected = f"an integer >= {low}" if high is None else f"an integer from {low} to {high}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"got {text}, expected {expected}{why}")
        return value

    return parse


def _file_above(path: Path) -> Path | None:
    """An existing file at `path` or among its parents: where no directory can be made."""
    return next((p for p in (path, *path.parents) if p.exists() and not p.is_dir()), None)


def output_directory(text: str) -> str:
    """An argparse type: a directory to write into, made if missing (so not below an existing file)."""
    taken = _file_above(Path(text))
    if taken:
        raise argparse.ArgumentTypeError(
            f"got {text}, but {taken} is a file; expected a directory (made if missing)"
        )
    return text


def output_png(text: str) -> str:
    """An argparse type: a PNG file to write, replaced if it exists (so not a directory)."""
    if Path(text).is_dir():
        raise argparse.ArgumentTypeError(f"got {text}, a directory; expected the path of a PNG file")
    taken = _file_above(Path(text).parent)
    if taken:
        raise argparse.ArgumentTypeError(f"got {text}, but {taken} is a file; expected a directory there")
    return text


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="fashiongan",
        description=(
            "GANs on Fashion-MNIST: DVC pipeline stages and a generator CLI. "
            "Run the whole pipeline with `dvc repro`; each stage is also `fashiongan <stage>`."
        ),
        epilog=(
            "exit codes: 0 done; 2 bad params or arguments; 1 bad data, model file, tracking store or a "
            "diverged run (one line naming the culprit); 130 / 143 Ctrl-C / SIGTERM. Any other error is a "
            "bug and prints its traceback."
        ),
    )
    subcommands = parser.add_subparsers(dest="command", required=True, metavar="command")
    for name, text in STAGES.items():
        stage = subcommands.add_parser(name, help=text, description=text)
        stage.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
        stage.set_defaults(func=commands.stage)
    gen = subcommands.add_parser(
        "generate",
        help="draw images from a saved generator into a PNG grid",
        description="Draw images from a saved generator into a PNG grid.",
    )
    gen.add_argument("--model", default=str(GENERATOR), help=MODEL_HELP)
    gen.add_argument(
        "--class",
        dest="label",
        help="class name (e.g. sneaker, from data.class_names) or index; conditional models (without it, "
        "every class in turn, in equal shares: a model file does not know its training set's shares)",
    )
    gen.add_argument(
        "--params", default="params.yaml", help="params file naming the classes (default: params.yaml)"
    )
    gen.add_argument("--n", type=int, default=16, help=f"number of images (default 16, at most {MAX_IMAGES})")
    gen.add_argument("--seed", type=int_in(0), default=0, help="latent seed (default 0)")
    gen.add_argument(
        "--psi", type=float, default=1.0, help="truncation in (0, 1]: z scaled by psi (default 1: none)"
    )
    gen.add_argument(
        "--out", type=output_png, default="generated.png", help="output PNG (default generated.png)"
    )
    gen.set_defaults(func=commands.lazy("fashiongan.use.generate:command", tensorflow=True))
    exp = subcommands.add_parser(
        "explore",
        help="figures of what a generator learned: interpolations, class morph, truncation trade-off",
        description=(
            "Write into --out: interpolation.png (rows of spherical interpolations between random "
            "latents) and interpolation.gif (the same, animated); class_morph.png (conditional "
            "generators: one latent, the class embedding moved from each class to the next); "
            "truncation.png and truncation.json (grids at truncation psi 1.0 / 0.7 / 0.5 with the FID "
            "and recall of each on 2000 samples, in the pipeline classifier's feature space)."
        ),
    )
    exp.add_argument("--model", default=str(GENERATOR), help=MODEL_HELP)
    exp.add_argument(
        "--out", type=output_directory, default="explore", help="output directory (default explore)"
    )
    exp.add_argument("--seed", type=int_in(0), default=0, help="latent seed (default 0)")
    exp.set_defaults(func=commands.lazy("fashiongan.use.explore:command", tensorflow=True))
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
        type=int_in(1, MAX_RUNS, " (the most runs one MLflow search returns)"),
        default=20,
        help="how many of the latest runs (default 20)",
    )
    cmp.add_argument("--markdown", action="store_true", help="a Markdown table, for README and PRs")
    cmp.set_defaults(func=commands.compare)
    rul = subcommands.add_parser(
        "ruler",
        help="make a ruler (the feature network of every metric) or check one against its card",
        description=(
            "make OUT: train a ruler on data/prepared/ as params.yaml says (seed, classifier.*), save it "
            "without optimizer state to OUT (rulers/<name>.keras) and its card beside it (OUT with .json: "
            "sha256, how it was made, test accuracy, real-data FID floor and uniform-noise ceiling at "
            "evaluate.n). check [FILE]: measure FILE's card values again on this machine and compare them "
            "to 3 significant digits (default: the shipped Fashion-MNIST ruler). Both need `dvc repro "
            "prepare` first. See docs/ruler.md."
        ),
    )
    rul.add_argument("action", choices=["make", "check"])
    rul.add_argument(
        "file", nargs="?", help="the ruler file (make: required; check: default the shipped one)"
    )
    rul.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    rul.set_defaults(func=commands.lazy("fashiongan.evaluation.card:command", tensorflow=True))
    trk = subcommands.add_parser(
        "tracking",
        help="MLflow housekeeping: `tracking sync` re-sends metrics after an outage",
        description="MLflow housekeeping.",
    )
    trk.add_argument(
        "action", choices=["sync"], help="sync: send the metrics the store missed while it was away"
    )
    trk.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    trk.set_defaults(func=commands.tracking_sync)
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
    ui.set_defaults(func=commands.lazy("fashiongan.use.ui:command"))
    srv = subcommands.add_parser(
        "server",
        help="serve a shared MLflow tracking server (SQLite store, artifacts under the repo)",
        description=(
            "Run `mlflow server` for a team on this repo: backend mlflow-server.db, artifacts in "
            "mlartifacts/ served through the server (clients need no access to the disk), one "
            "worker and no job runner (small-machine settings). Point every user and stage at it "
            "with MLFLOW_TRACKING_URI=http://HOST:PORT. Bound beyond loopback it always runs MLflow's "
            "basic-auth app (users and passwords in mlflow-server-auth.db) and refuses to start "
            "until MLFLOW_AUTH_ADMIN_PASSWORD gives the first admin a password; clients then set "
            "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD. See docs/scaling-out.md for "
            "users, permissions, what stays unprotected, PostgreSQL and S3."
        ),
    )
    srv.add_argument(
        "--host",
        default="127.0.0.1",
        help="interface to bind (default 127.0.0.1; 0.0.0.0 for a team, which turns --auth on)",
    )
    srv.add_argument("--port", type=int, default=5000, help="port (default 5000)")
    srv.add_argument(
        "--auth",
        action="store_true",
        help="require users and passwords on loopback too (always on beyond loopback)",
    )
    srv.add_argument(
        "--default-permission",
        choices=["READ", "NO_PERMISSIONS"],
        default="READ",
        help="what a signed-in user may do with experiments and models they neither created nor were "
        "granted (default READ: the team compares every run; NO_PERMISSIONS: only grants)",
    )
    srv.add_argument(
        "--allowed-hosts",
        help="Host headers to accept, comma-separated, wildcards allowed (beyond loopback default: "
        "localhost, private IPs and this machine's names; passed to mlflow server)",
    )
    srv.add_argument(
        "--cors-allowed-origins",
        help="origins whose web pages may write, comma-separated (beyond loopback default: the "
        "server's own http://NAME:PORT; passed to mlflow server)",
    )
    srv.set_defaults(func=commands.server)
    srv_model = subcommands.add_parser(
        "serve",
        help="serve a logged generator over HTTP (MLflow's scoring server: POST /invocations)",
        description=(
            "Serve a generator logged to MLflow with MLflow's scoring server (what `mlflow models serve "
            "--env-manager local` runs), checking each request first: a malformed body gets HTTP 400, more "
            "images than --max-rows 413, a Content-Type other than application/json or "
            "application/vnd.apache.parquet 415, each with one line naming the culprit. By meaning: "
            '{"inputs": {}, "params": {"class": "sneaker", "n": 16, "seed": 3, "psi": 0.7, "format": "png"}} '
            '(also seed_to: an interpolation strip); by rows: {"inputs": {"z": [[...latent_dim numbers...]], '
            '"label": [7]}} or a Parquet DataFrame with those columns. Answer: {"predictions": images (n, 28, '
            "28, 1) in [-1, 1]}, the same as one base64 .npy file (format npy), or base64 PNGs (format png, grid). "
            "Only the model's .keras generator is loaded, never code from the store. GET / answers a page to try "
            "the generator in."
        ),
    )
    srv_model.add_argument(
        "--model",
        help="model URI: runs:/<id>/generator, models:/<name>/<version>, models:/<name>@champion, or a "
        "model directory (default: the generator of reports/train/run.json's run)",
    )
    srv_model.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    srv_model.add_argument("--port", type=int, default=5001, help="port (default 5001)")
    # 1024 rows of the default DCGAN take about 6 s and 230 MB in the server on 2 CPU cores and answer 19 MB
    # of JSON, well inside MLflow's 60 s request timeout (20,000 rows took 64 s and 3.7 GB, then a 504)
    srv_model.add_argument(
        "--max-rows",
        type=int,
        default=1024,
        help="most images one request may ask for (params n, or rows of z); more get HTTP 413 (default 1024)",
    )
    srv_model.set_defaults(func=commands.serve)
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
        type=int_in(0, MAX_RUNS, " (the most runs one MLflow search returns)"),
        default=0,
        metavar="N",
        help="compare the latest N MLflow runs instead of the DVC experiments",
    )
    rep.add_argument("--params", default="params.yaml", help="params file naming the MLflow experiment")
    rep.set_defaults(func=commands.report)
    fid.add_parser(subcommands, int_in)
    return parser


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        args.func(args)
        return 0
    except FashionGanError as e:
        print(f"fashiongan {args.command}: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        resumes = (
            " (train resumes from its last checkpoint on the next run)" if args.command == "train" else ""
        )
        print(
            f"fashiongan {args.command}: interrupted; previous outputs are intact{resumes}", file=sys.stderr
        )
        return _exit_code_for_interrupt


if __name__ == "__main__":
    sys.exit(main())
