"""Rabta: proactive citizen feedback over a real Asterisk.

Stages of the road (see docs/ARCHITECTURE.md): intake -> store -> scheduler -> AMI originate
-> Asterisk -> FastAGI -> flows -> store -> reports.
"""

__version__ = "0.1.0"
