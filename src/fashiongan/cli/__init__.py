"""`fashiongan`: the DVC stages (cli/stages.py) and the user commands, one module each in this package,
holding the command's arguments beside what it runs; what it runs is imported only when it runs, so
`validate`, `prepare`, `ui`, `server` and every `--help` never wait for TensorFlow or MLflow.

Errors a user can cause (errors.FashionGanError) end in one line on stderr naming the culprit and
a non-zero exit: 2 for bad params or arguments, 1 for bad data, model files, tracking or diverged
training; 130 / 143 for Ctrl-C / SIGTERM. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import signal
import sys

from ..errors import FashionGanError
from . import compare, explore, fid, generate, report, ruler, serve, server, stages, tracking, ui
from .common import MAX_RUNS
from .stages import STAGES

COMMANDS = (stages, generate, explore, compare, ruler, tracking, ui, server, serve, report, fid)
__all__ = ["MAX_RUNS", "STAGES", "main"]

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


def parser() -> argparse.ArgumentParser:
    top = _Parser(
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
    subcommands = top.add_subparsers(dest="command", required=True, metavar="command")
    for command in COMMANDS:
        command.add_parser(subcommands)  # each sets func: the command's run(args)
    return top


def main(argv=None) -> int:
    args = parser().parse_args(argv)
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
