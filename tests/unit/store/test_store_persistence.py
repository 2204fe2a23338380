"""Restart: everything survives reopening the file; unfinished work is failed; migrations."""

from __future__ import annotations

import pytest

from twinkle_server.errors import Conflict
from twinkle_server.store import (
    CURRENT_VERSION,
    authenticate,
    claim_idempotency,
    create_api_key,
    create_checkpoint,
    create_run,
    create_task,
    create_upload_task,
    fail_orphaned_tasks,
    finish_task,
    get_checkpoint,
    get_run,
    get_task,
    get_upload_task,
    open_store,
    recover_orphans,
    release_orphaned_runs,
    start_task,
)
from twinkle_server.store.migrations import MIGRATIONS


def test_state_survives_reopen(db_url):
    store = open_store(db_url)
    with store.session() as s:
        plaintext, key = create_api_key(s, user_name="alice")
        run = create_run(s, user_id=key.user_id, base_model="tiny", adapter_name="a", lora_config={"r": 4})
        ckpt = create_checkpoint(
            s, user_id=key.user_id, run_id=run.id, name="c1", path="checkpoints/x", size_bytes=9
        )
        done = create_task(s, user_id=key.user_id, operation="step", run_id=run.id)
        finish_task(s, task_id=done.id, result={"applied": True})
        running = create_task(s, user_id=key.user_id, operation="forward", run_id=run.id)
        start_task(s, task_id=running.id)
        upload = create_upload_task(
            s, user_id=key.user_id, checkpoint_id=ckpt.id, hub="local", hub_model_id="a/b"
        )
    store.close()

    store = open_store(db_url)
    with store.session() as s:
        claim_idempotency(s, user_id=key.user_id, key="in-flight", fingerprint="POST /x")
    with store.session() as s:
        recovery = recover_orphans(s)
    assert sorted(recovery.failed_task_ids) == sorted([running.id, upload.id])
    assert recovery.released_run_ids == [run.id]
    assert recovery.purged_idempotency_records == 1
    with store.session() as s:  # a second pass finds nothing left to do
        assert fail_orphaned_tasks(s) == [] and release_orphaned_runs(s) == []
    with store.session() as s:
        user = authenticate(s, plaintext=plaintext)
        assert user.id == key.user_id
        got = get_run(s, user_id=user.id, run_id=run.id)
        assert (got.lora_config, got.status) == ({"r": 4}, "released")
        c = get_checkpoint(s, user_id=user.id, checkpoint_id=ckpt.id)
        assert (c.path, c.size_bytes) == ("checkpoints/x", 9)
        assert c.created_at.tzinfo is not None
        t = get_task(s, user_id=user.id, task_id=done.id)
        assert (t.status, t.result, t.http_status) == ("succeeded", {"applied": True}, 200)
        r = get_task(s, user_id=user.id, task_id=running.id)
        assert (r.status, r.error["code"], r.http_status) == ("failed", "unavailable", 503)
        assert get_upload_task(s, user_id=user.id, upload_id=upload.id).status == "failed"
        with pytest.raises(Conflict):
            finish_task(s, task_id=done.id, result={})
    store.close()


def test_fresh_database_is_at_current_version(db_url):
    store = open_store(db_url)
    assert store.schema_version() == CURRENT_VERSION == MIGRATIONS[-1][0]
    store.close()


def _raw(db_url: str, *statements: str) -> None:
    """Run SQL on the database directly, outside the store (to build old or foreign databases)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(db_url)
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))
    engine.dispose()


def test_version_zero_database_migrates(db_url):
    _raw(
        db_url,
        "CREATE TABLE schema_version (id INTEGER PRIMARY KEY, version INTEGER)",
        "INSERT INTO schema_version VALUES (1, 0)",
    )
    store = open_store(db_url)
    assert store.schema_version() == CURRENT_VERSION
    with store.session() as s:
        create_api_key(s, user_name="alice")
    store.close()


def test_pending_migration_runs_once(db_url):
    """A later migration is applied to a database at the previous version, and only once."""
    from sqlalchemy import create_engine, inspect, text

    from twinkle_server.store.migrations import migrate

    calls = []

    def add_column(conn):
        calls.append(1)
        conn.execute(text("ALTER TABLE users ADD COLUMN email VARCHAR(256)"))

    engine = create_engine(db_url)
    with engine.begin() as conn:
        assert migrate(conn) == (0, CURRENT_VERSION)
    steps = (*MIGRATIONS, (CURRENT_VERSION + 1, add_column))
    with engine.begin() as conn:
        assert migrate(conn, steps) == (CURRENT_VERSION, CURRENT_VERSION + 1)
    with engine.begin() as conn:
        assert migrate(conn, steps) == (CURRENT_VERSION + 1, CURRENT_VERSION + 1)
        assert "email" in [c["name"] for c in inspect(conn).get_columns("users")]
    assert calls == [1]
    engine.dispose()


def test_newer_database_is_refused(db_url):
    _raw(
        db_url,
        "CREATE TABLE schema_version (id INTEGER PRIMARY KEY, version INTEGER)",
        "INSERT INTO schema_version VALUES (1, 99)",
    )
    with pytest.raises(Conflict, match="newer"):
        open_store(db_url)


def test_foreign_database_is_refused(db_url):
    _raw(db_url, "CREATE TABLE something (x INTEGER)")
    with pytest.raises(Conflict, match="not a Twinkle database"):
        open_store(db_url)


def test_concurrent_start_ups_migrate_once(db_url):
    """Several server processes opening one empty database at once: one migrates, none fails."""
    import threading

    errors: list[BaseException] = []
    stores = []
    barrier = threading.Barrier(4)

    def start_up():
        try:
            barrier.wait()
            stores.append(open_store(db_url))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start_up) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert [st.schema_version() for st in stores] == [CURRENT_VERSION] * 4
    for st in stores:
        st.close()


sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@sqlite_only
def test_sqlite_pragmas(store):
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


@sqlite_only
def test_writers_queue_and_readers_do_not_wait(db_url, store):
    """A write session holds SQLite's write lock; a reader in another store still reads at once."""
    import threading
    import time

    from twinkle_server.store import get_user_by_name

    other = open_store(db_url)
    with store.session() as s:
        create_api_key(s, user_name="alice")
    entered = threading.Event()
    order: list[str] = []

    def second_writer():
        entered.wait()
        with other.session() as s2:
            create_api_key(s2, user_name="bob")  # waits for the first writer's commit
            order.append("second writer")

    thread = threading.Thread(target=second_writer)
    thread.start()
    with store.session() as s:
        create_api_key(s, user_name="carol")
        entered.set()
        time.sleep(0.3)
        with other.read_session() as r:
            assert get_user_by_name(r, name="alice") is not None
            assert get_user_by_name(r, name="carol") is None  # not committed yet
        order.append("first writer")
    thread.join()
    assert order == ["first writer", "second writer"]
    with other.read_session() as r:
        assert get_user_by_name(r, name="bob") is not None
    other.close()


def test_a_database_from_before_server_instances_is_upgraded_and_its_runs_recovered(db_url):
    """Version 7 had no ``server_instances`` and no ``instance_id`` columns: migration 8 adds them,
    and the single process's runs and tasks, recorded under no instance, are recovered."""
    from sqlalchemy import create_engine, inspect

    from twinkle_server.store.migrations import migrate

    engine = create_engine(db_url)
    with engine.begin() as conn:
        migrate(conn, MIGRATIONS[:7])
    engine.dispose()
    tables = ("training_runs", "tasks", "upload_tasks", "idempotency_records")
    _raw(
        db_url,
        "DROP TABLE server_instances",
        "DROP INDEX ix_training_runs_instance_id",
        *(f"ALTER TABLE {table} DROP COLUMN instance_id" for table in tables),
        "INSERT INTO users (id, name, created_at) VALUES ('usr_a', 'alice', '2026-01-01 00:00:00')",
        "INSERT INTO training_runs (id, user_id, base_model, adapter_name, lora_config,"
        " gradient_accumulation_steps, status, metadata, created_at) VALUES ('run_old', 'usr_a',"
        " 'tiny', 'a', '{}', 1, 'active', '{}', '2026-01-01 00:00:00')",
        "INSERT INTO tasks (id, user_id, operation, run_id, status, created_at) VALUES"
        " ('task_old', 'usr_a', 'step', 'run_old', 'running', '2026-01-01 00:00:00')",
    )
    store = open_store(db_url)  # the upgrade
    assert store.schema_version() == CURRENT_VERSION
    with store.engine.connect() as conn:
        for table in tables:
            assert "instance_id" in [c["name"] for c in inspect(conn).get_columns(table)]
        assert "server_instances" in inspect(conn).get_table_names()
    with store.session() as s:
        recovery = recover_orphans(s)
    assert (recovery.released_run_ids, recovery.failed_task_ids) == (["run_old"], ["task_old"])
    store.close()
