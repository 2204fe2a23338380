"""Tag ``sessions``: create, heartbeat, close. Ending a session frees its runs' adapters."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session
from twinkle_api_server import models
from twinkle_api_server.service import RequestContext

from twinkle_server.api.base import ServiceBase, iso, payload_of
from twinkle_server.errors import NotFound
from twinkle_server.requests.idempotency import Reply
from twinkle_server.store import sessions as session_records
from twinkle_server.store.models import ClientSession

__all__ = ["SessionOps"]


def _missing(session_id: str) -> NotFound:
    return NotFound(f"session {session_id} not found", details={"session_id": session_id})


class SessionOps(ServiceBase):
    def session_body(self, row: ClientSession) -> dict[str, Any]:
        settings = self.runtime.settings
        return {
            "session_id": row.id,
            "status": row.status,
            "created_at": iso(row.created_at),
            "last_heartbeat_at": iso(row.last_heartbeat_at),
            "expires_at": iso(row.last_heartbeat_at + timedelta(seconds=settings.session_timeout_s)),
            "heartbeat_interval_s": settings.heartbeat_interval_s,
            "metadata": dict(row.meta or {}),
        }

    async def create_session(
        self, ctx: RequestContext, *, body: models.CreateSessionRequest | None, idempotency_key: str | None
    ) -> Any:
        user_id = self.caller(ctx).user_id
        payload = payload_of(body)

        def create() -> dict[str, Any]:
            with self.runtime.store.session() as s:
                row = session_records.create_session(s, user_id=user_id, metadata=payload.get("metadata"))
                return self.session_body(row)

        async def execute() -> Reply:
            return Reply(201, await self.db(create))

        return await self.once(ctx, idempotency_key, payload, execute, success_status=201)

    def _change_session(
        self, user_id: str, session_id: str, change: Callable[[Session], Any | None]
    ) -> tuple[Any, dict[str, Any]]:
        """Apply ``change`` to the caller's session in one transaction: (its result, the session's body).

        ``change`` answers None when the session is missing or another user's (404).
        """
        with self.runtime.store.session() as s:
            result = change(s)
            if result is None:
                raise _missing(session_id)
            row = session_records.get_session(s, user_id=user_id, session_id=session_id)
            assert row is not None
            return result, self.session_body(row)

    async def session_heartbeat(
        self,
        ctx: RequestContext,
        *,
        session_id: str,
        body: models.EmptyRequest | None,
        idempotency_key: str | None,
    ) -> Any:
        # A heartbeat is naturally idempotent and must not be answered from a stale record.
        user_id = self.caller(ctx).user_id

        def beat(s: Session) -> ClientSession | None:
            return session_records.heartbeat_session(s, user_id=user_id, session_id=session_id)

        _, answer = await self.db(self._change_session, user_id, session_id, beat)
        return answer

    async def close_session(
        self,
        ctx: RequestContext,
        *,
        session_id: str,
        body: models.EmptyRequest | None,
        idempotency_key: str | None,
    ) -> Any:
        # Closing twice is harmless (the store makes it a no-op), so no idempotency record is needed.
        user_id = self.caller(ctx).user_id

        def close(s: Session) -> Any:
            return session_records.close_session(s, user_id=user_id, session_id=session_id)

        def close_and_free() -> dict[str, Any]:
            ended, answer = self._change_session(user_id, session_id, close)
            self.runtime.end_sessions([ended])
            return answer

        return await self.db(close_and_free)
