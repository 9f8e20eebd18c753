"""The cost of MLflow's system-metrics monitor, which `train` starts for its run, on the default training
step, measured side by side in one process: the same trainer (params.yaml's model and training, through
`fit` as train runs it) trains blocks of the same step count, alternately without and with the monitor
sampling into the run. The monitor samples at MLflow's default interval unless --interval says otherwise.

    python bench/system_metrics.py [--blocks 6] [--seconds 10] [--interval 10]
Writes reports/bench/system_metrics.json.
"""

from __future__ import annotations

import argparse

import harness  # bench/harness.py, beside this script
import numpy as np

from fashiongan import params
from fashiongan.gan.loop import fit
from fashiongan.tracking.run import system_metrics_monitor


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--blocks", type=int, default=6, help="timed blocks, half of them with the monitor")
    parser.add_argument("--seconds", type=float, default=10.0, help="target length of one block")
    parser.add_argument("--interval", type=float, default=10.0, help="the monitor's sampling interval (s)")
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)

    cfg = params.load(args.params)
    images, labels = harness.training_arrays()
    trainer, _ = harness.make_trainer(cfg, cfg.model, cfg.train.batch_size, images, labels)

    def train(steps):
        # From step 0 each time: every block runs the same chunks (fit cuts one at each epoch's end),
        # so none is traced after the untimed first block.
        trainer.step.assign(0)
        fit(trainer, images, labels, steps, [], lambda first, rows: None)

    chunk = cfg.train.steps_per_call
    train(chunk)  # tracing
    rate = harness.steps_per_second(train, 2 * chunk)
    steps = max(chunk, round(rate * args.seconds / chunk) * chunk)  # whole compiled calls per block
    train(steps)  # traces the chunks of a block

    # MLflow reads the interval from the environment first; a monitor per monitored block, below
    interval = {"MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL": str(args.interval)}
    with harness.scratch_run(interval, system_metrics=False) as run:
        rates, monitors = {"off": [], "on": []}, []
        for block in range(args.blocks):
            monitored = block % 2 == 1  # off, on, off, on, ...: a drift in speed hits both alike
            monitor = system_metrics_monitor(run.client, run.run_id, resumed=True) if monitored else None
            rates["on" if monitored else "off"].append(harness.steps_per_second(train, steps))
            if monitor is not None:
                monitor.finish()
                monitors = [type(m).__name__ for m in monitor.monitors]
        samples = len(run.client.get_metric_history(run.run_id, "system/cpu_utilization_percentage"))

    median = {name: float(np.median(r)) for name, r in rates.items()}
    ratio = median["on"] / median["off"]
    spread = {name: (min(r), max(r)) for name, r in rates.items()}
    print(
        f"{cfg.model.arch} batch {cfg.train.batch_size}, {len(rates['off'])}+{len(rates['on'])} blocks of "
        f"{steps} steps, sampling every {args.interval:g} s ({', '.join(monitors)}; {samples} samples logged)"
    )
    for name in ("off", "on"):
        low, high = spread[name]
        print(f"monitor {name:3}: {median[name]:.2f} steps/s (blocks {low:.2f} to {high:.2f})")
    print(
        f"on/off = {ratio:.3f} (the blocks without the monitor spread by "
        f"{100 * (spread['off'][1] - spread['off'][0]) / median['off']:.1f}% of their median)"
    )

    result = {
        "arch": cfg.model.arch,
        "batch_size": cfg.train.batch_size,
        "steps_per_block": steps,
        "sampling_interval_s": args.interval,
        "monitors": monitors,
        "samples_logged": samples,
        "steps_per_s": {"off": median["off"], "on": median["on"]},
        "ratio_on_over_off": ratio,
        "blocks": {name: [round(x, 3) for x in r] for name, r in rates.items()},
    }
    harness.write_result("system_metrics", result)


if __name__ == "__main__":
    main()
