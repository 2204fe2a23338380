from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import text

from twinkle_server.errors import Conflict, InvalidInput, NotFound
from twinkle_server.store import (
    authenticate,
    count_active_api_keys,
    create_api_key,
    create_user,
    list_api_keys,
    revoke_api_key,
)


def test_key_authenticates_its_user(store):
    with store.session() as s:
        plaintext, key = create_api_key(s, user_name="alice")
    assert plaintext.startswith("tw-") and len(plaintext) == 43
    assert plaintext[3:].isalnum()
    with store.session() as s:
        user = authenticate(s, plaintext=plaintext)
        assert user is not None and user.name == "alice" and user.id == key.user_id


def test_only_the_hash_is_stored(store, db_url):
    with store.session() as s:
        plaintext, _ = create_api_key(s, user_name="alice")
    with store.engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM api_keys")).mappings().all()
    assert len(rows) == 1
    assert rows[0]["key_hash"] == hashlib.sha256(plaintext.encode()).hexdigest()
    assert all(plaintext not in str(value) for value in rows[0].values())
    if db_url.startswith("sqlite:///"):  # nor anywhere in the database file
        with open(db_url.removeprefix("sqlite:///"), "rb") as f:
            assert plaintext.encode() not in f.read()


def test_wrong_or_malformed_keys_fail(store):
    with store.session() as s:
        plaintext, _ = create_api_key(s, user_name="alice")
    wrong = plaintext[:-1] + ("A" if plaintext[-1] != "A" else "B")
    with store.session() as s:
        for candidate in (wrong, "", "tw-", plaintext + "x", plaintext.upper(), "Bearer " + plaintext):
            assert authenticate(s, plaintext=candidate) is None, candidate


def test_revoked_key_fails_and_others_keep_working(store):
    with store.session() as s:
        first, key1 = create_api_key(s, user_name="alice")
        second, key2 = create_api_key(s, user_name="alice")
    with store.session() as s:
        revoked = revoke_api_key(s, key=key1.id)
        assert revoked.revoked_at is not None
    with store.session() as s:
        assert authenticate(s, plaintext=first) is None
        assert authenticate(s, plaintext=second).name == "alice"
        assert count_active_api_keys(s) == 1
        assert [k.id for k in list_api_keys(s, user_name="alice", include_revoked=False)] == [key2.id]
        assert len(list_api_keys(s, user_name="alice")) == 2


def test_revoke_by_prefix_and_plaintext(store):
    with store.session() as s:
        _, key1 = create_api_key(s, user_name="alice")
        second, _ = create_api_key(s, user_name="bob")
        revoke_api_key(s, key=key1.prefix)
        revoke_api_key(s, key=second)
        assert count_active_api_keys(s) == 0
        with pytest.raises(NotFound):
            revoke_api_key(s, key="key_doesnotexist1234")


def test_users_are_unique_and_names_checked(store):
    with store.session() as s:
        alice = create_user(s, name="alice")
        with pytest.raises(Conflict):
            create_user(s, name="alice")
        with pytest.raises(InvalidInput):
            create_user(s, name="has space")
        _, key = create_api_key(s, user_name="alice")  # reuses the existing user
        assert key.user_id == alice.id
        assert len(list_api_keys(s)) == 1
