"""Tag ``account``: who the caller's API key belongs to."""

from __future__ import annotations

from typing import Any

from twinkle_api_server.service import RequestContext

from twinkle_server.api.base import ServiceBase

__all__ = ["AccountOps"]


class AccountOps(ServiceBase):
    async def whoami(self, ctx: RequestContext) -> Any:
        caller = self.caller(ctx)
        return {"user_id": caller.user_id, "user_name": caller.user_name}
