"""The session behind a client: kept alive by a heartbeat thread, and the process-wide current client.

The server frees a session's adapters after missed heartbeats, so a client that opens a session
must keep beating for as long as it lives, even while the user's code is busy elsewhere (tokenising,
logging, waiting on a long step). A daemon thread does that, at the interval the server asked for,
and stops when the client is closed or the process exits.

``Dataset``, ``DataLoader`` and ``MultiLoraTransformersModel`` built without ``client=`` use the
current client, the one ``init_twinkle_client`` made last, exactly as the seed example expects.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from twinkle_client.manager import TwinkleClient

__all__ = ["Heartbeat", "get_current_client", "set_current_client"]

logger = logging.getLogger("twinkle_client")

_current: TwinkleClient | None = None
_current_lock = threading.Lock()

# Never beat more often than this, whatever the server says (a bad value must not flood it).
_MIN_INTERVAL_S = 0.5


def set_current_client(client: TwinkleClient | None) -> None:
    """Make ``client`` the one used by classes built without ``client=`` (None clears it)."""
    global _current
    with _current_lock:
        _current = client


def get_current_client(explicit: TwinkleClient | None = None) -> TwinkleClient:
    """``explicit`` when given, else the current client; a clear error when there is none."""
    if explicit is not None:
        return explicit
    with _current_lock:
        client = _current
    if client is None or client.closed:
        raise RuntimeError(
            "No Twinkle client is connected: call twinkle_client.init_twinkle_client(base_url=..., "
            "api_key=...) first, or pass client= explicitly."
        )
    return client


class Heartbeat:
    """A daemon thread that calls ``beat`` every ``interval_s`` seconds until ``stop``.

    Args:
        beat: sends one heartbeat; an exception is logged and the next beat tried on schedule
            (a transient network failure must not end the session's keep-alive).
        interval_s: seconds between beats.
        name: the thread's name, for debugging.
    """

    def __init__(self, beat: Callable[[], object], interval_s: float, *, name: str = "twinkle-heartbeat"):
        self._beat = beat
        self.interval_s = max(float(interval_s), _MIN_INTERVAL_S)
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.beats = 0
        self.failures = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float | None = 5.0) -> None:
        """Stop beating; waits up to ``timeout`` seconds for a beat in flight."""
        self._stopped.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        while not self._stopped.wait(self.interval_s):
            try:
                self._beat()
                self.beats += 1
            except Exception as exc:
                self.failures += 1
                logger.warning(
                    "Session heartbeat failed (%s); will try again in %.1f s", exc, self.interval_s
                )
