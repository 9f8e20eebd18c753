"""Time to FID: named training recipes, each trained from scratch for the same number of training
images, with the FID measured every K images, so that recipes compare on an axis no machine
changes (images seen = steps x batch) and, beside it, on this machine's seconds.

    python bench/time_to_fid.py [--images 300000] [--every 50000] [--recipes before,default] [--seeds 1,2,3]
                                [--equal-time]

A recipe is a set of params overrides on params.yaml (RECIPES below; `--set key=value` adds
overrides to every recipe). FID is the training-time probe: --fid-samples generated images from
fixed latents against the 10k test images, in the ruler's feature space (models/classifier.keras: run
`dvc repro classifier` first; for Fashion-MNIST the shipped ruler); 2k samples read a little higher
than evaluate's 10k. The output names the ruler's id.
Writes reports/bench/time_to_fid.json and reports/bench/time_to_fid.png (--out another path).

`--history NAME=CSV` adds the training-time FIDs of a pipeline run (its reports/train/fid.csv,
same probe) to the figure, e.g. the committed default against an earlier revision's:

    python bench/time_to_fid.py --recipes '' --history now=reports/train/fid.csv \
        --history before=<(git show REV:reports/train/fid.csv)
`--equal-time` compares at equal training seconds instead: it first times every recipe's step
side by side (interleaved rounds), then trains each for --images scaled by its speed relative to
the first recipe, so a recipe whose step costs 10% more sees about 10% fewer images.
A schedule that depends on the run's length (train.lr_decay) makes the curve depend on --images.
"""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

import harness  # bench/harness.py, beside this script
import keras
import numpy as np
import yaml

from fashiongan import config, params, runtime
from fashiongan.evaluation import ruler
from fashiongan.evaluation.probe import FidProbe
from fashiongan.gan import conditioning
from fashiongan.gan.build import build_trainer
from fashiongan.gan.loop import fit
from fashiongan.gan.models import class_shares
from fashiongan.io import atomic_path, load_model, step_series
from fashiongan.paths import BENCH, CLASSIFIER, PARAMS, PREPARED, REAL_FEATURES

RECIPES = {
    "before": {
        "train.learning_rate": 0.0002,
        "train.beta_1": 0.5,
        "train.ema_warmup": False,
        "train.lr_decay": 0.0,
    },
    "default": {},
    "unconditional": {"model.conditional": False},
    "self-conditioned": {"model.conditional": False, "model.clusters": 50},
    # the screen of docs/results.md: cheap changes with published evidence
    "top-k": {"train.top_k": 0.5},
    "adam-beta2": {"train.beta_2": 0.99},
    "rpgan": {"train.loss": "rpgan"},
    "rpgan-r1r2": {"train.loss": "rpgan", "train.r1_r2": 0.01},
    "batch-128": {"train.batch_size": 128},  # more images per second (a larger step fills the CPU better)
    # fewer images per second, more steps per second: compare these at equal time (--equal-time)
    "batch-32": {"train.batch_size": 32},
    "batch-16": {"train.batch_size": 16},
    # the weight average does not feed back into training: same seed, same G and D, only the average differs
    "ema-0.99": {"train.ema": 0.99},
    "ema-0.995": {"train.ema": 0.995},
    "ema-0.9995": {"train.ema": 0.9995},
    # finer self-conditioning: 10 -> 20 -> 50 clusters each lowered the unconditional FID (docs/results.md)
    "clusters-100": {"model.conditional": False, "model.clusters": 100},
    "clusters-200": {"model.conditional": False, "model.clusters": 200},
}
SCREEN = (
    *("top-k", "adam-beta2", "rpgan", "rpgan-r1r2", "batch-128", "batch-32", "batch-16"),
    *("ema-0.99", "ema-0.995", "ema-0.9995", "clusters-100", "clusters-200"),
)


def with_overrides(raw: dict, overrides: dict) -> config.Config:
    raw = copy.deepcopy(raw)
    for dotted, value in overrides.items():
        *sections, key = dotted.split(".")
        node = raw
        for section in sections:
            node = node[section]
        node[key] = value
    return params.parse(raw)


def train_recipe(cfg: config.Config, images: int, every: int, fid_samples: int, data) -> list[dict]:
    """[{images, steps, seconds, fid}] every `every` images up to `images`, both rounded to whole
    compiled chunks (train.steps_per_call steps): other chunk lengths would each be traced anew."""
    keras.utils.set_random_seed(cfg.seed)
    train_images, class_labels = data
    labels = conditioning.training_labels(cfg.model, train_images, class_labels, cfg.seed)
    batch, chunk = cfg.train.batch_size, cfg.train.steps_per_call
    every_steps = max(1, round(every / batch / chunk)) * chunk
    # whole chunks, not whole `every`s: an --equal-time budget is not a multiple of `every` (the
    # last FID is taken at the end, wherever it falls)
    total_steps = max(1, round(images / batch / chunk)) * chunk
    trainer = build_trainer(cfg, total_steps)
    sampler = conditioning.published_generator(cfg.model, trainer.inference_generator, labels)
    shares = class_shares(labels, len(cfg.data.class_names)) if cfg.model.conditional else [1.0]
    probe = FidProbe(
        load_model(CLASSIFIER),
        np.load(REAL_FEATURES)["test_features"],
        cfg.model.latent_dim,
        fid_samples,
        cfg.seed + 1,
        shares,
    )
    points, fid_seconds, started = [], [0.0], time.perf_counter()

    def score(step):
        scored = time.perf_counter()
        value = probe(sampler)
        points.append(
            {
                "images": step * batch,
                "steps": step,
                "fid": round(value, 3),
                "seconds": round(scored - started - fid_seconds[0], 1),
            }
        )
        fid_seconds[0] += time.perf_counter() - scored
        print(f"  {step * batch:>9,} images  {points[-1]['seconds']:>7.1f} s  FID {value:7.2f}", flush=True)

    fit(trainer, train_images, labels, total_steps, [(every_steps, score)], lambda first, rows: None)
    return points


def relative_speeds(configs: dict[str, config.Config], data) -> dict[str, float]:
    """Each recipe's training images per second over the first recipe's, timed side by side."""
    images, labels = data
    runs = {
        name: harness.make_trainer(cfg, cfg.model, cfg.train.batch_size, images, labels)[1]
        for name, cfg in configs.items()
    }
    steps = harness.interleaved(runs, rounds=6, seconds=5.0)
    first, speeds, lines = next(iter(configs)), {}, []
    for name, cfg in configs.items():
        ratios = harness.round_ratios(steps, name, first)  # of steps/s: times the batch ratio, of images/s
        speeds[name] = float(np.median(ratios)) * cfg.train.batch_size / configs[first].train.batch_size
        lines.append([name, f"{speeds[name]:.3f}x", " ".join(f"{r:.3f}" for r in ratios)])
    harness.table(["recipe", f"x {first}'s images/s", f"x {first}'s steps/s, round by round"], lines)
    return speeds


def across_seeds(runs: list[list[dict]]) -> list[dict]:
    """Each FID point as the mean over seeds, with its sample std (0 for one seed)."""
    points = []
    for same_point in zip(*runs):
        fids = np.array([p["fid"] for p in same_point])
        points.append(
            {
                "images": same_point[0]["images"],
                "steps": same_point[0]["steps"],
                "fid": round(float(fids.mean()), 3),
                "fid_std": round(float(fids.std(ddof=1)) if len(fids) > 1 else 0.0, 3),
                "seconds": round(float(np.mean([p["seconds"] for p in same_point])), 1),
            }
        )
    return points


def save_figure(path, curves: dict[str, list[dict]]) -> None:
    """FID by images seen and by training seconds, one line per recipe, log-scaled FID."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    for name, points in curves.items():
        for ax, x in zip(axes, ("images", "seconds")):
            ax.plot([p[x] for p in points], [p["fid"] for p in points], marker="o", label=name)
    axes[0].set_xlabel("training images seen")
    axes[1].set_xlabel("training seconds (this machine)")
    axes[0].set_ylabel("FID (2k samples)")
    axes[0].set_yscale("log")
    axes[0].legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--images", type=int, default=300_000, help="training images per recipe (steps x batch)"
    )
    parser.add_argument("--every", type=int, default=50_000, help="training images between FIDs")
    parser.add_argument("--fid-samples", type=int, default=2000)
    parser.add_argument(
        "--recipes",
        default=",".join(name for name in RECIPES if name not in SCREEN),
        help=f"comma-separated, of: {', '.join(RECIPES)}",
    )
    parser.add_argument(
        "--equal-time", action="store_true", help="--images for the first recipe, the rest in its seconds"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an override for every recipe, e.g. --set seed=2 (YAML value)",
    )
    parser.add_argument(
        "--seeds",
        default="",
        help="comma-separated: each recipe trains once per seed; the "
        "figure shows the mean FID, the JSON each run and mean and sample std",
    )
    parser.add_argument(
        "--history",
        action="append",
        default=[],
        metavar="NAME=CSV",
        help="also plot a pipeline run's training-time FIDs (its reports/train/fid.csv, batch "
        "--batch); with --recipes '' nothing trains",
    )
    parser.add_argument("--batch", type=int, default=64, help="the batch of the --history runs")
    parser.add_argument(
        "--out", type=Path, default=BENCH / "time_to_fid.json", help="the JSON (the figure: same name, .png)"
    )
    args = parser.parse_args(argv)

    raw = yaml.safe_load(PARAMS.read_text())
    common = dict(item.split("=", 1) for item in args.set)
    common = {key: yaml.safe_load(value) for key, value in common.items()}
    base = params.parse(raw)
    runtime.configure(base.seed, base.runtime)
    arrays = np.load(PREPARED)
    data = (arrays["train_images"], arrays["train_labels"])
    results = {}
    measured_with = (
        ruler.ruler_id(CLASSIFIER) if CLASSIFIER.is_file() else None
    )  # the ruler of the recipes' FIDs
    for name, path in (item.split("=", 1) for item in args.history):
        logged = step_series(Path(path).read_text())
        results[name] = {
            "history": path,
            "points": [
                {"images": step * args.batch, "steps": step, "fid": fid, "seconds": seconds}
                for (step, fid), (_, seconds) in zip(logged["fid"], logged["seconds"])
            ],
        }
    seeds = [int(seed) for seed in args.seeds.split(",") if seed] or [common.get("seed", base.seed)]
    names = list(filter(None, args.recipes.split(",")))
    speeds = {name: 1.0 for name in names}
    if args.equal_time:
        speeds = relative_speeds(
            {name: with_overrides(raw, {**RECIPES[name], **common}) for name in names}, data
        )
    for name in names:
        overrides, runs = {**RECIPES[name], **common}, {}
        for seed in seeds:
            print(f"{name}, seed {seed}: {overrides or 'params.yaml as it is'}", flush=True)
            runs[seed] = train_recipe(
                with_overrides(raw, overrides | {"seed": seed}),
                round(args.images * speeds[name]),
                args.every,
                args.fid_samples,
                data,
            )
        results[name] = {
            "overrides": overrides,
            "relative_speed": round(speeds[name], 3),
            "runs": runs,
            "points": across_seeds(list(runs.values())),
        }
        last = results[name]["points"][-1]
        print(
            f"{name}: FID {last['fid']:.2f} ± {last['fid_std']:.2f} at {last['images']:,} images, "
            f"ruler {measured_with} "
            f"(mean ± sample std of {len(seeds)} seeds)",
            flush=True,
        )
    result = {
        "ruler": measured_with,
        "images": args.images,
        "every": args.every,
        "fid_samples": args.fid_samples,
        "recipes": results,
    }
    harness.write_result(args.out, result)
    save_figure(args.out.with_suffix(".png"), {name: r["points"] for name, r in results.items()})
    print(f"-> {args.out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
