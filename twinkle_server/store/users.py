"""Users and API keys. Only a key's sha256 hash is stored; the plaintext is shown once, at creation.

A key is ``tw-`` + 40 characters of [A-Za-z0-9] (about 238 random bits), so a plain sha256 is
enough (no slow hash needed: keys are not guessable like passwords). ``authenticate`` looks
candidates up by the non-secret display prefix and compares hashes in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from twinkle_server.errors import Conflict, InvalidInput, NotFound
from twinkle_server.store.ids import new_id
from twinkle_server.store.models import ApiKey, ApiKeyLimits, User, utcnow

__all__ = [
    "KEY_PREFIX",
    "KeyLimits",
    "KeyOwner",
    "authenticate",
    "count_active_api_keys",
    "create_api_key",
    "create_user",
    "find_key_owner",
    "get_or_create_user",
    "get_user",
    "get_user_by_name",
    "hash_api_key",
    "key_limits",
    "list_api_keys",
    "revoke_api_key",
    "set_key_limits",
]

KEY_PREFIX = "tw-"
_KEY_BODY_LEN = 40
_DISPLAY_LEN = len(KEY_PREFIX) + 8
_ALPHABET = string.ascii_letters + string.digits


def hash_api_key(plaintext: str) -> str:
    """Hex sha256 of a key: what the database holds instead of the key."""
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


def _check_user_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 128 or any(ch.isspace() or not ch.isprintable() for ch in name):
        raise InvalidInput(f"user name must be 1-128 printable characters without spaces, not {name!r}")
    return name


def create_user(s: Session, *, name: str) -> User:
    """A new user. Raises Conflict if the name is taken, InvalidInput if it is malformed."""
    name = _check_user_name(name)
    if get_user_by_name(s, name=name) is not None:
        raise Conflict(f"user {name!r} already exists")
    user = User(id=new_id("user"), name=name)
    s.add(user)
    s.flush()
    return user


def get_user(s: Session, *, user_id: str) -> User | None:
    return s.get(User, user_id)


def get_user_by_name(s: Session, *, name: str) -> User | None:
    return s.scalar(select(User).where(User.name == name))


def get_or_create_user(s: Session, *, name: str) -> User:
    return get_user_by_name(s, name=_check_user_name(name)) or create_user(s, name=name)


def create_api_key(s: Session, *, user_name: str) -> tuple[str, ApiKey]:
    """A new key for ``user_name`` (the user is created if new): (plaintext, stored row).

    The plaintext is returned only here; print it once and forget it.
    """
    user = get_or_create_user(s, name=user_name)
    plaintext = KEY_PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(_KEY_BODY_LEN))
    key = ApiKey(
        id=new_id("key"), user_id=user.id, prefix=plaintext[:_DISPLAY_LEN], key_hash=hash_api_key(plaintext)
    )
    s.add(key)
    s.flush()
    return plaintext, key


@dataclass(frozen=True)
class KeyLimits:
    """An operator's quotas for one key; None keeps the server's setting for that quota."""

    max_runs_per_model: int | None = None
    max_tasks: int | None = None
    rate_per_s: float | None = None
    burst: int | None = None

    def is_empty(self) -> bool:
        return all(v is None for v in (self.max_runs_per_model, self.max_tasks, self.rate_per_s, self.burst))


@dataclass(frozen=True)
class KeyOwner:
    """Who a key belongs to, as authentication needs it (read without loading ORM objects)."""

    user_id: str
    user_name: str
    key_id: str = ""
    limits: KeyLimits | None = None


# Built once: the statement every request runs (building and caching it per call costs more than
# the query itself).
_KEY_OWNERS = (
    select(
        ApiKey.key_hash,
        ApiKey.revoked_at,
        User.id,
        User.name,
        ApiKey.id,
        ApiKeyLimits.max_runs_per_model,
        ApiKeyLimits.max_tasks,
        ApiKeyLimits.rate_per_s,
        ApiKeyLimits.burst,
    )
    .join(User, User.id == ApiKey.user_id)
    .outerjoin(ApiKeyLimits, ApiKeyLimits.key_id == ApiKey.id)
    .where(ApiKey.prefix == bindparam("prefix"))
)


def find_key_owner(s: Session, *, plaintext: str) -> KeyOwner | None:
    """The owner of this key, or None for an unknown, malformed or revoked key. One query: every
    request authenticates, so this reads plain rows instead of loading ORM objects."""
    if not plaintext.startswith(KEY_PREFIX) or len(plaintext) != len(KEY_PREFIX) + _KEY_BODY_LEN:
        return None
    digest = hash_api_key(plaintext)
    candidates = s.connection().execute(_KEY_OWNERS, {"prefix": plaintext[:_DISPLAY_LEN]}).all()
    match = None
    for key_hash, revoked_at, user_id, user_name, key_id, *quota in candidates:
        # compare every candidate, so timing does not depend on which matched
        if hmac.compare_digest(key_hash, digest) and revoked_at is None:
            limits = KeyLimits(*quota)
            match = KeyOwner(
                user_id=user_id,
                user_name=user_name,
                key_id=key_id,
                limits=None if limits.is_empty() else limits,
            )
    return match


def authenticate(s: Session, *, plaintext: str) -> User | None:
    """The user owning this key, or None for an unknown, malformed or revoked key."""
    owner = find_key_owner(s, plaintext=plaintext)
    return None if owner is None else s.get(User, owner.user_id)


def set_key_limits(s: Session, *, key: str, limits: KeyLimits) -> ApiKey:
    """Set an operator's quotas on a key (named as :func:`revoke_api_key` names it); None fields
    fall back to the server's settings, so an all-None ``limits`` clears the key's own quotas."""
    row = _find_key(s, key)
    stored = s.get(ApiKeyLimits, row.id)
    if stored is None:
        stored = ApiKeyLimits(key_id=row.id)
        s.add(stored)
    stored.max_runs_per_model = limits.max_runs_per_model
    stored.max_tasks = limits.max_tasks
    stored.rate_per_s = limits.rate_per_s
    stored.burst = limits.burst
    s.flush()
    return row


def key_limits(s: Session, *, key_id: str) -> KeyLimits | None:
    """The quotas an operator set on a key, or None."""
    stored = s.get(ApiKeyLimits, key_id)
    if stored is None:
        return None
    limits = KeyLimits(stored.max_runs_per_model, stored.max_tasks, stored.rate_per_s, stored.burst)
    return None if limits.is_empty() else limits


def list_api_keys(s: Session, *, user_name: str | None = None, include_revoked: bool = True) -> list[ApiKey]:
    """Keys (never their plaintext), oldest first; all users' unless ``user_name`` is given."""
    stmt = select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)
    if user_name is not None:
        stmt = stmt.join(User, User.id == ApiKey.user_id).where(User.name == user_name)
    if not include_revoked:
        stmt = stmt.where(ApiKey.revoked_at.is_(None))
    return list(s.scalars(stmt))


def revoke_api_key(s: Session, *, key: str, now: datetime | None = None) -> ApiKey:
    """Revoke a key named by its id (``key_…``), its display prefix or its plaintext.

    Raises:
        NotFound: no key matches.
        Conflict: the prefix matches several keys (use the id).
    """
    row = _find_key(s, key)
    if row.revoked_at is None:
        row.revoked_at = now or utcnow()
        s.flush()
    return row


def _find_key(s: Session, key: str) -> ApiKey:
    """The key named by its id (``key_…``), its display prefix or its plaintext.

    Raises:
        NotFound: no key matches.
        Conflict: the prefix matches several keys (use the id).
    """
    if key.startswith("key_"):
        rows = [k for k in [s.get(ApiKey, key)] if k is not None]
    elif len(key) == len(KEY_PREFIX) + _KEY_BODY_LEN:
        rows = list(s.scalars(select(ApiKey).where(ApiKey.key_hash == hash_api_key(key))))
    else:
        rows = list(s.scalars(select(ApiKey).where(ApiKey.prefix == key)))
    if not rows:
        raise NotFound(f"no API key matches {key!r}; list keys to see their ids and prefixes")
    if len(rows) > 1:
        raise Conflict(f"{key!r} matches {len(rows)} keys; name it by id instead")
    return rows[0]


def count_active_api_keys(s: Session) -> int:
    """Keys not revoked; a server with none refuses to listen beyond loopback unless told to."""
    return int(s.scalar(select(func.count()).select_from(ApiKey).where(ApiKey.revoked_at.is_(None))) or 0)
