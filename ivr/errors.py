"""The one exception tree of Rabta. Every stage raises from here; nothing returns error dicts.

    RabtaError
    ├── ConfigError            a config file, env var or flag is wrong (says which and where)
    ├── InputError             data from outside is wrong
    │   ├── InvalidRow         one CSV/API row; carries line number, field and reason
    │   ├── InvalidNumber      not a Pakistani mobile number
    │   └── UnknownScope       an account's district/service/office is not in the data
    │                          (carries the closest known name: "did you mean Lahore?")
    ├── StoreError             the database refused or is inconsistent
    │   └── StoreConnectionLost    the connection broke mid-step (server gone, driver out of step)
    ├── TelephonyError
    │   ├── AsteriskSetupError the rootfs/instances cannot be built or started
    │   ├── AMIError
    │   │   └── AMIConnectionError  not connected, connection lost, login refused
    │   └── AGIError
    │       ├── AGIProtocolError    garbage or oversized input on the FastAGI port
    │       ├── AGICommandError     Asterisk answered 510/520 or an unexpected code
    │       └── CallerHungUp        the citizen hung up: a normal outcome, logged at info
    └── FlowError              a survey definition cannot be run
"""

from __future__ import annotations


class RabtaError(Exception):
    """Base of every error Rabta raises on purpose."""


class ConfigError(RabtaError):
    """A setting is missing, malformed or contradictory."""


class InputError(RabtaError):
    """Data from outside (CSV, API, phone book) is not acceptable."""


class InvalidNumber(InputError):
    """A phone number that is not a valid Pakistani mobile number."""


class UnknownScope(InputError):
    """An account's scope names a district, service or office the data does not know."""

    def __init__(self, kind: str, value: str, suggestion: str | None) -> None:
        hint = f"; did you mean {suggestion}?" if suggestion else ""
        super().__init__(f"{kind} {value!r} is not in the data{hint}")
        self.kind = kind
        self.value = value
        self.suggestion = suggestion


class InvalidRow(InputError):
    """One input row is invalid; the others are unaffected."""

    def __init__(self, line: int, field: str, reason: str) -> None:
        super().__init__(f"line {line}: {field}: {reason}")
        self.line = line
        self.field = field
        self.reason = reason


class StoreError(RabtaError):
    """The store cannot do what was asked."""


class StoreConnectionLost(StoreError):
    """A step's connection broke under it (server restarting, network, driver out of step).

    Nothing of the step's transaction committed, unless maybe_committed: the break came
    during the commit itself, so it may or may not have landed.
    """

    def __init__(self, message: str, *, maybe_committed: bool = False) -> None:
        super().__init__(message)
        self.maybe_committed = maybe_committed


class TelephonyError(RabtaError):
    """Something on the telephony side failed."""


class AsteriskSetupError(TelephonyError):
    """The Asterisk rootfs or one of its instances cannot be prepared or started."""


class AMIError(TelephonyError):
    """An AMI action failed."""


class AMIConnectionError(AMIError):
    """AMI is not connected, lost its connection, or refused the login."""


class AGIError(TelephonyError):
    """A FastAGI session failed."""


class AGIProtocolError(AGIError):
    """The peer sent something that is not AGI (garbage, oversized or truncated headers)."""


class AGICommandError(AGIError):
    """Asterisk rejected an AGI command (510 invalid, 520 usage) or answered unexpectedly."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code} {message}")
        self.code = code
        self.message = message


class CallerHungUp(AGIError):
    """The citizen hung up. A normal outcome: record it, log at info, no traceback."""


class FlowError(RabtaError):
    """A survey definition is broken or cannot be run."""
