"""Tag ``tasks``: long-poll an operation that answered 202."""

from __future__ import annotations

from typing import Any

from twinkle_api_server.service import RequestContext

from twinkle_server.api.base import ServiceBase

__all__ = ["TaskOps"]


class TaskOps(ServiceBase):
    async def get_task(self, ctx: RequestContext, *, task_id: str, wait: float = 0.0) -> Any:
        view = await self.runtime.tasks.get(task_id, user_id=self.caller(ctx).user_id, wait_s=wait or 0.0)
        return view.to_dict()
