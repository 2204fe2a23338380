"""Who is calling: bearer-key authentication and the principal every operation receives.

Keys are checked against their sha256 in the database (``twinkle_server.store.users``). A server
that had no key at start-up runs open (see ``runtime.check_exposure``): requests without a known
key act as the local user, until the first key is created, after which keys are required for the
rest of the process (creating a key can only close the server, never open it).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from twinkle_server.api.errors import Unauthorized
from twinkle_server.store import users as user_records
from twinkle_server.store.users import KeyLimits

if TYPE_CHECKING:
    from twinkle_server.runtime import Runtime

__all__ = ["Authenticator", "Caller"]

# How often an open server checks whether a key has been created since.
_OPEN_MODE_RECHECK_S = 2.0


@dataclass(frozen=True)
class Caller:
    """The authenticated user behind a request; every owned resource is filtered by ``user_id``."""

    user_id: str
    user_name: str
    limits: KeyLimits | None = None  # an operator's quotas for the key used (None: the settings')


class Authenticator:
    """Turns a bearer token into a :class:`Caller`, or raises :class:`Unauthorized` (401)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._open_checked_at = 0.0
        self._open_user: Caller | None = None

    async def __call__(self, token: str | None) -> Caller:
        if token:
            caller = await asyncio.to_thread(self._lookup, token)
            if caller is not None:
                return caller
        if self.runtime.open_mode and await asyncio.to_thread(self._still_open):
            return await asyncio.to_thread(self._local_user)
        if not token:
            raise Unauthorized(
                "missing API key: send the header `Authorization: Bearer <api key>` "
                "(create a key with `twinkle-server keys create --user NAME`)"
            )
        raise Unauthorized("invalid or revoked API key; check the key, or ask the server admin for a new one")

    def _lookup(self, token: str) -> Caller | None:
        # Every request authenticates: a read-only session never waits behind a writer.
        with self.runtime.store.read_session() as s:
            owner = user_records.find_key_owner(s, plaintext=token)
        return (
            None
            if owner is None
            else Caller(user_id=owner.user_id, user_name=owner.user_name, limits=owner.limits)
        )

    def _still_open(self) -> bool:
        now = time.monotonic()
        if now - self._open_checked_at >= _OPEN_MODE_RECHECK_S:
            self._open_checked_at = now
            with self.runtime.store.read_session() as s:
                if user_records.count_active_api_keys(s) > 0:
                    self.runtime.open_mode = False
        return self.runtime.open_mode

    def _local_user(self) -> Caller:
        if self._open_user is None:
            from twinkle_server.runtime import OPEN_MODE_USER

            with self.runtime.store.session() as s:
                user = user_records.get_or_create_user(s, name=OPEN_MODE_USER)
                self._open_user = Caller(user_id=user.id, user_name=user.name)
        return self._open_user
