"""A throwaway PostgreSQL server for the tests: initdb in a temp folder, one server per test session.

Why a real server rather than SQLite pretending: PostgreSQL's locking, transactional DDL and types
differ from SQLite's, and the store promises both. The server runs from Debian's ``postgresql``
package (``.ci/run`` installs it when missing). PostgreSQL refuses to run as root, so under root it
runs as the unprivileged ``postgres`` user (which the package creates). It listens on 127.0.0.1 on a
free port only (no unix socket), trusts local connections, and is tuned for speed, not durability
(``fsync=off``): test databases are thrown away. It is stopped by the pid recorded at start.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

__all__ = ["PostgresServer", "PostgresUnavailable", "find_postgres_bin"]

SUPERUSER = "twinkle"
START_TIMEOUT_S = 30.0
_UNPRIVILEGED_USER = "postgres"


class PostgresUnavailable(RuntimeError):
    """PostgreSQL's binaries or the Python driver are not installed on this machine."""


def find_postgres_bin() -> Path:
    """The folder holding ``initdb`` and ``postgres``: from PATH, else Debian's newest version."""
    on_path = shutil.which("initdb")
    if on_path:
        return Path(os.path.realpath(on_path)).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if not versions:
        raise PostgresUnavailable(
            "PostgreSQL is not installed (no initdb on PATH or under /usr/lib/postgresql); "
            "install it with `apt-get install -y postgresql`"
        )
    return Path(versions[-1]).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run_as() -> tuple[int, int] | None:
    """(uid, gid) to run the server as when this process is root (PostgreSQL refuses root), else None."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(_UNPRIVILEGED_USER)
    except KeyError as exc:
        raise PostgresUnavailable(
            f"running as root and no {_UNPRIVILEGED_USER!r} user to run PostgreSQL as; "
            "install the postgresql package (it creates one)"
        ) from exc
    return entry.pw_uid, entry.pw_gid


class PostgresServer:
    """One PostgreSQL server in a temp folder. ``start()``, ``create_database()``, ``stop()``.

    Example::

        server = PostgresServer()
        server.start()
        url = server.url(server.create_database())   # postgresql+psycopg://twinkle@127.0.0.1:P/db
        server.stop()
    """

    def __init__(self) -> None:
        self.bin = find_postgres_bin()
        try:
            import psycopg  # noqa: F401
        except ModuleNotFoundError as exc:
            missing = "the psycopg driver is missing: pip install 'twinkle[postgres]'"
            raise PostgresUnavailable(missing) from exc
        self.root = Path(tempfile.mkdtemp(prefix="twinkle-pg-"))
        self.port = 0
        self.pid: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._owner = _run_as()

    def _command(self, *args: str) -> list[str]:
        return [str(self.bin / args[0]), *args[1:]]

    def _spawn(self, args: list[str], **kwargs: object) -> subprocess.Popen[bytes]:
        owner = {} if self._owner is None else {"user": self._owner[0], "group": self._owner[1]}
        return subprocess.Popen(args, cwd=self.root, **owner, **kwargs)  # type: ignore[call-overload]

    def start(self) -> None:
        if self._owner is not None:
            os.chown(self.root, *self._owner)
        data = self.root / "data"
        initdb = self._spawn(
            self._command("initdb", "-D", str(data), "-U", SUPERUSER, "-A", "trust", "-E", "UTF8", "-N"),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        out, _ = initdb.communicate(timeout=120)
        if initdb.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{out.decode(errors='replace')}")
        self.port = _free_port()
        log = open(self.root / "server.log", "wb")  # noqa: SIM115 (the server writes it until stopped)
        self._process = self._spawn(
            self._command(
                "postgres", "-D", str(data), "-p", str(self.port), "-h", "127.0.0.1", "-k", "",
                "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                "-c", "max_connections=200",
            ),
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        log.close()
        self.pid = self._process.pid
        self._wait_ready()

    def _wait_ready(self) -> None:
        import psycopg

        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(f"postgres exited at start:\n{self.log()}")
            try:
                with psycopg.connect(self.dsn("postgres"), connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    late = f"postgres did not accept connections in time:\n{self.log()}"
                    raise RuntimeError(late) from None
                time.sleep(0.05)

    def log(self) -> str:
        path = self.root / "server.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def dsn(self, database: str) -> str:
        return f"host=127.0.0.1 port={self.port} user={SUPERUSER} dbname={database}"

    def url(self, database: str) -> str:
        """The SQLAlchemy URL of ``database`` on this server (the psycopg 3 driver)."""
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            conn.execute(sql)

    def create_database(self) -> str:
        """A new empty database; its name."""
        name = f"t_{uuid.uuid4().hex[:16]}"
        self._admin(f"CREATE DATABASE {name} STRATEGY FILE_COPY")
        return name

    def drop_database(self, name: str) -> None:
        self._admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def stop(self) -> None:
        """Fast shutdown (SIGINT) of the recorded pid, then remove the folder."""
        if self.pid is not None and self._process is not None:
            os.kill(self.pid, signal.SIGINT)
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self._process.wait(timeout=10)
            self.pid = None
        shutil.rmtree(self.root, ignore_errors=True)
