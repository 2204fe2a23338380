"""Tag ``history``: a run's recorded training history, paged or as a CSV/JSON download."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from fastapi import Response
from twinkle_api_server.service import RequestContext

from twinkle_server.api.base import ServiceBase, iso
from twinkle_server.store import history as history_records
from twinkle_server.store.history import HistoryPoint
from twinkle_server.store.pagination import MAX_LIMIT

__all__ = ["CSV_COLUMNS", "HistoryOps", "point_body"]

CSV_COLUMNS = (
    "seq",
    "kind",
    "step",
    "loss",
    "num_tokens",
    "micro_batches",
    "grad_norm",
    "lr",
    "step_time_s",
    "tokens_per_s",
    "recorded_at",
)


def point_body(row: HistoryPoint) -> dict[str, Any]:
    rate = row.num_tokens / row.step_time_s if row.step_time_s and row.kind == "train" else None
    return {
        "seq": row.seq,
        "kind": row.kind,
        "step": row.step,
        "loss": row.loss,
        "num_tokens": row.num_tokens,
        "micro_batches": row.micro_batches,
        "grad_norm": row.grad_norm,
        "lr": row.lr,
        "step_time_s": row.step_time_s,
        "tokens_per_s": rate,
        "metrics": dict(row.metrics or {}),
        "recorded_at": iso(row.recorded_at),
    }


def to_csv(points: list[dict[str, Any]]) -> str:
    """The points as CSV: the fixed columns, then one ``metric.<name>`` column per metric seen."""
    metric_names = sorted({name for p in points for name in p["metrics"]})
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*CSV_COLUMNS, *(f"metric.{name}" for name in metric_names)])
    for p in points:
        fixed = ["" if p[c] is None else p[c] for c in CSV_COLUMNS]
        writer.writerow([*fixed, *(p["metrics"].get(name, "") for name in metric_names)])
    return out.getvalue()


class HistoryOps(ServiceBase):
    def _points(
        self, user_id: str, run_id: str, *, kind: str | None, limit: int, offset: int
    ) -> tuple[list[dict[str, Any]], int]:
        self.owned_run(user_id, run_id)  # 404 for a missing run and another user's alike
        self.runtime.history.flush()  # every step answered so far is in the page
        with self.runtime.store.read_session() as s:
            rows, total = history_records.list_points(s, run_id=run_id, kind=kind, limit=limit, offset=offset)
            return [point_body(r) for r in rows], total

    async def get_run_history(
        self, ctx: RequestContext, *, run_id: str, limit: int, offset: int, kind: Any = None
    ) -> Any:
        user_id = self.caller(ctx).user_id
        kind_name = getattr(kind, "value", kind)
        points, total = await self.db(
            self._points, user_id, run_id, kind=kind_name, limit=limit, offset=offset
        )
        return {
            "training_run_id": run_id,
            "points": points,
            "cursor": {"limit": limit, "offset": offset, "total_count": total},
        }

    async def _everything(self, ctx: RequestContext, run_id: str, kind: Any) -> list[dict[str, Any]]:
        user_id = self.caller(ctx).user_id
        kind_name = getattr(kind, "value", kind)

        def collect() -> list[dict[str, Any]]:
            points, total = self._points(user_id, run_id, kind=kind_name, limit=MAX_LIMIT, offset=0)
            while len(points) < total:
                more, total = self._points(
                    user_id, run_id, kind=kind_name, limit=MAX_LIMIT, offset=len(points)
                )
                if not more:
                    break
                points.extend(more)
            return points

        return await self.db(collect)

    @staticmethod
    def _download(content: str, media_type: str, filename: str) -> Response:
        headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
        return Response(content, media_type=media_type, headers=headers)

    async def export_run_history_csv(self, ctx: RequestContext, *, run_id: str, kind: Any = None) -> Any:
        points = await self._everything(ctx, run_id, kind)
        return self._download(to_csv(points), "text/csv", f"{run_id}-history.csv")

    async def export_run_history_json(self, ctx: RequestContext, *, run_id: str, kind: Any = None) -> Any:
        points = await self._everything(ctx, run_id, kind)
        body = json.dumps({"training_run_id": run_id, "points": points})
        return self._download(body, "application/json", f"{run_id}-history.json")
