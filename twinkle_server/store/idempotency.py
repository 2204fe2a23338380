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

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from twinkle_server.errors import Conflict, InvalidInput, NotFound
from twinkle_server.store.models import IdempotencyRecord, utcnow

__all__ = [
    "IdempotencyClaim",
    "claim_idempotency",
    "complete_idempotency",
    "get_idempotency",
    "purge_idempotency",
    "release_idempotency",
    "request_fingerprint",
]

MAX_KEY_LENGTH = 256


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
    now: datetime | None = None,
) -> IdempotencyClaim:
    """Claim ``key`` for this request, or return the record of the request that claimed it first.

    Args:
        fingerprint: what identifies the request, e.g. ``"POST /api/v1/training_runs"`` plus a hash of
            the body; the same key with another fingerprint is refused.
        ttl_s: how long the record is kept; an expired record is replaced by a new claim.

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
    for _attempt in range(3):
        record = IdempotencyRecord(
            user_id=user_id,
            key=key,
            fingerprint=fingerprint,
            created_at=now,
            expires_at=now + timedelta(seconds=ttl_s),
        )
        try:
            with s.begin_nested():
                s.add(record)
            return IdempotencyClaim(is_new=True, record=record)
        except IntegrityError as exc:
            error = exc
        existing = _find(s, user_id, key)
        if existing is None:  # not a duplicate (e.g. unknown user), or purged meanwhile: try again
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
    raise error


def request_fingerprint(method: str, path: str, body: bytes = b"") -> str:
    """What ``claim_idempotency`` compares: method, path and a sha256 of the raw body."""
    return f"{method.upper()} {path} sha256:{hashlib.sha256(body).hexdigest()}"


def complete_idempotency(
    s: Session, *, user_id: str, key: str, status_code: int, response_body: Any
) -> IdempotencyRecord:
    """Store the response of the request that claimed ``key``; later claims replay it.

    Raises:
        NotFound: no claim for this key (it expired or was released).
    """
    record = _find(s, user_id, key)
    if record is None:
        raise NotFound(f"no idempotency claim for key {key!r}")
    record.status_code = status_code
    record.response_body = response_body
    s.flush()
    return record


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


def purge_idempotency(s: Session, *, now: datetime | None = None, include_pending: bool = False) -> int:
    """Delete expired records (and, with ``include_pending``, every unfinished claim: at start-up,
    no request from before the restart is still running). Returns how many were deleted."""
    condition = IdempotencyRecord.expires_at <= (now or utcnow())
    if include_pending:
        condition = condition | IdempotencyRecord.status_code.is_(None)
    result = s.execute(delete(IdempotencyRecord).where(condition))
    return int(result.rowcount or 0)
