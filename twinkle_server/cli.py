"""The ``twinkle-server`` command line: one subcommand per task, each a short function.

Subcommands register in ``COMMANDS`` as ``name -> (add_arguments, run)``; ``run`` receives the parsed
arguments and returns the process exit code. Heavy imports happen inside ``run`` so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

__all__ = ["COMMANDS", "build_parser", "main"]

AddArguments = Callable[[argparse.ArgumentParser], None]
Run = Callable[[argparse.Namespace], int]


def _add_build_tiny_model(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="folder to write the model into")
    parser.add_argument("--seed", type=int, default=0, help="random seed for the weights (default 0)")


def _run_build_tiny_model(args: argparse.Namespace) -> int:
    from twinkle_server.tiny_model import build_tiny_model

    started = time.perf_counter()
    out = build_tiny_model(args.out, seed=args.seed)
    size = sum(f.stat().st_size for f in out.iterdir() if f.is_file())
    elapsed = time.perf_counter() - started
    print(f"tiny model written to {out} ({size / 1e6:.2f} MB, {elapsed:.1f} s, seed {args.seed})")
    return 0


COMMANDS: dict[str, tuple[str, AddArguments, Run]] = {
    "build-tiny-model": (
        "build the project's tiny random Qwen2 model (for tests and the demo)",
        _add_build_tiny_model,
        _run_build_tiny_model,
    ),
}


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with one subparser per entry of ``COMMANDS``."""
    parser = argparse.ArgumentParser(prog="twinkle-server", description="Twinkle LoRA fine-tuning server.")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (help_text, add_arguments, run) in COMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        add_arguments(sub)
        sub.set_defaults(run=run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default: ``sys.argv[1:]``), run the chosen subcommand, return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, OSError) as exc:
        print(f"twinkle-server {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
