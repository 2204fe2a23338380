from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from twinkle_server.errors import Conflict, InvalidInput
from twinkle_server.store import (
    claim_idempotency,
    complete_idempotency,
    get_idempotency,
    open_store,
    purge_idempotency,
    release_idempotency,
    utcnow,
)

FP = "POST /api/v1/training_runs sha256:abc"


def _apply_once(store, user_id, key, applied):
    """What the HTTP layer does: claim, do the work only if new, store the response."""
    with store.session() as s:
        claim = claim_idempotency(s, user_id=user_id, key=key, fingerprint=FP)
    if claim.is_new:
        applied.append(key)
        with store.session() as s:
            complete_idempotency(
                s, user_id=user_id, key=key, status_code=200, response_body={"n": len(applied)}
            )
    return claim


def test_same_key_is_applied_once_and_replays(store, users):
    alice, _ = users
    applied: list[str] = []
    first = _apply_once(store, alice.id, "k1", applied)
    second = _apply_once(store, alice.id, "k1", applied)
    assert first.is_new and not second.is_new
    assert applied == ["k1"]
    assert (second.record.status_code, second.record.response_body) == (200, {"n": 1})


def test_in_progress_claim_is_visible(store, users):
    alice, _ = users
    with store.session() as s:
        assert claim_idempotency(s, user_id=alice.id, key="k", fingerprint=FP).is_new
    with store.session() as s:
        again = claim_idempotency(s, user_id=alice.id, key="k", fingerprint=FP)
    assert not again.is_new and again.record.status_code is None


def test_keys_are_per_user(store, users):
    alice, bob = users
    with store.session() as s:
        assert claim_idempotency(s, user_id=alice.id, key="k", fingerprint=FP).is_new
        assert claim_idempotency(s, user_id=bob.id, key="k", fingerprint="POST /other").is_new


def test_different_request_with_same_key_conflicts(store, users):
    alice, _ = users
    with store.session() as s:
        claim_idempotency(s, user_id=alice.id, key="k", fingerprint=FP)
    with store.session() as s, pytest.raises(Conflict, match="different request"):
        claim_idempotency(s, user_id=alice.id, key="k", fingerprint="POST /api/v1/other")
    with store.session() as s, pytest.raises(InvalidInput):
        claim_idempotency(s, user_id=alice.id, key="", fingerprint=FP)


def test_concurrent_claims_apply_once(db_url, store, users):
    """Threads with their own connections race for each key; exactly one wins every key."""
    alice, _ = users
    stores = [open_store(db_url) for _ in range(4)]
    applied: list[str] = []
    replays: list[str] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(stores))

    def worker(st):
        try:
            for i in range(10):
                barrier.wait()
                if not _apply_once(st, alice.id, f"key-{i}", applied).is_new:
                    replays.append(f"key-{i}")
        except BaseException as exc:
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=worker, args=(st,)) for st in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for st in stores:
        st.close()
    assert errors == []
    assert sorted(applied) == sorted(f"key-{i}" for i in range(10))
    assert len(replays) == 30
    with store.session() as s:
        assert all(get_idempotency(s, user_id=alice.id, key=f"key-{i}").status_code == 200 for i in range(10))


def test_expiry_purge_and_reclaim(store, users):
    alice, _ = users
    t0 = utcnow()
    with store.session() as s:
        claim_idempotency(s, user_id=alice.id, key="old", fingerprint=FP, ttl_s=10, now=t0)
        complete_idempotency(s, user_id=alice.id, key="old", status_code=200, response_body=[1])
        claim_idempotency(s, user_id=alice.id, key="young", fingerprint=FP, ttl_s=1000, now=t0)
    with store.session() as s:  # an expired record no longer blocks its key, even for another request
        assert claim_idempotency(
            s, user_id=alice.id, key="old", fingerprint="POST /x", ttl_s=10, now=t0 + timedelta(seconds=11)
        ).is_new
    with store.session() as s:
        assert purge_idempotency(s, now=t0 + timedelta(seconds=30)) == 1
        assert get_idempotency(s, user_id=alice.id, key="old") is None
        assert get_idempotency(s, user_id=alice.id, key="young") is not None
        assert purge_idempotency(s, now=t0, include_orphaned=True) == 1


def test_release_lets_a_retry_run_again(store, users):
    alice, _ = users
    with store.session() as s:
        claim_idempotency(s, user_id=alice.id, key="k", fingerprint=FP)
    with store.session() as s:
        assert release_idempotency(s, user_id=alice.id, key="k")
    with store.session() as s:
        assert claim_idempotency(s, user_id=alice.id, key="k", fingerprint=FP).is_new
        complete_idempotency(s, user_id=alice.id, key="k", status_code=201, response_body={})
        assert not release_idempotency(s, user_id=alice.id, key="k")  # completed records stay


def test_fingerprint_and_unknown_user(store):
    from sqlalchemy.exc import IntegrityError

    from twinkle_server.store import request_fingerprint

    a = request_fingerprint("post", "/api/v1/x", b'{"a": 1}')
    assert a.startswith("POST /api/v1/x sha256:")
    assert (
        a
        == request_fingerprint("POST", "/api/v1/x", b'{"a": 1}')
        != request_fingerprint("POST", "/api/v1/x", b"{}")
    )
    with pytest.raises(IntegrityError), store.session() as s:  # foreign key: no such user
        claim_idempotency(s, user_id="user_missing", key="k", fingerprint=a)
