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


def _add_serve(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", type=Path, default=None, help="YAML settings file (TWINKLE_* variables override it)"
    )
    parser.add_argument("--host", default=None, help="address to listen on (overrides the settings)")
    parser.add_argument("--port", type=int, default=None, help="port to listen on (overrides the settings)")
    parser.add_argument("--log-level", default="info", help="uvicorn log level (default info)")
    ray = parser.add_argument_group("Ray Serve (pip install 'twinkle[ray]'; docs/scaling.md)")
    ray.add_argument("--ray", action="store_true", help="serve on a Ray cluster through Ray Serve")
    ray.add_argument("--ray-address", default=None, help="cluster to join (default: start a local one)")
    ray.add_argument("--replicas", type=int, default=1, help="engine replicas per served model")
    ray.add_argument("--gpus-per-replica", type=float, default=0.0, help="GPUs each replica reserves")
    ray.add_argument("--cpus-per-replica", type=float, default=1.0, help="CPUs each replica reserves")


def _run_serve(args: argparse.Namespace) -> int:
    from twinkle_server.serve import serve

    if args.ray:
        from twinkle_server.scale.ray_serve import RayLayout, serve_on_ray

        layout = RayLayout(args.replicas, args.gpus_per_replica, args.cpus_per_replica)
        return serve_on_ray(args.config, layout, address=args.ray_address, host=args.host, port=args.port)
    return serve(args.config, host=args.host, port=args.port, log_level=args.log_level)


def _add_keys(parser: argparse.ArgumentParser) -> None:
    config_help = "YAML settings file naming the database (default: settings from the environment)"
    parser.add_argument("--config", type=Path, default=None, help=config_help)
    actions = parser.add_subparsers(dest="keys_action", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="create a key for a user (the user is created if new)")
    create.add_argument("--user", required=True, help="the user who owns the key")
    limits = actions.add_parser("limits", help="set a key's own quotas (unset ones: the server's settings)")
    limits.add_argument("key", help="key id (key_...), display prefix or the key itself")
    for action in (create, limits):
        _add_limit_options(action)
    listing = actions.add_parser("list", help="list keys (never their secret)")
    listing.add_argument("--user", default=None, help="only this user's keys")
    revoke = actions.add_parser("revoke", help="revoke a key by id, prefix or plaintext")
    revoke.add_argument("key", help="key id (key_...), display prefix or the key itself")
    for action in (create, limits, listing, revoke):  # --config also after the action
        action.add_argument("--config", type=Path, default=argparse.SUPPRESS, help=config_help)


def _add_limit_options(parser: argparse.ArgumentParser) -> None:
    """The per-key quota options of ``keys create`` and ``keys limits``."""
    parser.add_argument(
        "--max-runs", type=int, default=None, help="adapters the user may hold per model (max_runs_per_user)"
    )
    parser.add_argument(
        "--max-tasks",
        type=int,
        default=None,
        help="operations queued or running at once (max_tasks_per_user)",
    )
    parser.add_argument("--rate", type=float, default=None, help="requests per second (rate_limit_per_s)")
    parser.add_argument(
        "--burst", type=int, default=None, help="requests at once above the rate (rate_limit_burst)"
    )


def _run_keys(args: argparse.Namespace) -> int:
    from twinkle_server.keys import run_keys

    return run_keys(args)


def _add_demo(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument(
        "--data-dir", type=Path, default=None, help="data folder (default: a new temp folder)"
    )
    parser.add_argument(
        "--key-file", type=Path, default=None, help="also write the demo API key to this file"
    )
    parser.add_argument("--user", default="demo", help="name of the demo user (default demo)")
    parser.add_argument(
        "--access-log", action="store_true", help="a log line per HTTP request (off in the demo by default)"
    )
    parser.add_argument("--log-level", default="info", help="uvicorn log level (default info)")
    parser.add_argument(
        "--run-example",
        type=Path,
        default=None,
        metavar="SCRIPT",
        help="serve only while SCRIPT runs (its key in MODELSCOPE_TOKEN), then print its runs and stop",
    )


def _run_demo(args: argparse.Namespace) -> int:
    from twinkle_server.demo import run_demo

    return run_demo(
        port=args.port,
        host=args.host,
        data_dir=args.data_dir,
        key_file=args.key_file,
        user=args.user,
        log_level=args.log_level,
        run_example=args.run_example,
        access_log=args.access_log,
    )


COMMANDS: dict[str, tuple[str, AddArguments, Run]] = {
    "build-tiny-model": (
        "build the project's tiny random Qwen2 model (for tests and the demo)",
        _add_build_tiny_model,
        _run_build_tiny_model,
    ),
    "serve": ("run the server (uvicorn)", _add_serve, _run_serve),
    "keys": ("create, list and revoke API keys", _add_keys, _run_keys),
    "demo": (
        "serve the tiny model and sample data under the seed example's names, with a printed key",
        _add_demo,
        _run_demo,
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
