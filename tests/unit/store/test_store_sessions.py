from __future__ import annotations

from datetime import timedelta

import pytest

from twinkle_server.errors import Conflict
from twinkle_server.store import (
    close_session,
    create_run,
    create_session,
    expire_sessions,
    get_run,
    get_session,
    heartbeat_session,
    utcnow,
)


def test_expiry_releases_only_stale_sessions_runs(store, users):
    alice, bob = users
    t0 = utcnow()
    with store.session() as s:
        stale = create_session(s, user_id=alice.id, now=t0)
        fresh = create_session(s, user_id=bob.id, now=t0)
        run_a = create_run(s, user_id=alice.id, session_id=stale.id, base_model="m", adapter_name="a")
        run_b = create_run(s, user_id=bob.id, session_id=fresh.id, base_model="m", adapter_name="b")
        heartbeat_session(s, user_id=bob.id, session_id=fresh.id, now=t0 + timedelta(seconds=100))
    with store.session() as s:
        ended = expire_sessions(s, now=t0 + timedelta(seconds=130), timeout_s=120)
    assert [(e.session_id, e.user_id, e.run_ids) for e in ended] == [(stale.id, alice.id, [run_a.id])]
    with store.session() as s:
        assert get_session(s, user_id=alice.id, session_id=stale.id).status == "expired"
        assert get_session(s, user_id=bob.id, session_id=fresh.id).status == "active"
        assert get_run(s, user_id=alice.id, run_id=run_a.id).status == "released"
        assert get_run(s, user_id=bob.id, run_id=run_b.id).status == "active"
        # a second sweep finds nothing new; an expired session refuses heartbeats and new runs
        assert expire_sessions(s, now=t0 + timedelta(seconds=131), timeout_s=120) == []
        with pytest.raises(Conflict):
            heartbeat_session(s, user_id=alice.id, session_id=stale.id)
        with pytest.raises(Conflict):
            create_run(s, user_id=alice.id, session_id=stale.id, base_model="m", adapter_name="c")


def test_close_releases_at_once_and_is_retry_safe(store, users):
    alice, _ = users
    with store.session() as s:
        sess = create_session(s, user_id=alice.id)
        runs = [
            create_run(s, user_id=alice.id, session_id=sess.id, base_model="m", adapter_name=f"{i}")
            for i in range(2)
        ]
    with store.session() as s:
        ended = close_session(s, user_id=alice.id, session_id=sess.id)
    assert sorted(ended.run_ids) == sorted(r.id for r in runs)
    with store.session() as s:
        assert close_session(s, user_id=alice.id, session_id=sess.id).run_ids == []
        assert get_session(s, user_id=alice.id, session_id=sess.id).status == "closed"
        assert all(get_run(s, user_id=alice.id, run_id=r.id).status == "released" for r in runs)
        assert expire_sessions(s, now=utcnow() + timedelta(days=1), timeout_s=1) == []


def test_naive_datetimes_are_refused(store, users):
    alice, _ = users
    with pytest.raises(Exception, match="timezone-aware"), store.session() as s:
        create_session(s, user_id=alice.id, now=utcnow().replace(tzinfo=None))
