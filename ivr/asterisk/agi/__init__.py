"""Protocol layer: FastAGI, the connection Asterisk opens to us for each answered call.

The names are loaded on first use (PEP 562): the classic AGI script imports
``ivr.asterisk.agi.script`` and must not import the FastAGI server (and asyncio with it).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ivr.asterisk.agi.channel import AGIChannel, Channel
    from ivr.asterisk.agi.server import FastAGIServer

_LAZY = {"AGIChannel": "ivr.asterisk.agi.channel", "Channel": "ivr.asterisk.agi.channel",
         "FastAGIServer": "ivr.asterisk.agi.server"}


def __getattr__(name: str) -> Any:
    """Import a public name's module the first time the name is asked for."""
    try:
        module = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = ["AGIChannel", "Channel", "FastAGIServer"]
