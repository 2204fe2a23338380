"""Table definitions (SQLAlchemy 2 typed declarative).

Why these choices:

* Timestamps are timezone-aware UTC in Python and naive UTC in the database (:class:`UTCDateTime`),
  so SQLite and PostgreSQL give back the same values.
* JSON columns use ``JSON`` (``JSONB`` on PostgreSQL). The Python attribute for a ``metadata``
  column is ``meta``, because ``metadata`` is reserved by SQLAlchemy's declarative base.
* Ids are strings made by :func:`twinkle_server.store.ids.new_id` (``run_…``, ``ckpt_…``): they travel
  in URLs, so they are URL-safe and do not reveal how many rows exist.
* Every owned row carries ``user_id``, so the ownership filter is one ``WHERE`` on the row itself.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

__all__ = [
    "ApiKey",
    "ApiKeyLimits",
    "Base",
    "Checkpoint",
    "ClientSession",
    "HubRepository",
    "IdempotencyRecord",
    "SchemaVersion",
    "Task",
    "TrainingRun",
    "UploadTask",
    "User",
    "utcnow",
]


def utcnow() -> datetime:
    """The current time, timezone-aware UTC (the only kind the store accepts)."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, returns aware UTC; refuses naive datetimes so no local time sneaks in."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("the store only accepts timezone-aware datetimes; use utcnow()")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


JSONType = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSONType}  # noqa: RUF012


class SchemaVersion(Base):
    """One row: the migration the database is at (see twinkle_server.store.migrations)."""

    __tablename__ = "schema_version"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(Integer)


class User(Base):
    __tablename__ = "users"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiKey(Base):
    """An API key: only its sha256 hash is stored; ``prefix`` is shown in listings to tell keys apart."""

    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    prefix: Mapped[str] = mapped_column(String(32), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class ApiKeyLimits(Base):
    """An operator's per-key quotas; a column left None falls back to the server's setting."""

    __tablename__ = "api_key_limits"
    key_id: Mapped[str] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"), primary_key=True)
    max_runs_per_model: Mapped[int | None] = mapped_column(default=None)
    max_tasks: Mapped[int | None] = mapped_column(default=None)
    rate_per_s: Mapped[float | None] = mapped_column(default=None)
    burst: Mapped[int | None] = mapped_column(default=None)


class ClientSession(Base):
    """A client's session: kept alive by heartbeats; its runs' adapters are freed when it ends."""

    __tablename__ = "sessions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_heartbeat_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default="active", index=True)  # active|closed|expired
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)


class TrainingRun(Base):
    """A LoRA adapter on a base model. ``active`` while its adapter is loaded, ``released`` after."""

    __tablename__ = "training_runs"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    session_id: Mapped[str | None] = mapped_column(
        ForeignKey("sessions.id", ondelete="SET NULL"), index=True, default=None
    )
    base_model: Mapped[str] = mapped_column(String(256))
    adapter_name: Mapped[str] = mapped_column(String(256))
    lora_config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    gradient_accumulation_steps: Mapped[int] = mapped_column(default=1)
    seed: Mapped[int | None] = mapped_column(default=None)
    status: Mapped[str] = mapped_column(String(16), default="active", index=True)  # active|released
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The server instance whose memory holds the adapter (store/instances.py); a released run keeps
    # it until that instance has freed the adapter, then None.
    instance_id: Mapped[str | None] = mapped_column(String(64), index=True, default=None)


class Checkpoint(Base):
    """A saved, complete checkpoint folder; ``path`` is relative to the server's data dir."""

    __tablename__ = "checkpoints"
    __table_args__ = (UniqueConstraint("run_id", "name", name="uq_checkpoints_run_name"),)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("training_runs.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    path: Mapped[str] = mapped_column(String(1024))
    size_bytes: Mapped[int] = mapped_column(default=0)
    has_optimizer: Mapped[bool] = mapped_column(default=False)
    optimizer_step: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class IdempotencyRecord(Base):
    """The first response to a POST sent with an ``Idempotency-Key``; ``status_code`` None = in progress."""

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("user_id", "key", name="uq_idempotency_user_key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(256))
    fingerprint: Mapped[str] = mapped_column(String(1024))
    status_code: Mapped[int | None] = mapped_column(default=None)
    response_body: Mapped[Any | None] = mapped_column(JSONType, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    # The server instance handling the request while it is unanswered (store/instances.py).
    instance_id: Mapped[str | None] = mapped_column(String(64), default=None)


class Task(Base):
    """Long-running engine work answered with 202; status pending|running|succeeded|failed."""

    __tablename__ = "tasks"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    operation: Mapped[str] = mapped_column(String(64))
    run_id: Mapped[str | None] = mapped_column(
        ForeignKey("training_runs.id", ondelete="SET NULL"), index=True, default=None
    )
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    result: Mapped[Any | None] = mapped_column(JSONType, default=None)
    error: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    http_status: Mapped[int | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    # {"done", "total", "unit", "stage"}: how far the work got (rows encoded, ops ahead in a queue).
    progress: Mapped[dict[str, Any] | None] = mapped_column(JSONType, default=None)
    # The server instance running it (store/instances.py).
    instance_id: Mapped[str | None] = mapped_column(String(64), default=None)


class UploadTask(Base):
    """Upload of a checkpoint to a hub; status pending|running|succeeded|failed."""

    __tablename__ = "upload_tasks"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    checkpoint_id: Mapped[str | None] = mapped_column(
        ForeignKey("checkpoints.id", ondelete="SET NULL"), index=True, default=None
    )
    hub: Mapped[str] = mapped_column(String(32))
    hub_model_id: Mapped[str] = mapped_column(String(256))
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    url: Mapped[str | None] = mapped_column(String(2048), default=None)
    error: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    # {"done", "total", "unit": "bytes", "stage"}: how much of the adapter was published.
    progress: Mapped[dict[str, Any] | None] = mapped_column(JSONType, default=None)
    # The server instance running it (store/instances.py).
    instance_id: Mapped[str | None] = mapped_column(String(64), default=None)


class HubRepository(Base):
    """Who owns a hub repository: the user who first published to it through this server.

    ``repo_key`` is ``hub_model_id`` lowercased (hubs compare repository names without case)."""

    __tablename__ = "hub_repositories"
    hub: Mapped[str] = mapped_column(String(32), primary_key=True)
    repo_key: Mapped[str] = mapped_column(String(256), primary_key=True)
    hub_model_id: Mapped[str] = mapped_column(String(256))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
