"""`fashiongan <stage>` (what dvc.yaml runs); `generate`, `explore`, `serve`, `compare`, `report`, `server`,
`ruler` and `tracking sync` (for users).

Errors a user can cause (errors.FashionGanError) end in one line on stderr naming the culprit and
a non-zero exit: 2 for bad params or arguments, 1 for bad data, model files, tracking or diverged
training; 130 / 143 for Ctrl-C / SIGTERM. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
from pathlib import Path

from .paths import GENERATOR

STAGES = {
    "validate": "check params.yaml before any stage runs (a bad value stops dvc repro with outputs intact)",
    "prepare": "read and check data.source's IDX files (Fashion-MNIST: found and verified), write data/prepared/",
    "classifier": "the ruler of every metric (shipped for Fashion-MNIST, else trained), cache real-data features",
    "reference": "score real training images against the test set: each metric's real-data reference",
    "train": "train the GAN (resumes from models/checkpoints when interrupted), log to MLflow",
    "sample": "generate sample.n images from a fixed seed and a 10x10 grid",
    "evaluate": "FID against the test set beside the real-data floor -> reports/metrics.json",
}

NO_TENSORFLOW = ("validate", "prepare")  # numpy only: importing TensorFlow would cost them seconds each

# A 50x50 grid (4350 px square at save_grid's scale) draws in about 3 s within 1.5 GB, as 1000 images do;
# matplotlib's canvas grows with the grid's area: 10,000 images took 3.4 GB, 100 million would not fit.
MAX_IMAGES = 2500

MODEL_HELP = f"generator: a .keras file (default {GENERATOR}), runs:/<id>/generator or models:/<name>/<version>"

_exit_code_for_interrupt = 130


def _on_sigterm(signum, frame):
    global _exit_code_for_interrupt
    _exit_code_for_interrupt = 143
    raise KeyboardInterrupt


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fashiongan",
        description="GANs on Fashion-MNIST: DVC pipeline stages and a generator CLI. "
                    "Run the whole pipeline with `dvc repro`; each stage is also `fashiongan <stage>`.",
        epilog="exit codes: 0 done; 2 bad params or arguments; 1 bad data, model file, tracking store or a "
               "diverged run (one line naming the culprit); 130 / 143 Ctrl-C / SIGTERM. Any other error is a "
               "bug and prints its traceback.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")
    for name, text in STAGES.items():
        stage = commands.add_parser(name, help=text, description=text)
        stage.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    gen = commands.add_parser("generate", help="draw images from a saved generator into a PNG grid",
                              description="Draw images from a saved generator into a PNG grid.")
    gen.add_argument("--model", default=str(GENERATOR), help=MODEL_HELP)
    gen.add_argument("--class", dest="label", help="class name (e.g. sneaker, from data.class_names) or index; "
                                                   "conditional models")
    gen.add_argument("--params", default="params.yaml", help="params file naming the classes (default: params.yaml)")
    gen.add_argument("--n", type=int, default=16, help=f"number of images (default 16, at most {MAX_IMAGES})")
    gen.add_argument("--seed", type=int, default=0, help="latent seed (default 0)")
    gen.add_argument("--out", default="generated.png", help="output PNG (default generated.png)")
    exp = commands.add_parser(
        "explore", help="figures of what a generator learned: interpolations, class morph, truncation trade-off",
        description="Write into --out: interpolation.png (rows of spherical interpolations between random "
                    "latents) and interpolation.gif (the same, animated); class_morph.png (conditional "
                    "generators: one latent, the class embedding moved from each class to the next); "
                    "truncation.png and truncation.json (grids at truncation psi 1.0 / 0.7 / 0.5 with the FID "
                    "and recall of each on 2000 samples, in the pipeline classifier's feature space).")
    exp.add_argument("--model", default=str(GENERATOR), help=MODEL_HELP)
    exp.add_argument("--out", default="explore", help="output directory (default explore)")
    exp.add_argument("--seed", type=int, default=0, help="latent seed (default 0)")
    cmp = commands.add_parser(
        "compare", help="the latest MLflow runs: one table per ruler, seeds of one recipe in one row, best mean FID first",
        description="The latest MLflow runs of the experiment: one table per ruler (the newest run's first; runs "
                    "measured with another ruler are never ranked with it), one row per recipe (runs whose params "
                    "differ only in seed: each metric as mean ± sample std over seeds), best mean FID first; rows "
                    "within the seed spread of the best are marked.")
    cmp.add_argument("--params", default="params.yaml", help="params file naming the experiment (default: params.yaml)")
    cmp.add_argument("--experiment", help="MLflow experiment (default: tracking.experiment in the params file)")
    cmp.add_argument("--max-runs", type=int, default=20, help="how many of the latest runs (default 20)")
    cmp.add_argument("--markdown", action="store_true", help="a Markdown table, for README and PRs")
    rul = commands.add_parser(
        "ruler", help="make a ruler (the feature network of every metric) or check one against its card",
        description="make OUT: train a ruler on data/prepared/ as params.yaml says (seed, classifier.*), save it "
                    "without optimizer state to OUT (rulers/<name>.keras) and its card beside it (OUT with .json: "
                    "sha256, how it was made, test accuracy, real-data FID floor and uniform-noise ceiling at "
                    "evaluate.n). check [FILE]: measure FILE's card values again on this machine and compare them "
                    "to 3 significant digits (default: the shipped Fashion-MNIST ruler). Both need `dvc repro "
                    "prepare` first. See docs/ruler.md.")
    rul.add_argument("action", choices=["make", "check"])
    rul.add_argument("file", nargs="?", help="the ruler file (make: required; check: default the shipped one)")
    rul.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    trk = commands.add_parser("tracking", help="MLflow housekeeping: `tracking sync` re-sends metrics after an outage",
                              description="MLflow housekeeping.")
    trk.add_argument("action", choices=["sync"], help="sync: send the metrics the store missed while it was away")
    trk.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    ui = commands.add_parser(
        "ui", help="browse the repo's MLflow store (mlflow ui); prints the URL of the experiment's runs",
        description="Run `mlflow ui` on the repo's embedded store (mlflow.db, mlruns/), one worker, and print the "
                    "URL that opens the experiment of params.yaml on its training runs (MLflow's own links open "
                    "it on the GenAI overview in a browser that has not chosen \"Model training\").")
    ui.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    ui.add_argument("--port", type=int, default=5000, help="port (default 5000)")
    ui.add_argument("--params", default="params.yaml", help="params file naming the MLflow experiment")
    srv = commands.add_parser(
        "server", help="serve a shared MLflow tracking server (SQLite store, artifacts under the repo)",
        description="Run `mlflow server` for a team on this repo: backend mlflow-server.db, artifacts in "
                    "mlartifacts/ served through the server (clients need no access to the disk), one "
                    "worker and no job runner (small-machine settings). Point every user and stage at it "
                    "with MLFLOW_TRACKING_URI=http://HOST:PORT. See README 'Scaling out' for PostgreSQL and S3.")
    srv.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1; 0.0.0.0 for a team)")
    srv.add_argument("--port", type=int, default=5000, help="port (default 5000)")
    srv_model = commands.add_parser(
        "serve", help="serve a logged generator over HTTP (MLflow's scoring server: POST /invocations)",
        description="Serve a generator logged to MLflow with MLflow's scoring server (what `mlflow models serve "
                    "--env-manager local` runs), checking each request first: a malformed body gets HTTP 400, more "
                    "rows than --max-rows 413, a Content-Type other than application/json or "
                    "application/vnd.apache.parquet 415, each with one line naming the culprit. Body: {\"inputs\": "
                    "{\"z\": [[...latent_dim numbers...]], \"label\": [7]}} (label: conditional generators only), "
                    "or a Parquet DataFrame with those columns. Answer: {\"predictions\": images (n, 28, 28, 1) in "
                    "[-1, 1]}.")
    srv_model.add_argument("--model", help="model URI: runs:/<id>/generator or models:/<name>/<version> "
                                           "(default: the generator of reports/train/run.json's run)")
    srv_model.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    srv_model.add_argument("--port", type=int, default=5001, help="port (default 5001)")
    # 1024 rows of the default DCGAN take about 6 s and 230 MB in the server on 2 CPU cores and answer 19 MB
    # of JSON, well inside MLflow's 60 s request timeout (20,000 rows took 64 s and 3.7 GB, then a 504)
    srv_model.add_argument("--max-rows", type=int, default=1024,
                           help="most rows of z one request may hold; a larger request gets HTTP 413 (default 1024)")
    rep = commands.add_parser(
        "report", help="write reports/index.html comparing experiments, viewable offline",
        description="Write reports/index.html: the DVC experiments of the workspace (what `dvc exp show` lists, the "
                    "workspace included), or with --mlflow-runs N the latest N MLflow runs: one table per ruler, "
                    "one row per recipe (seeds grouped: mean ± std), the params that differ and the key metrics "
                    "(best mean FID first, each beside its real-data reference), sample "
                    "grids side by side, FID by images seen overlaid; then the workspace's run in detail. "
                    "Images are inlined: the file opens with no network.")
    rep.add_argument("--mlflow-runs", type=int, default=0, metavar="N",
                     help="compare the latest N MLflow runs instead of the DVC experiments")
    rep.add_argument("--params", default="params.yaml", help="params file naming the MLflow experiment")
    return parser


def _class_index(label: str, class_names) -> int:
    from .errors import ConfigError

    lowered = [name.lower() for name in class_names]
    names = {name.replace("/", "-"): i for i, name in enumerate(lowered)} | {n: i for i, n in enumerate(lowered)}
    key = label.strip().lower()
    if key.isdigit() and int(key) < len(class_names):
        return int(key)
    if key in names:
        return names[key]
    raise ConfigError(f"--class: got {label!r}, expected 0-{len(class_names) - 1} or one of: {', '.join(class_names)}")


def _generate(args) -> None:
    import math

    import numpy as np

    from .config import load
    from .data import CLASS_NAMES, to_uint8
    from .errors import ConfigError
    from .io import load_model
    from .models import Generator, latents
    from .plots import save_grid
    from .tracking import generator_file

    if not 0 < args.n <= MAX_IMAGES:
        raise ConfigError(f"--n: got {args.n}, expected 1-{MAX_IMAGES} (one PNG grid of 28x28 tiles)")
    generator = Generator(load_model(generator_file(args.model)))
    if not generator.conditional and args.label is not None:
        raise ConfigError(f"--class: {args.model} is an unconditional generator; it takes no class")
    names = load(args.params, check_data=False).data.class_names if Path(args.params).is_file() else list(CLASS_NAMES)
    if generator.conditional and len(names) != generator.classes:
        names = [str(i) for i in range(generator.classes)]  # a model of other data than params.yaml's: indices
    z = latents(generator.latent_dim, args.n, args.seed)
    labels = np.full(args.n, _class_index(args.label, names) if args.label else 0, np.int32)
    cols = math.ceil(math.sqrt(args.n))
    save_grid(args.out, to_uint8(generator.draw(z, labels)), math.ceil(args.n / cols), cols)
    print(f"generate: {args.n} images -> {args.out}")


def _explore(args) -> None:
    import numpy as np

    from .errors import MissingInput
    from .explore import write_figures
    from .features import FeatureExtractor
    from .io import load_model, write_json
    from .models import Generator, class_shares
    from .paths import CLASSIFIER, PREPARED, REAL_FEATURES
    from .ruler import ruler_id
    from .tracking import generator_file

    for path in (CLASSIFIER, REAL_FEATURES):
        if not path.is_file():
            raise MissingInput(f"{path}: missing; the truncation FIDs use the pipeline's classifier: "
                               "run `dvc repro reference` first")
    generator = Generator(load_model(generator_file(args.model)))
    out = Path(args.out)
    shares = None  # equal shares, unless this is the pipeline's data (then its training set's, as evaluate)
    if generator.conditional and PREPARED.is_file():
        train_labels = np.load(PREPARED)["train_labels"]
        if train_labels.max() < generator.classes:
            shares = class_shares(train_labels, generator.classes)
    if generator.conditional:
        print(f"explore: classes drawn by {'their shares in ' + str(PREPARED) if shares is not None else 'equal shares'}")
    real = np.load(REAL_FEATURES)
    table = write_figures(generator, out, FeatureExtractor(load_model(CLASSIFIER)), real["test_features"],
                          real["test_labels"], args.seed, shares=shares)
    measured_with = ruler_id(CLASSIFIER)
    write_json(out / "truncation.json", [row | {"ruler": measured_with} for row in table])
    for row in table:
        print(f"explore: truncation {row['truncation']:g}: FID {row['fid']:.2f}, recall {row['recall']:.3f} "
              f"(n={row['n']})")
    print(f"explore: {', '.join(sorted(p.name for p in out.iterdir()))} -> {out}")


def _ruler(args, cfg) -> None:
    import json

    import numpy as np

    from . import ruler, runtime
    from .data import FASHION_MNIST
    from .errors import ConfigError, MissingInput, ModelFileError
    from .paths import DATA_REPORT, PREPARED

    if not PREPARED.is_file():
        raise MissingInput(f"{PREPARED}: missing; run `dvc repro prepare` first")
    arrays = np.load(PREPARED)
    runtime.configure(cfg.seed, cfg.runtime)
    if args.action == "make":
        if not args.file or not args.file.endswith(".keras"):
            raise ConfigError(f"ruler make: got {args.file!r}, expected the output path, e.g. rulers/<name>.keras")
        card = ruler.make(Path(args.file), arrays, json.loads(DATA_REPORT.read_text()), len(cfg.data.class_names),
                          cfg.seed, cfg.classifier, cfg.evaluate.n)
        print(f"ruler: {args.file} (id {card['id']}, {card['bytes']} bytes), card {ruler.card_path(args.file)}: "
              + ", ".join(f"{k} {v}" for k, v in card["measured"].items()))
        return
    path = Path(args.file) if args.file else ruler.SHIPPED[FASHION_MNIST]
    now, problems = ruler.check(path, arrays)
    if problems:
        raise ModelFileError(f"ruler check {path}: differs from its card: " + "; ".join(problems))
    print(f"ruler check {path}: id {ruler.ruler_id(path)} as on its card; "
          + ", ".join(f"{k} {v}" for k, v in now.items()) + f" agree with the card to {ruler.CHECKED_DIGITS} "
          "significant digits")


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _on_sigterm)
    from .config import load
    from .errors import ConfigError, FashionGanError
    from .runtime import quiet_tensorflow

    try:
        if args.command in ("generate", "explore"):
            quiet_tensorflow()
            (_generate if args.command == "generate" else _explore)(args)
            return 0
        if args.command == "ui":
            from .ui import experiment_url, ui_command

            root = Path.cwd().resolve()
            command, env = ui_command(root, args.host, args.port)
            experiment = load(args.params, check_data=False).tracking.experiment
            print(f"MLflow UI: {experiment_url(root, f'http://{args.host}:{args.port}', experiment)}", flush=True)
            os.execve(command[0], command, env)  # the server gets our signals and exit status
        if args.command == "server":
            from .tracking import server_command

            command, env = server_command(Path.cwd(), args.host, args.port)
            print(f"server: {' '.join(command[2:])}\nserver: export MLFLOW_TRACKING_URI=http://{args.host}:{args.port}",
                  flush=True)
            os.execve(command[0], command, env)  # the server gets our signals and exit status
        if args.command == "serve":
            from .serve import serve

            if args.max_rows <= 0:
                raise ConfigError(f"--max-rows: got {args.max_rows}, expected a positive int")
            quiet_tensorflow()
            serve(args.model, args.host, args.port, args.max_rows)
            return 0
        if args.command == "report":
            from .report import write_report

            if args.mlflow_runs < 0:
                raise ConfigError(f"--mlflow-runs: got {args.mlflow_runs}, expected a positive int")
            experiment = load(args.params, check_data=False).tracking.experiment if args.mlflow_runs else ""
            print(f"report: {write_report(Path('.'), args.mlflow_runs, experiment)}")
            return 0
        if args.command == "tracking":
            from .tracking import sync_saved

            tracking = load(args.params, check_data=False).tracking
            print(sync_saved(tracking.enabled, tracking.experiment if tracking.register_model else None))
            return 0
        if args.command == "compare":
            from .compare import compare

            experiment = args.experiment or load(args.params, check_data=False).tracking.experiment
            print(compare(experiment, args.max_runs, args.markdown))
            return 0
        cfg = load(args.params)
        if args.command not in NO_TENSORFLOW:
            quiet_tensorflow()
        if args.command == "ruler":
            _ruler(args, cfg)
            return 0
        module = importlib.import_module(f".stages.{args.command}", __package__)
        try:
            module.run(cfg)
        except Exception:
            if args.command in ("sample", "evaluate"):
                _mark_run_failed(cfg)
            raise
        return 0
    except FashionGanError as e:
        print(f"fashiongan {args.command}: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        resumes = " (train resumes from its last checkpoint on the next run)" if args.command == "train" else ""
        print(f"fashiongan {args.command}: interrupted; previous outputs are intact{resumes}", file=sys.stderr)
        return _exit_code_for_interrupt


def _mark_run_failed(cfg) -> None:
    from .tracking import continue_run

    try:
        continue_run(cfg.tracking.enabled).end("FAILED")
    except Exception as e:  # the stage's own error is what the user must see
        print(f"fashiongan: could not mark the MLflow run FAILED: {e}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
