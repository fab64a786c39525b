"""Every channel variable and dialplan context Rabta uses, in one place.

Dialplan templates in dialplans/ may only use names declared here (a test checks it).
"""

from __future__ import annotations

# Channel variables. The double underscore on originate makes them inherit through
# Local channels and Dial(), so the id survives every hop.
ATTEMPT = "RABTA_ATTEMPT"  # our attempt id, set on Originate as __RABTA_ATTEMPT
LANGUAGE = "RABTA_LANGUAGE"  # ur | pa | en, the language the survey starts in
NODE = "RABTA_NODE"  # which PBX node placed the call
# Click-to-call (ivr.directcalls): set on the Originate to the official's own phone, never
# inherited (no '__'), so only the official's channel carries them.
CALL = "RABTA_CALL"  # our direct call id
BRIDGE_TO = "RABTA_BRIDGE_TO"  # the citizen's dial string, e.g. PJSIP/923001234567@carrier
BRIDGE_STATUS = "RABTA_BRIDGE_STATUS"  # set by the dialplan: DIALSTATUS of the citizen's leg

# Asterisk's own variables and functions the flows read or set (not ours: no RABTA_ prefix).
CHANNEL_LANGUAGE = "CHANNEL(language)"  # picks sounds/<lang>/ for every prompt played
BACKGROUND_STATUS = "BACKGROUNDSTATUS"  # SUCCESS or FAILED: did Background play its whole list
SPOOL_DIR = "ASTSPOOLDIR"  # astspooldir of asterisk.conf: where recordings are written

# Dialplan contexts
CTX_SURVEY = "rabta-survey"  # where an answered outbound call lands: runs the FastAGI flow
CTX_INBOUND = "rabta-inbound"  # calls coming in from the trunk: a message, never a dial-out
CTX_SIM_CITIZENS = "rabta-sim-citizens"  # carrier simulator: one extension per phone book entry
# Reached only by Originate (an official's direct call, once the official answered): the one
# context that dials out, to the citizen in RABTA_BRIDGE_TO. Nothing routes a caller here.
CTX_BRIDGE = "rabta-bridge"
# The prompt studio: reached only from rabta-inbound at the studio number (setting
# studio_number); runs the studio FastAGI script and nothing else, never a dial.
CTX_STUDIO = "rabta-studio"

# FastAGI script names (the path in agi://host:port/<script>)
SCRIPT_SURVEY = "survey"
SCRIPT_STUDIO = "studio"  # the prompt studio (ivr.flows.studio)

ALL_VARIABLES = frozenset({ATTEMPT, LANGUAGE, NODE, CALL, BRIDGE_TO, BRIDGE_STATUS})
ALL_CONTEXTS = frozenset({CTX_SURVEY, CTX_INBOUND, CTX_SIM_CITIZENS, CTX_BRIDGE, CTX_STUDIO})


def inherit(name: str) -> str:
    """Return the name with the '__' prefix that makes Asterisk copy it to every child channel."""
    return f"__{name}"
