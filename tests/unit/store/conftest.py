from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from twinkle_server.store import Store, User, create_user, open_store


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'twinkle.db'}"


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    st = open_store(db_url)
    yield st
    st.close()


@pytest.fixture
def users(store: Store) -> tuple[User, User]:
    with store.session() as s:
        return create_user(s, name="alice"), create_user(s, name="bob")
