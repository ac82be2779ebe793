"""pynet's log: stderr, or the file named by PYNET_LOG_FILE; never stdout (it carries the result)."""

from __future__ import annotations

import os
import sys

_logger = None


def logger():
    """The "pynet" logger, set up on first use (logging is not imported on the fast paths)."""
    global _logger
    if _logger is None:
        import logging

        _logger = logging.getLogger("pynet")
        path = os.environ.get("PYNET_LOG_FILE")
        try:
            handler = logging.FileHandler(path) if path else logging.StreamHandler(sys.stderr)
        except OSError:
            handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(levelname)s %(message)s"))
        _logger.addHandler(handler)
        _logger.propagate = False
        debug = debug_enabled()
        _logger.setLevel(logging.DEBUG if debug else logging.INFO if path else logging.WARNING)
    return _logger


def info_enabled() -> bool:
    """Whether logger().info() writes anything, found out without importing logging (~4 ms)."""
    return bool(os.environ.get("PYNET_LOG_FILE")) or debug_enabled()


def debug_enabled() -> bool:
    from .context import getenv

    return getenv("PYNET_DEBUG") == "1"
