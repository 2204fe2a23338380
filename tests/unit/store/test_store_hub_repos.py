"""Hub repository ownership: first publisher owns it; names compare without case; per hub."""

from __future__ import annotations

import threading

from sqlalchemy import create_engine, inspect

from twinkle_server.store import Store, User
from twinkle_server.store.hub_repos import claim_hub_repository, hub_repository_owner
from twinkle_server.store.migrations import CURRENT_VERSION, MIGRATIONS, migrate


def test_the_first_publisher_owns_the_repository(store: Store, users: tuple[User, User]) -> None:
    alice, bob = users
    with store.session() as s:
        assert hub_repository_owner(s, hub="local", hub_model_id="alice/m1") is None
        assert claim_hub_repository(s, user_id=alice.id, hub="local", hub_model_id="alice/m1")
    with store.session() as s:
        assert claim_hub_repository(s, user_id=alice.id, hub="local", hub_model_id="alice/m1")
        assert not claim_hub_repository(s, user_id=bob.id, hub="local", hub_model_id="alice/m1")
        assert not claim_hub_repository(s, user_id=bob.id, hub="local", hub_model_id="Alice/M1")
        assert claim_hub_repository(s, user_id=bob.id, hub="modelscope", hub_model_id="alice/m1")
        assert hub_repository_owner(s, hub="local", hub_model_id="ALICE/m1") == alice.id


def test_concurrent_claims_have_one_winner(store: Store, users: tuple[User, User]) -> None:
    alice, bob = users
    results: dict[str, bool] = {}
    barrier = threading.Barrier(2)

    def claim(user: User) -> None:
        barrier.wait()
        with store.session() as s:
            results[user.name] = claim_hub_repository(s, user_id=user.id, hub="local", hub_model_id="x/y")

    threads = [threading.Thread(target=claim, args=(u,)) for u in (alice, bob)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results.values()) == [False, True]


def test_a_version_1_database_gains_the_table(db_url: str) -> None:
    engine = create_engine(db_url)
    with engine.begin() as conn:
        migrate(conn, MIGRATIONS[:1])
        conn.exec_driver_sql("DROP TABLE hub_repositories")  # as version 1 created it
    with engine.begin() as conn:
        assert migrate(conn) == (1, CURRENT_VERSION)
        assert "hub_repositories" in inspect(conn).get_table_names()
    engine.dispose()
