"""Loggers that cost nothing until they write: `logging` is imported on first use, if ever.

The classic AGI script starts one Python process per call, and importing `logging` (with
`traceback` and, on Python 3.14, its colour themes) was a sixth of that start (issue 12,
item 6). The modules on that script's path take their logger from here rather than from
`logging.getLogger`. Everywhere else it behaves as a `logging.Logger`: each method forwards
to `logging.getLogger(name)`, with the caller's file and line. A process that wants no
`logging` at all (ivr/classic_agi.py) calls `to_stderr(level, prefix)` first: then each record
at or above the level is one line on stderr, and `traceback` is imported only to print an
exception.

    log = getLogger(__name__)
    log.info("attempt %d: %s = %s", attempt, question, value)
"""

from __future__ import annotations

import os
import sys
from typing import Any

DEBUG, INFO, WARNING, ERROR, CRITICAL = 10, 20, 30, 40, 50
LEVELS = {"DEBUG": DEBUG, "INFO": INFO, "WARNING": WARNING, "ERROR": ERROR,
          "CRITICAL": CRITICAL}


class _Stderr:
    """Writes records as `prefix[pid] LEVEL name: message` lines on stderr."""

    def __init__(self, level: int, prefix: str) -> None:
        self.level = level
        self.prefix = f"{prefix}[{os.getpid()}]"

    def write(self, name: str, level: int, msg: object, args: tuple[Any, ...],
              exc_info: bool) -> None:
        text = str(msg)
        if args:
            try:
                text = text % args
            except (TypeError, ValueError) as exc:  # a bad format must not end the call
                text = f"{text} {args!r} (unformattable: {exc})"
        word = next((w for w, n in LEVELS.items() if n == level), str(level))
        line = f"{self.prefix} {word} {name}: {text}\n"
        if exc_info and sys.exc_info()[0] is not None:
            import traceback

            line += "".join(traceback.format_exception(*sys.exc_info()))
        sys.stderr.write(line)


_stderr: _Stderr | None = None


def to_stderr(level: str, prefix: str) -> None:
    """Send every logger of this module to stderr at level and above, without `logging`."""
    global _stderr
    _stderr = _Stderr(LEVELS.get(level.upper(), INFO), prefix)


def set_level(level: str) -> None:
    """Change the level `to_stderr` set (the settings are read after the first records)."""
    if _stderr is not None:
        _stderr.level = LEVELS.get(level.upper(), INFO)


class Logger:
    """A `logging.Logger` stand-in: debug ... critical, exception, log and isEnabledFor."""

    __slots__ = ("_std", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self._std: Any = None

    def _target(self) -> Any:
        if self._std is None:
            import logging

            self._std = logging.getLogger(self.name)
        return self._std

    def log(self, level: int, msg: object, *args: Any, exc_info: bool = False,
            **kw: Any) -> None:
        """Log msg % args at level (kw as logging's: extra, stack_info)."""
        self._log(level, msg, args, exc_info, kw)

    def _log(self, level: int, msg: object, args: tuple[Any, ...], exc_info: bool,
             kw: dict[str, Any]) -> None:
        if _stderr is not None:
            if level >= _stderr.level:
                _stderr.write(self.name, level, msg, args, exc_info)
            return
        # stacklevel 3: the record names the line that called debug(), info() ...
        self._target().log(level, msg, *args, exc_info=exc_info or None, stacklevel=3, **kw)

    def debug(self, msg: object, *args: Any, **kw: Any) -> None:
        """Log at DEBUG."""
        self._log(DEBUG, msg, args, kw.pop("exc_info", False), kw)

    def info(self, msg: object, *args: Any, **kw: Any) -> None:
        """Log at INFO."""
        self._log(INFO, msg, args, kw.pop("exc_info", False), kw)

    def warning(self, msg: object, *args: Any, **kw: Any) -> None:
        """Log at WARNING."""
        self._log(WARNING, msg, args, kw.pop("exc_info", False), kw)

    def error(self, msg: object, *args: Any, **kw: Any) -> None:
        """Log at ERROR."""
        self._log(ERROR, msg, args, kw.pop("exc_info", False), kw)

    def critical(self, msg: object, *args: Any, **kw: Any) -> None:
        """Log at CRITICAL."""
        self._log(CRITICAL, msg, args, kw.pop("exc_info", False), kw)

    def exception(self, msg: object, *args: Any, **kw: Any) -> None:
        """Log at ERROR with the exception being handled."""
        kw.pop("exc_info", None)
        self._log(ERROR, msg, args, True, kw)

    def isEnabledFor(self, level: int) -> bool:
        """Return whether a record at level would be written."""
        if _stderr is not None:
            return level >= _stderr.level
        return bool(self._target().isEnabledFor(level))


def getLogger(name: str) -> Logger:
    """Return a logger for name that imports `logging` only when it first writes."""
    return Logger(name)


__all__ = ["Logger", "getLogger", "set_level", "to_stderr"]
