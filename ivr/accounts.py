"""Accounts: who may see and do what, beside the road (officials, office systems, the audit).

Pure rules, no I/O: roles and their scopes, the lockout policy (it takes `now`), password
hashing (argon2id), and the random tokens behind sessions, CSRF and API keys. The store keeps
the rows (ivr/store/accounts.py); the web and the CLI ask these functions what is allowed.

    role        sees / does                                  scope
    oversight   everything                                   -
    department  results of its services, all districts      one or more services
    district    results of its district, all services       one district
    supervisor  prompts and surveys                          -
    telephony   nodes, trunks, dialplans                     -
    dataentry   intake only                                  one office
"""

from __future__ import annotations

import difflib
import hashlib
import secrets
import unicodedata
from collections import deque
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from ivr.errors import InputError, UnknownScope

__all__ = [
    "LOCKOUT",
    "MAX_FAILURES",
    "RESET_TTL",
    "ApiKey",
    "Area",
    "Role",
    "Session",
    "Throttle",
    "User",
    "after_failure",
    "check_password",
    "check_scope_known",
    "check_username",
    "describe_scope",
    "hash_password",
    "is_locked",
    "may",
    "may_write_office",
    "needs_rehash",
    "new_api_key",
    "new_token",
    "parse_role",
    "reset_usable",
    "scope_from_fields",
    "scope_kind",
    "sees",
    "token_hash",
    "validate_scope",
    "verify_password",
]

MAX_FAILURES = 5  # failed logins in a row that lock an account
LOCKOUT = timedelta(minutes=15)
MIN_PASSWORD = 10
MAX_PASSWORD = 1024  # argon2 would hash more, but nobody types that much
MAX_USERNAME = 64
API_KEY_PREFIX = "rabta_"
RESET_TTL = timedelta(hours=24)  # a password reset link works this long, and once
SUGGEST_CUTOFF = 0.75  # difflib ratio from which a known name is offered as "did you mean"


class Role(StrEnum):
    """What an account is for; see the module docstring for each one's reach."""

    OVERSIGHT = "oversight"
    DEPARTMENT = "department"
    DISTRICT = "district"
    SUPERVISOR = "supervisor"
    TELEPHONY = "telephony"
    DATAENTRY = "dataentry"


class Area(StrEnum):
    """A part of the dashboard and API that a role may or may not use."""

    RESULTS = "results"  # answers, reports, exports (filtered by scope)
    INTAKE = "intake"  # POST transactions
    SURVEYS = "surveys"
    PROMPTS = "prompts"
    TELEPHONY = "telephony"  # nodes, trunks, dialplans
    ACCOUNTS = "accounts"  # users, API keys, the audit log


_AREAS: dict[Role, frozenset[Area]] = {
    Role.OVERSIGHT: frozenset(Area),
    Role.DEPARTMENT: frozenset({Area.RESULTS}),
    Role.DISTRICT: frozenset({Area.RESULTS}),
    Role.SUPERVISOR: frozenset({Area.SURVEYS, Area.PROMPTS}),
    Role.TELEPHONY: frozenset({Area.TELEPHONY}),
    Role.DATAENTRY: frozenset({Area.INTAKE}),
}

# How many scope values each role takes: (least, most).
_SCOPE_SIZE: dict[Role, tuple[int, int]] = {
    Role.OVERSIGHT: (0, 0),
    Role.DEPARTMENT: (1, 1000),
    Role.DISTRICT: (1, 1),
    Role.SUPERVISOR: (0, 0),
    Role.TELEPHONY: (0, 0),
    Role.DATAENTRY: (1, 1),
}
_SCOPE_NAME = {Role.DEPARTMENT: "service", Role.DISTRICT: "district", Role.DATAENTRY: "office"}


@dataclass(frozen=True, slots=True)
class User:
    """One official's account. The hash stays out of repr so it never reaches a log."""

    id: int
    username: str
    role: Role
    scope: tuple[str, ...]  # department: services; district: (district,); dataentry: (office,)
    password_hash: str = field(repr=False)
    disabled: bool = False
    failed_logins: int = 0
    locked_until: datetime | None = None
    created_at: datetime | None = None
    last_login_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Session:
    """A browser session: the user behind a cookie, and the CSRF token its forms must carry."""

    token_hash: str
    user: User
    csrf_token: str
    expires_at: datetime
    last_seen_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ApiKey:
    """An office system's key; only its hash is stored."""

    id: int
    office: str
    label: str
    created_at: datetime
    revoked_at: datetime | None = None


# ---------------------------------------------------------------------------- roles


def validate_scope(role: Role, scope: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Return the scope cleaned (stripped, de-duplicated) or raise InputError if it does not fit."""
    values = tuple(dict.fromkeys(v.strip() for v in scope if v.strip()))
    least, most = _SCOPE_SIZE[role]
    what = _SCOPE_NAME.get(role)
    if what is None and values:
        raise InputError(f"role {role.value} takes no scope (got {', '.join(values)})")
    if len(values) < least:
        raise InputError(f"role {role.value} needs a {what}")
    if len(values) > most:
        raise InputError(f"role {role.value} takes {'exactly one' if most == 1 else f'at most {most}'} "
                         f"{what}")
    for v in values:
        if len(v) > 200 or any(unicodedata.category(c) == "Cc" for c in v):
            raise InputError(f"{what}: not a usable name ({v[:40]!r})")
    return values


def parse_role(text: str) -> Role:
    """Return the role a form or request names, or raise InputError listing the roles."""
    try:
        return Role(text.strip())
    except ValueError:
        raise InputError(f"not a role: {text[:40]!r} (one of "
                         f"{', '.join(r.value for r in Role)})") from None


def scope_kind(role: Role) -> str | None:
    """Name what a role's scope holds: "service", "district", "office", or None (no scope)."""
    return _SCOPE_NAME.get(role)


def scope_from_fields(role: Role, fields: dict[str, list[str]]) -> tuple[str, ...]:
    """Return the scope given as per-kind fields ({"district": [...], "service": [...],
    "office": [...]}, as `rabta users` flags or the accounts form send them), refusing a kind
    the role does not take and a missing one it needs."""
    wanted = scope_kind(role)
    for kind, values in fields.items():
        if any(v.strip() for v in values) and kind != wanted:
            raise InputError(f"a {kind} does not apply to role {role.value}")
    given = [v for v in fields.get(wanted, []) if v.strip()] if wanted else []
    if wanted is not None and not given:
        raise InputError(f"role {role.value} needs a {wanted}")
    return validate_scope(role, given)


def check_scope_known(role: Role, scope: tuple[str, ...], known: Collection[str], *,
                      allow_new: bool = False) -> tuple[str, ...]:
    """Return a cleaned scope in the data's own spelling, or raise UnknownScope.

    `known` holds the names of the role's scope kind found in the data (districts, services
    or offices). A name known in another case ("lahore") takes the data's spelling; an unknown
    name is refused with the closest known one as "did you mean" (difflib). `allow_new` lets a
    name with no close known one through (a district whose visits have not arrived yet: said
    on purpose, never by default); a name close to a known one is refused even then, since a
    typo is likelier than a new place one letter away from an old one.
    """
    values = validate_scope(role, scope)
    kind = scope_kind(role)
    if kind is None:
        return values
    by_fold = {k.casefold(): k for k in known}
    out = []
    for v in values:
        exact = by_fold.get(v.casefold())
        if exact is not None:
            out.append(exact)
            continue
        close = difflib.get_close_matches(v.casefold(), list(by_fold), n=1,
                                          cutoff=SUGGEST_CUTOFF)
        suggestion = by_fold[close[0]] if close else None
        if not allow_new or suggestion is not None:
            raise UnknownScope(kind, v, suggestion)
        out.append(v)
    return tuple(dict.fromkeys(out))


def reset_usable(expires_at: datetime, used_at: datetime | None, now: datetime) -> bool:
    """Tell whether a password reset token may still be used at `now` (unused, unexpired)."""
    return used_at is None and now < expires_at


def describe_scope(role: Role, scope: tuple[str, ...]) -> str:
    """Say in one line what an account reaches, for the landing page and `users list`."""
    if role is Role.OVERSIGHT:
        return "everything: all districts, services and offices"
    if role is Role.DEPARTMENT:
        return f"results of {', '.join(scope)} in all districts"
    if role is Role.DISTRICT:
        return f"results of all services in {scope[0]}"
    if role is Role.SUPERVISOR:
        return "prompts and surveys"
    if role is Role.TELEPHONY:
        return "nodes, trunks and dialplans"
    return f"transaction intake for {scope[0]}"


def may(role: Role, area: Area) -> bool:
    """Tell whether a role may use an area of the dashboard or API at all."""
    return area in _AREAS[role]


def landing(role: Role) -> str:
    """Return the page an official lands on after signing in: the live overview for a role
    that sees results, the prompt studio for a supervisor, the account page otherwise."""
    if may(role, Area.RESULTS):
        return "/overview"
    if may(role, Area.PROMPTS):
        return "/prompts"
    return "/"


def sees(role: Role, scope: tuple[str, ...], *, service: str, district: str) -> bool:
    """Tell whether a role's scope covers results of one service in one district."""
    if role is Role.OVERSIGHT:
        return True
    if role is Role.DEPARTMENT:
        return service in scope
    if role is Role.DISTRICT:
        return district == scope[0]
    return False


def may_write_office(role: Role, scope: tuple[str, ...], office: str) -> bool:
    """Tell whether a signed-in official may post transactions for an office."""
    if role is Role.OVERSIGHT:
        return True
    return role is Role.DATAENTRY and scope[:1] == (office,)


# ---------------------------------------------------------------------------- lockout


def is_locked(locked_until: datetime | None, now: datetime) -> bool:
    """Tell whether an account is still locked out at `now`."""
    return locked_until is not None and now < locked_until


def after_failure(failed: int, now: datetime) -> tuple[int, datetime | None]:
    """Return (failed logins, locked until) after one more failure.

    The MAX_FAILURES-th failure in a row locks the account for LOCKOUT and starts the count
    again, so after the lock a guesser gets MAX_FAILURES more tries, never more.
    """
    failed += 1
    if failed >= MAX_FAILURES:
        return 0, now + LOCKOUT
    return failed, None


class Throttle:
    """At most `limit` events per `window` seconds for each key (a sliding window).

    Policy with its clock passed in (`now`, in seconds, monotonic). It forgets keys idle for a
    window, and holds at most `max_keys` keys (the oldest go first), so a flood of addresses
    cannot grow it without bound.
    """

    def __init__(self, limit: int, window: float = 60.0, max_keys: int = 100_000) -> None:
        self.limit, self.window, self.max_keys = limit, window, max_keys
        self._events: dict[str, deque[float]] = {}

    def hit(self, key: str, now: float) -> float | None:
        """Count one event for key; return None if allowed, else seconds until one is."""
        events = self._events.pop(key, None) or deque()
        while events and events[0] <= now - self.window:
            events.popleft()
        self._events[key] = events  # re-inserted: the dict stays ordered by last use
        if len(events) >= self.limit:
            return max(0.0, events[0] + self.window - now)
        events.append(now)
        while len(self._events) > self.max_keys:
            del self._events[next(iter(self._events))]
        return None


# ---------------------------------------------------------------------------- secrets

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters


def check_username(name: str) -> str:
    """Return a username stripped, or raise InputError if it is not a plain short name."""
    name = name.strip()
    if not name or len(name) > MAX_USERNAME:
        raise InputError(f"username must be 1 to {MAX_USERNAME} characters")
    if any(not (c.isalnum() or c in "._-@") for c in name):
        raise InputError("username may hold only letters, digits and . _ - @")
    return name


def check_password(password: str) -> str:
    """Return the password if it is long enough to keep, or raise InputError."""
    if len(password) < MIN_PASSWORD:
        raise InputError(f"password too short (at least {MIN_PASSWORD} characters)")
    if len(password) > MAX_PASSWORD:
        raise InputError(f"password too long (at most {MAX_PASSWORD} characters)")
    return password


def hash_password(password: str) -> str:
    """Hash a password with argon2id (a new random salt each time)."""
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Tell whether a password matches its argon2 hash (False for a broken hash too)."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Tell whether a hash was made with other argon2 parameters than today's (re-hash it)."""
    try:
        return _hasher.check_needs_rehash(password_hash)
    except (InvalidHashError, ValueError):
        return True


def new_token() -> str:
    """Return a fresh random token (32 bytes, URL-safe) for a session cookie or CSRF."""
    return secrets.token_urlsafe(32)


def new_api_key() -> str:
    """Return a fresh API key; the prefix makes a leaked one easy to grep for."""
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """Return what the store keeps of a session token or API key: its SHA-256, in hex."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
