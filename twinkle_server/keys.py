"""``twinkle-server keys``: create, list and revoke API keys in the server's database.

A key is printed once, at creation; the database keeps only its hash, so a lost key is revoked
and replaced, never recovered.
"""

from __future__ import annotations

import argparse
import sys

from twinkle_server.config import load_settings
from twinkle_server.errors import TwinkleError
from twinkle_server.store import users
from twinkle_server.store.db import open_store

__all__ = ["run_keys"]


def _create(store, user: str) -> int:
    with store.session() as s:
        plaintext, key = users.create_api_key(s, user_name=user)
    print(f"created key {key.id} for user {user!r}; it is shown only now, store it safely:")
    print(plaintext)
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
                return _create(store, args.user)
            if args.keys_action == "list":
                return _list(store, args.user)
            return _revoke(store, args.key)
        finally:
            store.close()
    except TwinkleError as exc:
        print(f"twinkle-server keys {args.keys_action}: error: {exc.message}", file=sys.stderr)
        return 1
