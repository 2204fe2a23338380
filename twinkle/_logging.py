"""``get_logger``: a logger that prints INFO and above to stderr, ready to use in a training script."""

from __future__ import annotations

import logging
import sys
import threading

__all__ = ["LOGGER_NAME", "get_logger"]

LOGGER_NAME = "twinkle"
_FORMAT = "[%(levelname)s:%(name)s] %(asctime)s %(message)s"
_configured = threading.Lock()
_handler: logging.Handler | None = None


def get_logger(name: str | None = None, level: int | str = logging.INFO) -> logging.Logger:
    """The ``twinkle`` logger (or its child ``twinkle.<name>``), printing to stderr.

    The handler is installed once, on the ``twinkle`` logger, which does not propagate to the root
    logger, so a message is printed once however logging is otherwise configured.

    Args:
        name: an optional child name (``get_logger("train")`` logs as ``twinkle.train``).
        level: the ``twinkle`` logger's level (INFO by default).

    Example:
        >>> logger = get_logger()
        >>> logger.info("Step 0, loss: 2.3")
    """
    global _handler
    base = logging.getLogger(LOGGER_NAME)
    with _configured:
        if _handler is None:
            _handler = logging.StreamHandler(sys.stderr)
            _handler.setFormatter(logging.Formatter(_FORMAT))
            base.addHandler(_handler)
            base.propagate = False
        base.setLevel(level)
    return base if not name else base.getChild(name)
