"""Protocol layer: FastAGI, the connection Asterisk opens to us for each answered call."""

from ivr.asterisk.agi.channel import AGIChannel, Channel
from ivr.asterisk.agi.server import FastAGIServer

__all__ = ["AGIChannel", "Channel", "FastAGIServer"]
