"""Task progress in the store: the column a version 3 database gains, written while running only."""

from __future__ import annotations

from sqlalchemy import create_engine, inspect

from twinkle_server.store import open_store
from twinkle_server.store import tasks as task_records
from twinkle_server.store.migrations import CURRENT_VERSION, MIGRATIONS, migrate
from twinkle_server.store.users import get_or_create_user


def test_migration_adds_progress_to_a_version_3_database(tmp_path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    with engine.begin() as conn:
        migrate(conn, MIGRATIONS[:3])
        for table in ("tasks", "upload_tasks"):  # as a database made before the column existed
            conn.exec_driver_sql(f"ALTER TABLE {table} DROP COLUMN progress")
    with engine.begin() as conn:
        assert migrate(conn) == (3, CURRENT_VERSION)
        for table in ("tasks", "upload_tasks"):
            assert "progress" in {c["name"] for c in inspect(conn).get_columns(table)}
    engine.dispose()
    store = open_store(f"sqlite:///{tmp_path / 'old.db'}")
    with store.session() as s:
        user = get_or_create_user(s, name="alice")
        task = task_records.create_task(s, user_id=user.id, operation="dataset_encode")
        task_id = task.id
    with store.session() as s:
        half = {"done": 5, "total": 10, "unit": "rows", "stage": "encode"}
        assert task_records.set_task_progress(s, task_id=task_id, progress=half)
    with store.session() as s:
        task_records.finish_task(s, task_id=task_id, result={}, progress={**half, "done": 10})
    with store.session() as s:
        late = task_records.set_task_progress(s, task_id=task_id, progress=half)
        assert late is False  # a late write never overwrites the finished task's last figure
        assert task_records.get_task(s, user_id=user.id, task_id=task_id).progress["done"] == 10
    store.close()
