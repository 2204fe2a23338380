"""Opening the database: engine, connection settings, migrations and a session factory.

SQLite (the default) is tuned for a server with several threads: WAL so readers never block the
writer, ``foreign_keys`` on (SQLite leaves them off), a busy timeout so a writer waits for the lock
instead of failing at once, and explicit ``BEGIN`` so SQLAlchemy's savepoints work with Python's
sqlite3 driver. Sessions that may write start with ``BEGIN IMMEDIATE`` (one writer at a time, the
others wait up to the busy timeout); ``read_session`` starts a plain ``BEGIN`` that never waits for
writers. PostgreSQL is used as is from its URL.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker

from twinkle_server.errors import Conflict, InvalidInput
from twinkle_server.store.migrations import CURRENT_VERSION, current_version, migrate

__all__ = ["SQLITE_BUSY_TIMEOUT_MS", "Store", "open_store"]

SQLITE_BUSY_TIMEOUT_MS = 10_000
_IMMEDIATE = "twinkle_sqlite_immediate"


def _enable_wal(cursor: Any) -> None:
    """Switch the database to write-ahead logging (kept in the file: a no-op once done).

    The switch needs the write lock, and SQLite may answer "database is locked" at once instead of
    waiting out the busy timeout while another connection holds it (server processes starting
    together on a new database, one of them migrating): so it is tried again until the timeout.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # let SQLAlchemy emit BEGIN itself (see _sqlite_begin)
    cursor = dbapi_conn.cursor()
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    _enable_wal(cursor)
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    # A deferred transaction that reads and then writes fails at once ("database is locked") when
    # another connection committed in between; taking the write lock up front makes it wait instead.
    immediate = conn.get_execution_options().get(_IMMEDIATE, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class Store:
    """An open database: ``engine`` plus a session factory.

    Example::

        store = open_store("sqlite:///data/twinkle.db")
        with store.session() as s:          # commits on success, rolls back on error
            plaintext, key = create_api_key(s, user_name="alice")
        store.close()

    Objects loaded in a session stay readable after it ends (``expire_on_commit=False``), so the
    HTTP layer can build responses from them. Keep sessions short: never hold one open while
    waiting for the engine or long-polling.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._writer = sessionmaker(engine.execution_options(**{_IMMEDIATE: True}), expire_on_commit=False)
        self._reader = sessionmaker(engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction that may write: committed when the block ends, rolled back
        on error. On SQLite it holds the write lock for its whole duration."""
        with self._writer() as s, s.begin():
            yield s

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """A session for reads only (authentication, GETs): does not wait for writers on SQLite.
        Writing in it may fail with "database is locked" under contention; use ``session()``."""
        with self._reader() as s, s.begin():
            yield s

    def schema_version(self) -> int:
        with self.engine.connect() as conn:
            return current_version(conn)

    def close(self) -> None:
        self.engine.dispose()


def _engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise InvalidInput(f"database_url {url!r} is not a database URL: {exc}") from exc
    if parsed.get_backend_name() != "sqlite":
        return create_engine(parsed, pool_pre_ping=True)
    database = parsed.database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(parsed, connect_args={"check_same_thread": False, "timeout": 30})
    event.listen(engine, "connect", _sqlite_pragmas)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def open_store(url: str, *, migrate_schema: bool = True) -> Store:
    """Open the database at ``url`` and bring its schema to the current version.

    Args:
        url: a SQLAlchemy URL, e.g. ``sqlite:////abs/path/twinkle.db`` or
            ``postgresql+psycopg://user@host/db``. The folder of a SQLite file is created.
        migrate_schema: apply pending migrations (default). With False an outdated database is refused.

    Raises:
        InvalidInput: the URL is malformed or names a driver that is not installed.
        Conflict: the database is newer than this code, outdated (with migrate_schema=False),
            or is not a Twinkle database.
    """
    try:
        engine = _engine(url)
    except ModuleNotFoundError as exc:
        raise InvalidInput(f"database_url {url!r} needs the driver {exc.name!r}; install it") from exc
    try:
        with engine.execution_options(**{_IMMEDIATE: True}).begin() as conn:
            if migrate_schema:
                migrate(conn)
            elif (version := current_version(conn)) != CURRENT_VERSION:
                raise Conflict(
                    f"database schema is at version {version}, this server needs {CURRENT_VERSION}"
                )
    except BaseException:
        engine.dispose()
        raise
    return Store(engine)
