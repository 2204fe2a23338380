"""Versioned schema: numbered migrations applied in order, the version kept in ``schema_version``.

Why a runner of our own: the schema is small and we need only "bring this database to the
current version" at start-up, on SQLite and PostgreSQL, without a migration tool as a dependency.

Version 0 is an empty database. Migration 1 creates every table. A later change appends a
migration (``(2, _add_column_x)``) written with explicit DDL, so that an existing database is
upgraded in place; migration 1 keeps creating the tables as they are defined now, so a fresh
database created by it is complete and is then marked as being at the latest version.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, inspect, select, text

from twinkle_server.errors import Conflict
from twinkle_server.store.data_recipes import DataRecipe
from twinkle_server.store.history import HistoryPoint
from twinkle_server.store.instances import ServerInstance
from twinkle_server.store.journal import JournalEntry, RecoverySnapshot
from twinkle_server.store.models import (
    ApiKeyLimits,
    Base,
    HubRepository,
    IdempotencyRecord,
    SchemaVersion,
    Task,
    TrainingRun,
    UploadTask,
)
from twinkle_server.store.placements import RunPlacement

__all__ = ["CURRENT_VERSION", "MIGRATIONS", "Migration", "current_version", "migrate"]

Migration = Callable[[Connection], None]

# Any fixed number: the key of the PostgreSQL advisory lock that migrating processes take in turn.
_PG_MIGRATION_LOCK = 0x7477696E6B6C65  # "twinkle"


def _create_all(conn: Connection) -> None:
    Base.metadata.create_all(conn)


def _add_run_history(conn: Connection) -> None:
    # Migration 1 already creates it on a fresh database (it creates every table defined now).
    HistoryPoint.__table__.create(conn, checkfirst=True)


def _add_hub_repositories(conn: Connection) -> None:
    HubRepository.__table__.create(conn, checkfirst=True)


def _add_column(conn: Connection, table: Any, column: str) -> None:
    """``ALTER TABLE ... ADD COLUMN`` as the model defines it, unless the table already has it (a
    database created by migration 1 from today's models does)."""
    if column in {c["name"] for c in inspect(conn).get_columns(table.name)}:
        return
    column_type = table.c[column].type.compile(dialect=conn.dialect)
    conn.execute(text(f"ALTER TABLE {table.name} ADD COLUMN {column} {column_type}"))


def _add_task_progress(conn: Connection) -> None:
    """The ``progress`` column of tasks and upload tasks."""
    for table in (Task.__table__, UploadTask.__table__):
        _add_column(conn, table, "progress")


def _add_run_placements(conn: Connection) -> None:
    RunPlacement.__table__.create(conn, checkfirst=True)


def _add_api_key_limits(conn: Connection) -> None:
    ApiKeyLimits.__table__.create(conn, checkfirst=True)


def _add_data_recipes(conn: Connection) -> None:
    DataRecipe.__table__.create(conn, checkfirst=True)


def _add_server_instances(conn: Connection) -> None:
    """Several server processes on one database: the ``server_instances`` table, and the
    ``instance_id`` that runs, tasks, uploads and idempotency claims record (rows from before
    have none, so the next start-up recovers them as the single process's leftovers)."""
    ServerInstance.__table__.create(conn, checkfirst=True)
    for model in (TrainingRun, Task, UploadTask, IdempotencyRecord):
        _add_column(conn, model.__table__, "instance_id")
    for index in TrainingRun.__table__.indexes:
        if [c.name for c in index.columns] == ["instance_id"]:
            index.create(conn, checkfirst=True)


def _add_run_recovery_journal(conn: Connection) -> None:
    """The journal of acknowledged operations and the recovery snapshots of runs (``journal.py``)."""
    JournalEntry.__table__.create(conn, checkfirst=True)
    RecoverySnapshot.__table__.create(conn, checkfirst=True)


MIGRATIONS: Sequence[tuple[int, Migration]] = (
    (1, _create_all),
    (2, _add_run_history),
    (3, _add_hub_repositories),
    (4, _add_task_progress),
    (5, _add_run_placements),
    (6, _add_api_key_limits),
    (7, _add_data_recipes),
    (8, _add_server_instances),
    (9, _add_run_recovery_journal),
)
CURRENT_VERSION = MIGRATIONS[-1][0]


def current_version(conn: Connection) -> int:
    """The version recorded in the database; 0 for an empty one.

    Raises:
        Conflict: the database holds tables but no ``schema_version`` (it is not Twinkle's).
    """
    tables = set(inspect(conn).get_table_names())
    if SchemaVersion.__tablename__ not in tables:
        if tables:
            raise Conflict(
                "the database holds tables but no schema_version table, so it is not a Twinkle "
                f"database (tables: {', '.join(sorted(tables)[:8])}); point database_url at an empty one"
            )
        return 0
    version = conn.execute(select(SchemaVersion.version).where(SchemaVersion.id == 1)).scalar()
    return int(version or 0)


def _set_version(conn: Connection, version: int) -> None:
    table = SchemaVersion.__table__
    if conn.execute(select(table.c.id).where(table.c.id == 1)).first() is None:
        conn.execute(table.insert().values(id=1, version=version))
    else:
        conn.execute(table.update().where(table.c.id == 1).values(version=version))


def _serialise_migrators(conn: Connection) -> None:
    """Make server processes that start together on one PostgreSQL database migrate one at a time.

    Two transactions that both find an empty database would both create the tables, and the second
    fails on the first's. A transaction-scoped advisory lock makes the second wait until the first
    commits; it then reads the new version and has nothing to do. SQLite needs nothing: its
    migrating transaction (``BEGIN IMMEDIATE``) already holds the database's only write lock.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})


def migrate(conn: Connection, migrations: Sequence[tuple[int, Migration]] = MIGRATIONS) -> tuple[int, int]:
    """Apply every migration above the database's version, in one transaction; (from, to) versions.

    Raises:
        Conflict: the database is newer than this code (downgrade refused) or not Twinkle's.
    """
    _serialise_migrators(conn)
    start = current_version(conn)
    latest = migrations[-1][0]
    if start > latest:
        raise Conflict(
            f"the database schema is at version {start}, newer than this server knows ({latest}); "
            "upgrade Twinkle or point database_url at another database"
        )
    SchemaVersion.__table__.create(conn, checkfirst=True)
    for number, step in migrations:
        if number > start:
            step(conn)
            _set_version(conn, number)
    return start, max(start, latest)
