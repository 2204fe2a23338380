from __future__ import annotations

from collections.abc import Iterator

import pytest

from twinkle_server.store import Store, User, create_user, open_store


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    st = open_store(db_url)
    yield st
    st.close()


@pytest.fixture
def users(store: Store) -> tuple[User, User]:
    with store.session() as s:
        return create_user(s, name="alice"), create_user(s, name="bob")
