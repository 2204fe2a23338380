"""``twinkle``: the user's command line for a Twinkle server (light install: no torch).

The server and key come from, in order: ``--server``/``--key``, the environment
(``TWINKLE_SERVER_URL``, ``TWINKLE_SERVER_TOKEN``), then the file ``twinkle login`` wrote
(``$TWINKLE_CLI_CONFIG``, else ``$XDG_CONFIG_HOME/twinkle/cli.json``, else
``~/.config/twinkle/cli.json``; readable by its owner only). Every command prints a table for
people, or JSON with ``--json`` for scripts.

Exit codes (``EXIT_*``): 0 done; 1 unexpected error; 2 bad usage; 3 no key, or the key was
refused (401); 4 not found (404, also for another user's run); 5 the server could not be reached;
6 the server refused the request (other 4xx); 7 the server failed (5xx, or a hub upload failed).

Example::

    twinkle login --server http://127.0.0.1:8000 --key tw-...
    twinkle runs list
    twinkle metrics run_abc --plot loss.png
    twinkle checkpoints download twinkle://run_abc/weights/final --to ./adapter
    twinkle checkpoints upload twinkle://run_abc/weights/final --to me/my-adapter --hub local
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from functools import wraps
from pathlib import Path
from typing import Any

import click

from twinkle_client.errors import (
    APIConnectionError,
    APIStatusError,
    AuthenticationError,
    NotFoundError,
    TwinkleClientError,
)
from twinkle_client.manager import DEFAULT_BASE_URL, ENV_API_KEY, ENV_BASE_URL, TwinkleClient

__all__ = [
    "EXIT_AUTH",
    "EXIT_CONNECTION",
    "EXIT_ERROR",
    "EXIT_NOT_FOUND",
    "EXIT_OK",
    "EXIT_REFUSED",
    "EXIT_SERVER",
    "EXIT_USAGE",
    "main",
]

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_AUTH = 3
EXIT_NOT_FOUND = 4
EXIT_CONNECTION = 5
EXIT_REFUSED = 6
EXIT_SERVER = 7

ENV_CLI_CONFIG = "TWINKLE_CLI_CONFIG"
METRIC_COLUMNS = ("step", "loss", "num_tokens", "grad_norm", "lr", "step_time_s", "tokens_per_s")


class CliError(click.ClickException):
    """An error the CLI explains itself, with its exit code."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


# -- where the server and key come from --------------------------------------------------------


def config_path() -> Path:
    if os.environ.get(ENV_CLI_CONFIG):
        return Path(os.environ[ENV_CLI_CONFIG]).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "twinkle" / "cli.json"


def read_config() -> dict[str, str]:
    path = config_path()
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise CliError(f"cannot read {path}: {exc}; fix it or run `twinkle logout`", EXIT_ERROR) from exc
    return {k: str(v) for k, v in data.items() if k in ("server", "key")} if isinstance(data, dict) else {}


def write_config(values: dict[str, str]) -> Path:
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(values, out, indent=2)
    os.replace(tmp, path)
    return path


class Settings:
    """The resolved server, key and output mode of one invocation."""

    def __init__(self, server: str | None, key: str | None) -> None:
        saved = read_config()
        self.server = (
            server or os.environ.get(ENV_BASE_URL) or saved.get("server") or DEFAULT_BASE_URL
        ).rstrip("/")
        self.key = key or os.environ.get(ENV_API_KEY) or saved.get("key")
        self.key_source = (
            "--key"
            if key
            else ENV_API_KEY
            if os.environ.get(ENV_API_KEY)
            else "saved"
            if saved.get("key")
            else None
        )
        self._client: TwinkleClient | None = None

    def client(self) -> TwinkleClient:
        if self._client is None:
            if not self.key:
                raise CliError(
                    f"no API key: run `twinkle login --server URL --key KEY`, set {ENV_API_KEY}, "
                    "or pass --key",
                    EXIT_AUTH,
                )
            self._client = TwinkleClient(base_url=self.server, api_key=self.key, max_retries=2)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def _explain(exc: TwinkleClientError, server: str) -> CliError:
    if isinstance(exc, AuthenticationError):
        return CliError(f"the server refused the API key: {exc.message}", EXIT_AUTH)
    if isinstance(exc, NotFoundError):
        return CliError(exc.message, EXIT_NOT_FOUND)
    if isinstance(exc, APIStatusError):
        code = EXIT_SERVER if exc.status_code >= 500 else EXIT_REFUSED
        return CliError(f"{exc.message} (HTTP {exc.status_code}, request {exc.request_id})", code)
    if isinstance(exc, APIConnectionError):
        return CliError(f"cannot reach the server at {server}: {exc}", EXIT_CONNECTION)
    return CliError(str(exc), EXIT_ERROR)


def api_command(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A command that talks to the server: client errors become messages and exit codes."""

    @wraps(fn)
    @click.pass_obj
    def wrapper(settings: Settings, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(settings, *args, **kwargs)
        except TwinkleClientError as exc:
            raise _explain(exc, settings.server) from exc
        except ValueError as exc:  # the client's own argument checks (a malformed twinkle:// path)
            raise CliError(str(exc), EXIT_USAGE) from exc

    return wrapper


json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print JSON for scripts instead of a table."
)


# -- output ------------------------------------------------------------------------------------


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ",".join(f"{k}={_cell(v)}" for k, v in value.items()) or "-"
    return str(value)


def print_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    line = "  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True))
    click.echo(line.rstrip())
    for row in cells:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def _dump(model: Any) -> Any:
    return model.model_dump(mode="json")


def show_items(
    items: Sequence[Any], as_json: bool, headers: Sequence[str], row: Callable[[Any], Sequence[Any]]
) -> None:
    """Response models as a JSON list, or as a table with one ``row(item)`` each."""
    if as_json:
        print_json([_dump(item) for item in items])
    else:
        print_table(headers, (row(item) for item in items))


# -- commands ----------------------------------------------------------------------------------


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--server", metavar="URL", help=f"Server URL (default: ${ENV_BASE_URL}, then the saved one).")
@click.option("--key", metavar="KEY", help=f"API key (default: ${ENV_API_KEY}, then the saved one).")
@click.pass_context
def cli(ctx: click.Context, server: str | None, key: str | None) -> None:
    """Look at your runs, checkpoints and training curves on a Twinkle server."""
    settings = Settings(server, key)
    ctx.obj = settings
    ctx.call_on_close(settings.close)


@cli.command()
@click.option("--server", "login_server", metavar="URL", help="The server to remember.")
@click.option("--key", "login_key", metavar="KEY", help="The API key to remember (asked for when left out).")
@click.pass_obj
def login(settings: Settings, login_server: str | None, login_key: str | None) -> None:
    """Check a server and key, then remember them for later commands."""
    server = (login_server or settings.server).rstrip("/")
    key = login_key or settings.key or click.prompt("API key", hide_input=True)
    try:
        with TwinkleClient(base_url=server, api_key=key, max_retries=1) as client:
            me = client.whoami()
    except TwinkleClientError as exc:
        raise _explain(exc, server) from exc
    path = write_config({"server": server, "key": key})
    click.echo(f"logged in to {server} as {me.user_name}; saved in {path}")


@cli.command()
def logout() -> None:
    """Forget the saved server and key."""
    path = config_path()
    path.unlink(missing_ok=True)
    click.echo(f"removed {path}")


@cli.command()
@json_option
@api_command
def whoami(settings: Settings, as_json: bool) -> None:
    """The user your API key belongs to, and the server."""
    me = settings.client().whoami()
    data = {
        "server": settings.server,
        "user_name": me.user_name,
        "user_id": me.user_id,
        "key": settings.key_source,
    }
    if as_json:
        print_json(data)
    else:
        print_table(("field", "value"), data.items())


@cli.command()
@json_option
@api_command
def capacity(settings: Settings, as_json: bool) -> None:
    """Adapter slots per served model (used and free)."""
    models = settings.client().get_capacity().models
    show_items(
        models,
        as_json,
        ("model", "max_loras", "used", "free"),
        lambda m: (m.model_id, m.max_loras, m.used, m.free),
    )


# -- runs --------------------------------------------------------------------------------------


@cli.group()
def runs() -> None:
    """Your training runs."""


@runs.command("list")
@click.option("--limit", type=click.IntRange(1, 100), default=20, show_default=True)
@click.option("--offset", type=click.IntRange(0), default=0, show_default=True)
@click.option("--all", "every", is_flag=True, help="Every run, not one page.")
@json_option
@api_command
def runs_list(settings: Settings, limit: int, offset: int, every: bool, as_json: bool) -> None:
    """Your training runs, newest first."""
    client = settings.client()
    if every:
        items, total = list(client.iter_training_runs()), None
    else:
        page = client.list_training_runs(limit=limit, offset=offset)
        items, total = list(page), page.total_count
    show_items(
        items,
        as_json,
        ("run", "status", "base_model", "r", "created", "last_checkpoint"),
        lambda r: (
            r.training_run_id,
            r.status,
            r.base_model,
            r.lora_config.r if r.lora_config is not None else None,
            r.created_at.strftime("%Y-%m-%d %H:%M"),
            r.last_checkpoint.name if r.last_checkpoint else None,
        ),
    )
    if as_json:
        return
    if total is not None and offset + len(items) < total:
        click.echo(f"({offset + len(items)} of {total}; --offset {offset + len(items)} or --all for more)")


@runs.command("show")
@click.argument("run_id")
@json_option
@api_command
def runs_show(settings: Settings, run_id: str, as_json: bool) -> None:
    """One run: its settings, last checkpoint and latest step."""
    client = settings.client()
    run = client.get_training_run(run_id)
    history = client.get_run_history(run_id, limit=1, kind="train")
    last_step = None
    if history.total_count:
        last_step = client.get_run_history(run_id, limit=1, offset=history.total_count - 1, kind="train")[0]
    if as_json:
        print_json({**_dump(run), "last_step": _dump(last_step) if last_step else None})
        return
    fields = [
        ("run", run.training_run_id),
        ("status", run.status),
        ("base_model", run.base_model),
        ("adapter_name", run.adapter_name),
        ("lora_config", _dump(run.lora_config)),
        ("gradient_accumulation_steps", run.gradient_accumulation_steps),
        ("created_at", run.created_at.isoformat()),
        ("last_checkpoint", run.last_checkpoint.twinkle_path if run.last_checkpoint else None),
        ("optimizer_steps", last_step.step if last_step else 0),
        ("last_loss", last_step.loss if last_step else None),
    ]
    print_table(("field", "value"), fields)


# -- checkpoints -------------------------------------------------------------------------------


@cli.group()
def checkpoints() -> None:
    """The checkpoints of your runs."""


@checkpoints.command("list")
@click.argument("run_id")
@json_option
@api_command
def checkpoints_list(settings: Settings, run_id: str, as_json: bool) -> None:
    """A run's checkpoints."""
    items = list(settings.client().iter_checkpoints(run_id))
    show_items(
        items,
        as_json,
        ("name", "path", "step", "size", "optimizer", "created"),
        lambda c: (
            c.name,
            c.twinkle_path,
            c.optimizer_step,
            _size(c.size_bytes),
            c.has_optimizer,
            c.created_at.strftime("%Y-%m-%d %H:%M"),
        ),
    )


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _checkpoint_ref(ref: str, name: str | None) -> dict[str, Any]:
    if ref.startswith("twinkle://"):
        if name is not None:
            raise CliError("give a twinkle:// path, or a run id and a checkpoint name, not both", EXIT_USAGE)
        return {"twinkle_path": ref}
    if name is None:
        raise CliError("give a twinkle:// path, or a run id and a checkpoint name", EXIT_USAGE)
    return {"run_id": ref, "checkpoint_id": name}


@checkpoints.command("download")
@click.argument("ref")
@click.argument("name", required=False)
@click.option(
    "--to", "dest", type=click.Path(file_okay=False, path_type=Path), required=True, help="Folder to write."
)
@json_option
@api_command
def checkpoints_download(settings: Settings, ref: str, name: str | None, dest: Path, as_json: bool) -> None:
    """Download a checkpoint (REF = twinkle:// path, or RUN_ID NAME) as a PEFT folder."""
    folder = settings.client().download_checkpoint(**_checkpoint_ref(ref, name), to=dest)
    files = sorted(p.name for p in folder.iterdir())
    if as_json:
        print_json({"folder": str(folder), "files": files})
    else:
        click.echo(f"{folder}: {', '.join(files)}")


@checkpoints.command("delete")
@click.argument("ref")
@click.argument("name", required=False)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@api_command
def checkpoints_delete(settings: Settings, ref: str, name: str | None, yes: bool) -> None:
    """Delete a checkpoint (REF = twinkle:// path, or RUN_ID NAME)."""
    target = _checkpoint_ref(ref, name)
    shown = target.get("twinkle_path") or f"{target['run_id']}/{target['checkpoint_id']}"
    if not yes and not click.confirm(f"delete checkpoint {shown}?", err=True):
        raise CliError("not deleted", EXIT_ERROR)
    client = settings.client()
    if "twinkle_path" in target:
        from twinkle_client.manager import parse_twinkle_path

        run_id, checkpoint_id = parse_twinkle_path(target["twinkle_path"])
    else:
        run_id, checkpoint_id = target["run_id"], target["checkpoint_id"]
    client.delete_checkpoint(run_id, checkpoint_id)
    click.echo(f"deleted {shown}")


@checkpoints.command("upload")
@click.argument("ref")
@click.argument("name", required=False)
@click.option("--to", "hub_model_id", metavar="ORG/NAME", required=True, help="The repository on the hub.")
@click.option(
    "--hub",
    type=click.Choice(["local", "modelscope", "huggingface"]),
    help="The hub (default: the server's choice).",
)
@click.option("--public", is_flag=True, help="Create the repository public (default: private).")
@click.option(
    "--include-training-state",
    is_flag=True,
    help="Also publish optimizer, scheduler and trainer state (private repositories only).",
)
@click.option(
    "--hub-token",
    envvar="TWINKLE_HUB_TOKEN",
    metavar="TOKEN",
    help="Your own hub token for this upload (default: $TWINKLE_HUB_TOKEN; never stored by the server).",
)
@click.option("--no-wait", is_flag=True, help="Print the pending upload and return at once.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), help="Most seconds to wait.")
@json_option
@api_command
def checkpoints_upload(
    settings: Settings,
    ref: str,
    name: str | None,
    hub_model_id: str,
    hub: str | None,
    public: bool,
    include_training_state: bool,
    hub_token: str | None,
    no_wait: bool,
    timeout: float | None,
    as_json: bool,
) -> None:
    """Publish a checkpoint (REF = twinkle:// path, or RUN_ID NAME) to a model hub."""
    client = settings.client()
    upload = client.upload_checkpoint(
        **_checkpoint_ref(ref, name),
        hub_model_id=hub_model_id,
        hub=hub,
        private=not public,
        include_training_state=include_training_state,
        hub_token=hub_token,
    )
    if not no_wait:
        try:
            upload = client.wait_upload(upload, timeout)
        except RuntimeError as exc:  # the hub refused or failed: the server did its part
            raise CliError(str(exc), EXIT_SERVER) from exc
        except TimeoutError as exc:
            raise CliError(f"{exc}; follow it later with its id", EXIT_ERROR) from exc
    if as_json:
        print_json(_dump(upload))
        return
    where = f"{upload.hub}:{upload.hub_model_id}"
    click.echo(f"{upload.upload_id} {upload.status}: {where}" + (f" {upload.url}" if upload.url else ""))


# -- metrics -----------------------------------------------------------------------------------


@cli.command()
@click.argument("run_id")
@click.option(
    "--kind", type=click.Choice(["train", "eval", "train_metrics"]), default="train", show_default=True
)
@click.option("--last", type=click.IntRange(1), default=None, help="Only the last N points.")
@click.option("--csv", "as_csv", is_flag=True, help="Print the server's CSV export (every kind).")
@click.option(
    "--plot",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write a PNG of the curves (needs matplotlib).",
)
@json_option
@api_command
def metrics(
    settings: Settings,
    run_id: str,
    kind: str,
    last: int | None,
    as_csv: bool,
    plot: Path | None,
    as_json: bool,
) -> None:
    """A run's recorded history: loss, tokens, grad norm, learning rate, step time per step."""
    client = settings.client()
    if as_csv:
        click.echo(client.export_run_history(run_id, "csv").decode(), nl=False)
        return
    points = list(client.iter_run_history(run_id, kind=kind))
    if last is not None:
        points = points[-last:]
    if plot is not None:
        _plot(points, run_id, plot)
        if not as_json:
            click.echo(f"wrote {plot} ({len(points)} points)")
            return
    if as_json:
        print_json([_dump(p) for p in points])
        return
    if not points:
        click.echo(f"no {kind} points recorded for {run_id} yet")
        return
    if kind == "train":
        print_table(METRIC_COLUMNS, ([getattr(p, c) for c in METRIC_COLUMNS] for p in points))
    else:
        print_table(
            ("step", "loss", "num_tokens", "metrics"),
            ((p.step, p.loss, p.num_tokens, p.metrics) for p in points),
        )


def _plot(points: list[Any], run_id: str, path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise CliError("--plot needs matplotlib: pip install matplotlib", EXIT_ERROR) from exc
    if not points:
        raise CliError(f"no points recorded for {run_id} to plot", EXIT_NOT_FOUND)
    steps = [p.step for p in points]
    panels = [
        ("loss", "loss"),
        ("lr", "learning rate"),
        ("grad_norm", "grad norm"),
        ("tokens_per_s", "tokens/s"),
    ]
    fig, axes = plt.subplots(len(panels), 1, figsize=(8, 2.4 * len(panels)), sharex=True)
    for ax, (field, label) in zip(axes, panels, strict=True):
        values = [getattr(p, field) for p in points]
        ax.plot(
            steps,
            [float("nan") if v is None else v for v in values],
            marker="." if len(points) < 50 else None,
        )
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
    axes[0].set_title(run_id)
    axes[-1].set_xlabel("optimizer step")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (see the module docstring)."""
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="twinkle", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return EXIT_ERROR
    except click.UsageError as exc:
        exc.show()
        return EXIT_USAGE
    except click.ClickException as exc:
        exc.show()
        return getattr(exc, "exit_code", EXIT_ERROR)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    return EXIT_OK


def _entry() -> None:
    """The ``twinkle`` console script."""
    sys.exit(main())


if __name__ == "__main__":
    _entry()
