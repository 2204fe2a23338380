"""``twinkle-server keys``: create, list and revoke API keys in the server's database.

A key is printed once, at creation; the database keeps only its hash, so a lost key is revoked
and replaced, never recovered.
"""

from __future__ import annotations

import argparse
import sys

from twinkle_server.config import load_settings
from twinkle_server.errors import InvalidInput, TwinkleError
from twinkle_server.store import users
from twinkle_server.store.db import open_store

__all__ = ["run_keys"]


def _limits_of(args: argparse.Namespace) -> users.KeyLimits:
    """The quotas given on the command line; each must be positive."""
    given = {
        "max_runs_per_model": args.max_runs,
        "max_tasks": args.max_tasks,
        "rate_per_s": args.rate,
        "burst": args.burst,
    }
    for option, value in zip(("--max-runs", "--max-tasks", "--rate", "--burst"), given.values(), strict=True):
        if value is not None and not value > 0:
            raise InvalidInput(f"{option} must be above 0, not {value}")
    return users.KeyLimits(**given)


def _describe(limits: users.KeyLimits | None) -> str:
    if limits is None:
        return "the server's settings"
    parts = [
        f"max runs per model {limits.max_runs_per_model}" if limits.max_runs_per_model else "",
        f"max tasks {limits.max_tasks}" if limits.max_tasks else "",
        f"rate {limits.rate_per_s:g}/s" if limits.rate_per_s else "",
        f"burst {limits.burst}" if limits.burst else "",
    ]
    return ", ".join(p for p in parts if p)


def _create(store, args: argparse.Namespace) -> int:
    limits = _limits_of(args)
    with store.session() as s:
        plaintext, key = users.create_api_key(s, user_name=args.user)
        if not limits.is_empty():
            users.set_key_limits(s, key=key.id, limits=limits)
    print(f"created key {key.id} for user {args.user!r}; it is shown only now, store it safely:")
    print(plaintext)
    if not limits.is_empty():
        print(f"quotas: {_describe(limits)}")
    return 0


def _set_limits(store, args: argparse.Namespace) -> int:
    limits = _limits_of(args)
    with store.session() as s:
        row = users.set_key_limits(s, key=args.key, limits=limits)
    shown = None if limits.is_empty() else limits
    print(f"key {row.id} ({row.prefix}...) now has quotas: {_describe(shown)}")
    print("a running server applies them from the key's next request")
    return 0


def _list(store, user: str | None) -> int:
    with store.session() as s:
        keys = users.list_api_keys(s, user_name=user)
        names = {u.id: u.name for u in (users.get_user(s, user_id=k.user_id) for k in keys) if u is not None}
    if not keys:
        print("no keys" + (f" for user {user!r}" if user else ""))
        return 0
    print(f"{'id':<28} {'user':<20} {'prefix':<12} {'created (UTC)':<20} status")
    for key in keys:
        status = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "active"
        created = f"{key.created_at:%Y-%m-%d %H:%M:%S}"
        print(f"{key.id:<28} {names.get(key.user_id, '?'):<20} {key.prefix:<12} {created:<20} {status}")
    return 0


def _revoke(store, key: str) -> int:
    with store.session() as s:
        row = users.revoke_api_key(s, key=key)
    print(f"revoked key {row.id} ({row.prefix}...)")
    return 0


def run_keys(args: argparse.Namespace) -> int:
    """Run one ``keys`` action; exit code 0 on success, 1 on a refused action."""
    try:
        settings = load_settings(args.config)
        store = open_store(str(settings.database_url))
        try:
            if args.keys_action == "create":
                return _create(store, args)
            if args.keys_action == "limits":
                return _set_limits(store, args)
            if args.keys_action == "list":
                return _list(store, args.user)
            return _revoke(store, args.key)
        finally:
            store.close()
    except TwinkleError as exc:
        print(f"twinkle-server keys {args.keys_action}: error: {exc.message}", file=sys.stderr)
        return 1
