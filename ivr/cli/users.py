"""CLI, accounts: `rabta users add|list|disable|enable|phone|pin|reset`, `rabta apikeys add|list|revoke`.

Passwords never travel on the command line: they come from a file (--password-file), from
standard input (--password-stdin) or from the terminal (asked twice, not echoed). An API key
is printed once, on creation; the store keeps only its hash. `users pin NAME` sets a supervisor's
phone studio PIN (4-8 digits, read like a password, stored as an argon2id hash). Every change
is audited.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from ivr import phone
from ivr.accounts import (
    RESET_TTL,
    Role,
    User,
    check_password,
    check_scope_known,
    check_username,
    describe_scope,
    hash_password,
    is_locked,
    new_api_key,
    token_hash,
    validate_scope,
    verify_password,
)
from ivr.cli.common import add_command
from ivr.config import Settings
from ivr.errors import InputError
from ivr.services.accounts import add_account, issue_reset, known_scope
from ivr.store import SQLiteStore, open_store
from ivr.studio import check_pin

_SCOPE_FLAG = {Role.DEPARTMENT: "service", Role.DISTRICT: "district", Role.DATAENTRY: "office"}


def register(sub: Any) -> None:
    """Add the `users` and `apikeys` commands to the `rabta` parser's subcommands."""
    u = add_command(
        sub, "users", help="officials' accounts for the dashboard (role and scope)",
        description="add: a new account with its role and scope; list: every account and its "
                    "state; disable/enable: sign out everywhere / allow again; phone: the "
                    "official's own phone for click-to-call; pin: a supervisor's phone studio "
                    "PIN; reset: a one-time link (24 h, one use) with which the official sets a new "
                    "password. Password (and PIN): --password-file, --password-stdin, or asked on "
                    "the terminal, never on the command line. A scope (--district, --service, "
                    "--office) must name one the data knows: a typo is refused with the "
                    "closest known name (--new-scope for a place with no visits yet). Every "
                    "change is audited.",
        examples=["rabta users add amna --role district --district Lahore",
                  "rabta users add ali --role department --service passport --service cnic "
                  "--password-file pw.txt",
                  "rabta users phone amna --phone 03001234567", "rabta users disable amna",
                  "rabta users reset amna",
                  "rabta users list"],
        func=_run)
    u.add_argument("action", choices=["add", "list", "disable", "enable", "phone", "pin",
                                      "reset"])
    u.add_argument("username", nargs="?")
    u.add_argument("--role", choices=[r.value for r in Role], help="add: the account's role")
    u.add_argument("--service", action="append", default=[],
                   help="department: a service it oversees (repeat for more)")
    u.add_argument("--district", help="district: the district it oversees")
    u.add_argument("--office", help="dataentry: the office it enters transactions for")
    u.add_argument("--new-scope", action="store_true",
                   help="add: accept a district, service or office the data does not name yet "
                        "(none of its visits has arrived); a name close to a known one is "
                        "still refused as a likely typo")
    u.add_argument("--phone", help="phone: the official's own phone, rung first by "
                                   "click-to-call (omit it to clear)")
    pw = u.add_mutually_exclusive_group()
    pw.add_argument("--password-file", type=Path, help="read the password from this file's "
                                                      "first line")
    pw.add_argument("--password-stdin", action="store_true",
                    help="read the password from standard input's first line")

    k = add_command(
        sub, "apikeys", help="API keys for office systems (intake, one office each)",
        description="add: a key for one office's system, printed once (only its hash is kept); "
                    "list: every key, live or revoked; revoke: stop a key at once.",
        examples=["rabta apikeys add --office LHR-01 --label 'front desk app' > key.txt",
                  "rabta apikeys list", "rabta apikeys revoke 3"],
        func=_run)
    k.add_argument("action", choices=["add", "list", "revoke"])
    k.add_argument("id", nargs="?", type=int, help="revoke: the key's id (from `list`)")
    k.add_argument("--office", help="add: the one office the key may write for")
    k.add_argument("--label", default="", help="add: what system uses it")


def _run(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(run(settings, args))


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry, no LOGNAME: still say it came from the CLI
        return "cli"


def _now() -> datetime:
    return datetime.now(UTC)


def read_password(args: argparse.Namespace, stdin: TextIO | None = None) -> str:
    """Return the new password from --password-file, --password-stdin or the terminal."""
    return check_password(_read_secret(args, stdin, "Password"))


def _read_secret(args: argparse.Namespace, stdin: TextIO | None, what: str) -> str:
    """Return a secret from --password-file, --password-stdin or the terminal (asked twice)."""
    stdin = stdin or sys.stdin
    if args.password_file is not None:
        try:
            text = args.password_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"{args.password_file}: cannot read the {what.lower()}: {exc}"
                             ) from None
        password = text.splitlines()[0] if text else ""
    elif args.password_stdin:
        password = stdin.readline().rstrip("\r\n")
    else:
        if not stdin.isatty():
            raise InputError(f"no terminal to ask the {what.lower()} on: use --password-file "
                             f"or --password-stdin")
        password = getpass.getpass(f"{what}: ")
        if getpass.getpass(f"{what} again: ") != password:
            raise InputError(f"the two {what.lower()}s differ")
    return password


def _scope(args: argparse.Namespace, role: Role) -> tuple[str, ...]:
    given = {"service": list(args.service),
             "district": [args.district] if args.district else [],
             "office": [args.office] if args.office else []}
    wanted = _SCOPE_FLAG.get(role)
    for flag, values in given.items():
        if values and flag != wanted:
            raise InputError(f"--{flag} does not apply to role {role.value}")
    if wanted is not None and not given[wanted]:
        raise InputError(f"role {role.value} needs --{wanted}")
    return validate_scope(role, given[wanted] if wanted else [])


def _state(user: User, now: datetime) -> str:
    if user.disabled:
        return "disabled"
    if is_locked(user.locked_until, now):
        assert user.locked_until is not None
        return f"locked until {user.locked_until:%Y-%m-%d %H:%M} UTC"
    return "active"


async def _users(store: SQLiteStore, args: argparse.Namespace, out: TextIO,
                 stdin: TextIO | None) -> int:
    if args.action == "list":
        now = _now()
        for u in await store.users():
            last = f"{u.last_login_at:%Y-%m-%d %H:%M} UTC" if u.last_login_at else "never"
            print(f"{u.username}\t{u.role.value}\t{describe_scope(u.role, u.scope)}\t"
                  f"{_state(u, now)}\tfailed logins: {u.failed_logins}\tlast sign-in: {last}",
                  file=out)
        return 0
    if not args.username:
        raise InputError(f"users {args.action}: give a username")
    username = check_username(args.username)
    if args.action == "add":
        if not args.role:
            raise InputError("users add: give --role " + "|".join(r.value for r in Role))
        role = Role(args.role)
        scope = _scope(args, role)
        # the scope is checked against the data before the password is asked for
        check_scope_known(role, scope, await known_scope(store, role),
                          allow_new=args.new_scope)
        password = read_password(args, stdin)
        user = await add_account(store, _actor(), username, role.value, scope, password, _now(),
                                 allow_new=args.new_scope)
        print(f"user {username} added: {role.value}, {describe_scope(role, user.scope)}",
              file=out)
        return 0
    if args.action == "phone":
        number = phone.normalize(args.phone) if args.phone else None
        if not await store.set_user_phone(username, number):
            raise InputError(f"no user {username!r}")
        await store.audit(_actor(), "user_phone", {"username": username, "set": bool(number)},
                          _now())
        print(f"user {username}: own phone {phone.mask(number) if number else 'cleared'}",
              file=out)
        return 0
    if args.action == "reset":
        found = await store.user_by_name(username)
        if found is None:
            raise InputError(f"no user {username!r}")
        target, token = await issue_reset(store, _actor(), found.id, _now())
        print(f"reset link for {target.username} (one use, {RESET_TTL.total_seconds() / 3600:.0f} h;"
              f" shown once): open the dashboard at /reset?token={token}", file=out)
        return 0
    if args.action == "pin":
        return await _pin(store, username, check_pin(_read_secret(args, stdin, "PIN")), out)
    disabled = args.action == "disable"
    if not await store.set_user_disabled(username, disabled):
        raise InputError(f"no user {username!r}")
    await store.audit(_actor(), f"user_{args.action}", {"username": username}, _now())
    print(f"user {username} {'disabled (signed out everywhere)' if disabled else 'enabled'}",
          file=out)
    return 0


async def _pin(store: SQLiteStore, username: str, pin: str, out: TextIO) -> int:
    """Set a supervisor's phone studio PIN (hashed); refuse one another supervisor has."""
    user = await store.user_by_name(username)
    if user is None:
        raise InputError(f"no user {username!r}")
    if user.role is not Role.SUPERVISOR:
        raise InputError(f"only supervisors record prompts: {username} is {user.role.value}")
    for other, pin_hash in await store.studio_pins():
        if other.lower() != username.lower() and verify_password(pin_hash, pin):
            raise InputError("another supervisor has this PIN: choose another")
    await store.set_user_pin(user.username, hash_password(pin))
    await store.audit(_actor(), "user_pin", {"username": user.username}, _now())
    print(f"user {user.username}: studio PIN set", file=out)
    return 0


async def _apikeys(store: SQLiteStore, args: argparse.Namespace, out: TextIO) -> int:
    if args.action == "list":
        for k in await store.api_keys():
            state = f"revoked {k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "live"
            print(f"{k.id}\t{k.office}\t{k.label}\tcreated {k.created_at:%Y-%m-%d %H:%M}\t{state}",
                  file=out)
        return 0
    if args.action == "add":
        if not args.office:
            raise InputError("apikeys add: give --office")
        (office,) = validate_scope(Role.DATAENTRY, [args.office])
        key = new_api_key()
        key_id = await store.add_api_key(token_hash(key), office, args.label.strip(), _now())
        await store.audit(_actor(), "apikey_add", {"id": key_id, "office": office}, _now())
        print(f"API key {key_id} for {office} (shown once; only its hash is kept):",
              file=sys.stderr)
        print(key, file=out)
        return 0
    if args.id is None:
        raise InputError("apikeys revoke: give the key's id (see `rabta apikeys list`)")
    if not await store.revoke_api_key(args.id, _now()):
        raise InputError(f"no live API key with id {args.id}")
    await store.audit(_actor(), "apikey_revoke", {"id": args.id}, _now())
    print(f"API key {args.id} revoked", file=out)
    return 0


async def run(settings: Settings, args: argparse.Namespace, out: TextIO | None = None,
              stdin: TextIO | None = None) -> int:
    """Run `rabta users ...` or `rabta apikeys ...` against the store."""
    async with await open_store(settings.db_url) as store:
        if args.command == "users":
            return await _users(store, args, out or sys.stdout, stdin)
        return await _apikeys(store, args, out or sys.stdout)
