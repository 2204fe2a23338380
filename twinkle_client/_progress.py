"""A progress bar for long remote work, drawn only when someone is watching a terminal.

A task's ``progress`` (``done`` of ``total`` ``unit``, a ``stage``) comes with every poll. When
stderr is a terminal the transport draws it with tqdm (a small pure-Python package of the light
install); in a script whose output goes to a file or a pipe nothing is printed, and without tqdm
the work goes on without a bar.
"""

from __future__ import annotations

import os
import sys
from typing import IO, Any

__all__ = ["PROGRESS_ENV", "TaskBar", "bar_wanted"]

PROGRESS_ENV = "TWINKLE_PROGRESS"
"""``0`` turns bars off, ``1`` forces them on (for a terminal the check cannot see); unset: auto."""


def bar_wanted(stream: IO[str] | None = None) -> bool:
    """Whether to draw bars on ``stream`` (stderr by default): a terminal, unless told otherwise."""
    forced = os.environ.get(PROGRESS_ENV, "").strip().lower()
    if forced in ("0", "false", "no", "off"):
        return False
    if forced in ("1", "true", "yes", "on"):
        return True
    stream = stream if stream is not None else sys.stderr
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError):  # closed or replaced streams
        return False


class TaskBar:
    """One bar that follows the ``progress`` of a task through its stages (queued, then encode...).

    Args:
        label: what the user called (``dataset_encode``), shown before the stage.
        stream: where to draw; nothing is drawn unless :func:`bar_wanted` says so for it.
    """

    def __init__(self, label: str, stream: IO[str] | None = None) -> None:
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = bar_wanted(self.stream)
        self._bar: Any = None
        self._stage: str | None = None

    def update(self, progress: Any) -> None:
        """Show ``progress`` (a task's ``progress`` object, or None when it reported nothing)."""
        if not self.enabled or not isinstance(progress, dict):
            return
        done, total = progress.get("done"), progress.get("total")
        if not isinstance(done, int):
            return
        stage = str(progress.get("stage") or "")
        if self._bar is None or stage != self._stage:
            self.close()
            self._bar = self._new_bar(stage, total, str(progress.get("unit") or ""))
            self._stage = stage
            if self._bar is None:
                return
        if isinstance(total, int) and total != self._bar.total:
            self._bar.total = total
        self._bar.n = done
        self._bar.refresh()

    def _new_bar(self, stage: str, total: Any, unit: str) -> Any:
        try:
            from tqdm import tqdm
        except ImportError:  # the light install without tqdm: work on, silently
            self.enabled = False
            return None
        desc = f"{self.label}: {stage}" if stage else self.label
        scale = unit == "bytes"
        return tqdm(
            total=total if isinstance(total, int) else None,
            desc=desc,
            unit="B" if scale else (unit.rstrip("s") or "it"),
            unit_scale=scale,
            file=self.stream,
            leave=False,
            dynamic_ncols=True,
        )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
