"""Per-user quotas: the token bucket, operations at once, adapters per model, and the HTTP answers
(429 with Retry-After, naming the limit) while another user's calls go through."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tests.unit.server._app import served_app
from twinkle_server.config import Settings
from twinkle_server.errors import QuotaExceeded, RateLimited
from twinkle_server.quotas import Quotas, TokenBucket
from twinkle_server.store.db import open_store
from twinkle_server.store.users import KeyLimits, create_api_key, find_key_owner, set_key_limits


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_bucket_allows_a_burst_then_refills_at_its_rate() -> None:
    bucket = TokenBucket(rate=2.0, burst=3, now=0.0)
    assert [bucket.take(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(0.0) == pytest.approx(0.5)  # one token back after 1/rate seconds
    assert bucket.take(0.5) == 0.0
    assert bucket.take(0.5) > 0
    assert [bucket.take(10.0) for _ in range(3)] == [0.0, 0.0, 0.0]  # never more than the burst
    assert bucket.take(10.0) > 0


def test_rate_is_counted_per_user(tmp_path: Path) -> None:
    clock = _Clock()
    quotas = Quotas(Settings(data_dir=tmp_path, rate_limit_per_s=1.0, rate_limit_burst=2), clock=clock)
    quota = quotas.quota_for(None)
    quotas.admit("alice", quota)
    quotas.admit("alice", quota)
    with pytest.raises(RateLimited) as refused:
        quotas.admit("alice", quota)
    assert refused.value.retry_after == pytest.approx(1.0)
    assert "1 requests per second" in refused.value.message
    quotas.admit("bob", quota)  # alice's empty bucket is hers only
    clock.now += 1.0
    quotas.admit("alice", quota)


def test_a_keys_own_limits_replace_the_settings(tmp_path: Path) -> None:
    quotas = Quotas(Settings(data_dir=tmp_path, max_tasks_per_user=4, rate_limit_per_s=5.0))
    quota = quotas.quota_for(KeyLimits(max_runs_per_model=2, rate_per_s=50.0))
    assert (quota.max_runs_per_model, quota.max_tasks, quota.rate_per_s) == (2, 4, 50.0)
    assert Quotas(Settings(data_dir=tmp_path, rate_limit_per_s=None)).quota_for(None).rate_per_s is None


def test_tasks_in_flight_are_capped_and_released_once(tmp_path: Path) -> None:
    quotas = Quotas(Settings(data_dir=tmp_path, max_tasks_per_user=2))
    quota = quotas.quota_for(None)
    first = quotas.claim_task("alice", quota)
    quotas.claim_task("alice", quota)
    with pytest.raises(QuotaExceeded) as refused:
        quotas.claim_task("alice", quota)
    assert refused.value.details["limit"] == "max_tasks_per_user"
    quotas.claim_task("bob", quota)
    first()
    first()  # a second release of the same claim frees nothing more
    assert quotas.tasks_in_flight("alice") == 1
    quotas.claim_task("alice", quota)
    with pytest.raises(QuotaExceeded):
        quotas.claim_task("alice", quota)


def test_adapters_per_model_quota_names_the_limit(tmp_path: Path) -> None:
    quotas = Quotas(Settings(data_dir=tmp_path, max_runs_per_user=1))
    quota = quotas.quota_for(None)
    quotas.check_runs(quota, model_id="m", held=0)
    with pytest.raises(QuotaExceeded, match="max_runs_per_user=1") as refused:
        quotas.check_runs(quota, model_id="m", held=1)
    assert refused.value.retry_after is None  # waiting cannot free an adapter: no Retry-After
    quotas.check_runs(quotas.quota_for(None), model_id="m", held=0)


def test_key_limits_are_stored_and_read_with_the_key(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    with store.session() as s:
        plain, key = create_api_key(s, user_name="alice")
        set_key_limits(s, key=key.id, limits=KeyLimits(max_runs_per_model=3, burst=7))
    with store.session() as s:
        owner = find_key_owner(s, plaintext=plain)
    assert owner is not None and owner.limits == KeyLimits(max_runs_per_model=3, burst=7)
    with store.session() as s:
        set_key_limits(s, key=key.prefix, limits=KeyLimits())  # all unset: back to the settings
        assert find_key_owner(s, plaintext=plain).limits is None
    store.close()


def _bob_key(client, data_dir: Path) -> str:
    store = open_store(f"sqlite:///{data_dir / 'twinkle.db'}")
    with store.session() as s:
        key, _ = create_api_key(s, user_name="bob")
    store.close()
    return key


def test_http_answers_429_with_retry_after_and_another_user_goes_through(tmp_path: Path) -> None:
    with served_app(tmp_path, rate_limit_per_s=0.01, rate_limit_burst=5) as (client, alice):
        bob = _bob_key(client, tmp_path)
        as_alice = {"Authorization": f"Bearer {alice}"}
        as_bob = {"Authorization": f"Bearer {bob}"}
        alice_codes, bob_codes = [], []
        for _ in range(4):  # alice sends 5 requests for each of bob's
            alice_codes += [client.get("/api/v1/whoami", headers=as_alice).status_code for _ in range(5)]
            bob_codes.append(client.get("/api/v1/whoami", headers=as_bob).status_code)
        assert alice_codes.count(200) == 5 and alice_codes.count(429) == 15
        assert bob_codes == [200, 200, 200, 200]
        refused = client.get("/api/v1/whoami", headers=as_alice)
        assert refused.status_code == 429
        assert int(refused.headers["Retry-After"]) >= 1
        error = refused.json()["error"]
        assert error["code"] == "rate_limited" and error["details"]["limit"] == "rate_limit_per_s"
        assert client.get("/healthz").status_code == 200  # no key, no bucket


def test_one_user_flooding_from_threads_leaves_the_other_served(tmp_path: Path) -> None:
    with served_app(tmp_path, rate_limit_per_s=0.01, rate_limit_burst=10) as (client, alice):
        bob = _bob_key(client, tmp_path)
        codes: list[int] = []
        lock = threading.Lock()

        def flood() -> None:
            for _ in range(10):
                code = client.get("/api/v1/whoami", headers={"Authorization": f"Bearer {alice}"}).status_code
                with lock:
                    codes.append(code)

        threads = [threading.Thread(target=flood) for _ in range(4)]
        for thread in threads:
            thread.start()
        bob_codes = [
            client.get("/api/v1/whoami", headers={"Authorization": f"Bearer {bob}"}).status_code
            for _ in range(8)
        ]
        for thread in threads:
            thread.join()
        assert sorted(set(codes)) == [200, 429] and codes.count(200) == 10 and len(codes) == 40
        assert bob_codes == [200] * 8


def test_operations_over_max_tasks_are_refused_before_any_work(tmp_path: Path) -> None:
    with served_app(tmp_path, max_tasks_per_user=1, wait_window_s=120) as (client, alice):
        headers = {"Authorization": f"Bearer {alice}"}
        runtime = client.app.state.runtime
        user_id = client.get("/api/v1/whoami", headers=headers).json()["user_id"]
        release = runtime.quotas.claim_task(user_id, runtime.quotas.quota_for(None))  # one in flight
        body = {"dataset_meta": {"data": [{"query": "q", "response": "r"}]}}
        refused = client.post("/api/v1/datasets", json=body, headers=headers)
        assert refused.status_code == 429, refused.text
        assert refused.json()["error"]["code"] == "quota_exceeded"
        assert "max_tasks_per_user=1" in refused.json()["error"]["message"]
        assert "Retry-After" in refused.headers
        release()
        assert client.post("/api/v1/datasets", json=body, headers=headers).status_code == 201
        assert runtime.quotas.tasks_in_flight(user_id) == 0
