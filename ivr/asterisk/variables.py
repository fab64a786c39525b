"""Every channel variable and dialplan context Rabta uses, in one place.

Dialplan templates in dialplans/ may only use names declared here (a test checks it).
"""

from __future__ import annotations

# Channel variables. The double underscore on originate makes them inherit through
# Local channels and Dial(), so the id survives every hop.
ATTEMPT = "RABTA_ATTEMPT"  # our attempt id, set on Originate as __RABTA_ATTEMPT
LANGUAGE = "RABTA_LANGUAGE"  # ur | pa | en, the language the survey starts in
NODE = "RABTA_NODE"  # which PBX node placed the call
RESULT = "RABTA_RESULT"  # set by the flow at the end: completed | partial | opted_out | unreachable

# Asterisk's own variables and functions the flows read or set (not ours: no RABTA_ prefix).
CHANNEL_LANGUAGE = "CHANNEL(language)"  # picks sounds/<lang>/ for every prompt played
SPOOL_DIR = "ASTSPOOLDIR"  # astspooldir of asterisk.conf: where recordings are written

# Dialplan contexts
CTX_SURVEY = "rabta-survey"  # where an answered outbound call lands: runs the FastAGI flow
CTX_INBOUND = "rabta-inbound"  # calls coming in from the trunk: a message, never a dial-out
CTX_SIM_CITIZENS = "rabta-sim-citizens"  # carrier simulator: one extension per phone book entry

# FastAGI script names (the path in agi://host:port/<script>)
SCRIPT_SURVEY = "survey"

ALL_VARIABLES = frozenset({ATTEMPT, LANGUAGE, NODE, RESULT})
ALL_CONTEXTS = frozenset({CTX_SURVEY, CTX_INBOUND, CTX_SIM_CITIZENS})


def inherit(name: str) -> str:
    """Return the name with the '__' prefix that makes Asterisk copy it to every child channel."""
    return f"__{name}"
