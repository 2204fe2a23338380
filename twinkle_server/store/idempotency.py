"""Idempotency records: a POST retried with the same ``Idempotency-Key`` is applied once.

Protocol for the HTTP layer (each step in its own short ``store.session()``)::

    claim = claim_idempotency(s, user_id=u, key=k, fingerprint="POST /api/v1/runs/x/step")
    if not claim.is_new:
        rec = claim.record
        if rec.status_code is None: answer 409 "still in progress, retry later"   (or wait and re-read)
        else: replay rec.status_code / rec.response_body
    ... do the work ...
    complete_idempotency(s, user_id=u, key=k, status_code=200, response_body=body)
    # on an error that should not be replayed (5xx, 429/503 "retry later"): release_idempotency(...)

Two concurrent claims of one key: the unique constraint on (user_id, key) lets exactly one insert
win; the other waits for it to commit and then reads the winner's record. Call ``claim_idempotency``
first thing in a fresh session (on SQLite a transaction that already read may not be able to write).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from twinkle_server.errors import Conflict, InvalidInput, NotFound, Unavailable
from twinkle_server.store.instances import orphaned
from twinkle_server.store.models import IdempotencyRecord, utcnow

__all__ = [
    "IdempotencyClaim",
    "claim_idempotency",
    "complete_idempotency",
    "get_idempotency",
    "purge_idempotency",
    "release_idempotency",
    "reopen_idempotency",
    "request_fingerprint",
]

MAX_KEY_LENGTH = 256

# Every keyed request claims and completes a record: these statements are built once (building them
# per call costs more than running them), and run on the session's connection, outside the ORM.
# A claim asks for the new row's id back: a row means this call inserted it. (Not ``rowcount``:
# SQLAlchemy adds RETURNING to a PostgreSQL insert, and psycopg then reports rowcount -1.)
_CLAIMS = {
    name: insert(IdempotencyRecord)
    .on_conflict_do_nothing(index_elements=["user_id", "key"])
    .returning(IdempotencyRecord.id)
    for name, insert in (("sqlite", sqlite.insert), ("postgresql", postgresql.insert))
}
_COMPLETE = (
    update(IdempotencyRecord)
    .where(IdempotencyRecord.user_id == bindparam("user"), IdempotencyRecord.key == bindparam("claimed_key"))
    .values(status_code=bindparam("status_code"), response_body=bindparam("response_body"))
)


@dataclass(frozen=True)
class IdempotencyClaim:
    """``is_new``: this request owns the key and must do the work. Otherwise ``record`` is the first
    request's: ``status_code`` None while it is in progress, else its stored response."""

    is_new: bool
    record: IdempotencyRecord


def _find(s: Session, user_id: str, key: str) -> IdempotencyRecord | None:
    return s.scalar(
        select(IdempotencyRecord).where(IdempotencyRecord.user_id == user_id, IdempotencyRecord.key == key)
    )


def get_idempotency(s: Session, *, user_id: str, key: str) -> IdempotencyRecord | None:
    return _find(s, user_id, key)


def claim_idempotency(
    s: Session,
    *,
    user_id: str,
    key: str,
    fingerprint: str,
    ttl_s: float = 86400.0,
    instance_id: str | None = None,
    now: datetime | None = None,
) -> IdempotencyClaim:
    """Claim ``key`` for this request, or return the record of the request that claimed it first.

    Args:
        fingerprint: what identifies the request, e.g. ``"POST /api/v1/training_runs"`` plus a hash of
            the body; the same key with another fingerprint is refused.
        ttl_s: how long the record is kept; an expired record is replaced by a new claim.
        instance_id: the server instance handling the request (its claim is dropped if that
            instance goes away before answering).

    Raises:
        InvalidInput: the key is empty or longer than 256 characters.
        Conflict: the key was already used for a different request.
    """
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise InvalidInput(
            f"Idempotency-Key must be 1-{MAX_KEY_LENGTH} printable characters",
            details={"field": "Idempotency-Key"},
        )
    now = now or utcnow()
    expires_at = now + timedelta(seconds=ttl_s)
    for _attempt in range(3):
        values = {
            "user_id": user_id,
            "key": key,
            "fingerprint": fingerprint,
            "created_at": now,
            "expires_at": expires_at,
            "instance_id": instance_id,
        }
        if _insert_if_absent(s, values):
            record = IdempotencyRecord(**values)
            return IdempotencyClaim(is_new=True, record=record)
        existing = _find(s, user_id, key)
        if existing is None:  # purged between the two statements: try again
            continue
        if existing.expires_at <= now:  # a stale record no longer binds the key
            s.delete(existing)
            s.flush()
            continue
        if existing.fingerprint != fingerprint:
            raise Conflict(
                f"Idempotency-Key {key!r} was already used for a different request "
                f"({existing.fingerprint}); use a new key for each logical request",
                details={"idempotency_key": key},
            )
        return IdempotencyClaim(is_new=False, record=existing)
    raise Unavailable(f"Idempotency-Key {key!r} could not be claimed; retry the request", retry_after=1.0)


def _insert_if_absent(s: Session, values: dict[str, Any]) -> bool:
    """Insert a claim (the record's column ``values``) unless its ``(user_id, key)`` has a record;
    whether this call inserted it. Any other integrity error (an unknown user) is raised.

    One ``INSERT ... ON CONFLICT DO NOTHING`` on SQLite and PostgreSQL; elsewhere an ORM insert in
    a savepoint, whose unique-constraint failure means "already there".
    """
    connection = s.connection()
    statement = _CLAIMS.get(connection.dialect.name)
    if statement is not None:
        return connection.execute(statement, values).first() is not None
    try:
        with s.begin_nested():
            s.add(IdempotencyRecord(**values))
    except IntegrityError:
        if _find(s, values["user_id"], values["key"]) is None:
            raise
        return False
    return True


def request_fingerprint(method: str, path: str, body: bytes = b"") -> str:
    """What ``claim_idempotency`` compares: method, path and a sha256 of the raw body."""
    return f"{method.upper()} {path} sha256:{hashlib.sha256(body).hexdigest()}"


def complete_idempotency(s: Session, *, user_id: str, key: str, status_code: int, response_body: Any) -> None:
    """Store the response of the request that claimed ``key``; later claims replay it.

    Raises:
        NotFound: no claim for this key (it expired or was released).
    """
    values = {"user": user_id, "claimed_key": key, "status_code": status_code, "response_body": response_body}
    if not s.connection().execute(_COMPLETE, values).rowcount:
        raise NotFound(f"no idempotency claim for key {key!r}")


def release_idempotency(s: Session, *, user_id: str, key: str) -> bool:
    """Drop an unfinished claim, so a retry runs the request again (use after a retryable error)."""
    result = s.execute(
        delete(IdempotencyRecord).where(
            IdempotencyRecord.user_id == user_id,
            IdempotencyRecord.key == key,
            IdempotencyRecord.status_code.is_(None),
        )
    )
    return bool(result.rowcount)


def reopen_idempotency(
    s: Session, *, user_id: str, key: str, status_code: int, instance_id: str | None = None
) -> bool:
    """Turn the completed record of ``key`` back into an unfinished claim of ``instance_id``, so that
    this request runs the operation again (its first run provably did not take effect). Only while
    the record still holds ``status_code``: of two retries reopening at once, exactly one gets True."""
    result = s.execute(
        update(IdempotencyRecord)
        .where(
            IdempotencyRecord.user_id == user_id,
            IdempotencyRecord.key == key,
            IdempotencyRecord.status_code == status_code,
        )
        .values(status_code=None, response_body=None, instance_id=instance_id)
    )
    return bool(result.rowcount)


def purge_idempotency(s: Session, *, now: datetime | None = None, include_orphaned: bool = False) -> int:
    """Delete expired records (and, with ``include_orphaned``, every unanswered claim that no
    registered server instance handles: its request died with its process, so the same key may
    run again). Returns how many were deleted."""
    condition = IdempotencyRecord.expires_at <= (now or utcnow())
    if include_orphaned:
        unanswered = IdempotencyRecord.status_code.is_(None)
        condition = condition | (unanswered & orphaned(IdempotencyRecord.instance_id))
    result = s.execute(delete(IdempotencyRecord).where(condition))
    return int(result.rowcount or 0)
