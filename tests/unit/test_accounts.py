"""Accounts: role rules, the lockout policy, secrets, the store's accounts tables, the CLI."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from web_support import NOW, PASSWORD, visits

from ivr import cli
from ivr.accounts import (
    LOCKOUT,
    MAX_FAILURES,
    Area,
    Role,
    after_failure,
    check_password,
    check_username,
    describe_scope,
    hash_password,
    is_locked,
    may,
    may_write_office,
    new_api_key,
    new_token,
    sees,
    token_hash,
    validate_scope,
    verify_password,
)
from ivr.cli import users as cli_users
from ivr.config import Settings
from ivr.errors import InputError
from ivr.store import SQLiteStore
from ivr.store import accounts as store_accounts
from ivr.store import sqlite as store_sqlite

pytestmark = pytest.mark.both_backends  # the store tests run on SQLite and PostgreSQL

pytest_plugins = ["web_fixtures"]  # client, clock, web_settings, cheap argon2

# ---------------------------------------------------------------------------- roles

AREAS = {
    Role.OVERSIGHT: set(Area),
    Role.DEPARTMENT: {Area.RESULTS},
    Role.DISTRICT: {Area.RESULTS},
    Role.SUPERVISOR: {Area.PROMPTS, Area.SURVEYS},
    Role.TELEPHONY: {Area.TELEPHONY},
    Role.DATAENTRY: {Area.INTAKE},
}


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("area", list(Area))
def test_role_area_table(role: Role, area: Area) -> None:
    assert may(role, area) == (area in AREAS[role])


@pytest.mark.parametrize(("role", "scope", "service", "district", "expected"), [
    (Role.OVERSIGHT, (), "Pension", "Multan", True),
    (Role.DEPARTMENT, ("Domicile", "Pension"), "Pension", "Multan", True),
    (Role.DEPARTMENT, ("Domicile",), "Pension", "Lahore", False),
    (Role.DISTRICT, ("Lahore",), "Pension", "Lahore", True),
    (Role.DISTRICT, ("Lahore",), "Pension", "Multan", False),
    (Role.SUPERVISOR, (), "Pension", "Lahore", False),
    (Role.TELEPHONY, (), "Pension", "Lahore", False),
    (Role.DATAENTRY, ("DC Office Lahore",), "Pension", "Lahore", False),
])
def test_sees_results_by_scope(role: Role, scope: tuple[str, ...], service: str, district: str,
                               expected: bool) -> None:
    assert sees(role, scope, service=service, district=district) is expected


@pytest.mark.parametrize(("role", "scope", "office", "expected"), [
    (Role.OVERSIGHT, (), "any office", True),
    (Role.DATAENTRY, ("A",), "A", True),
    (Role.DATAENTRY, ("A",), "B", False),
    (Role.DEPARTMENT, ("A",), "A", False),
    (Role.DISTRICT, ("A",), "A", False),
    (Role.SUPERVISOR, (), "A", False),
    (Role.TELEPHONY, (), "A", False),
])
def test_may_write_office(role: Role, scope: tuple[str, ...], office: str, expected: bool) -> None:
    assert may_write_office(role, scope, office) is expected


@pytest.mark.parametrize(("role", "scope", "expected"), [
    (Role.OVERSIGHT, [], ()),
    (Role.DEPARTMENT, [" Domicile ", "Pension", "Domicile", ""], ("Domicile", "Pension")),
    (Role.DISTRICT, ["Lahore"], ("Lahore",)),
    (Role.DATAENTRY, ["DC Office Lahore"], ("DC Office Lahore",)),
])
def test_validate_scope_cleans(role: Role, scope: list[str], expected: tuple[str, ...]) -> None:
    assert validate_scope(role, scope) == expected
    assert describe_scope(role, expected)


@pytest.mark.parametrize(("role", "scope", "message"), [
    (Role.OVERSIGHT, ["Lahore"], "takes no scope"),
    (Role.TELEPHONY, ["x"], "takes no scope"),
    (Role.DEPARTMENT, [], "needs a service"),
    (Role.DISTRICT, [" "], "needs a district"),
    (Role.DISTRICT, ["Lahore", "Multan"], "exactly one district"),
    (Role.DATAENTRY, ["A", "B"], "exactly one office"),
    (Role.DATAENTRY, ["a\nb"], "not a usable name"),
])
def test_validate_scope_refuses(role: Role, scope: list[str], message: str) -> None:
    with pytest.raises(InputError, match=message):
        validate_scope(role, scope)


# ---------------------------------------------------------------------------- lockout


def test_lockout_policy_table() -> None:
    failed, locked = 0, None
    for n in range(1, MAX_FAILURES):
        failed, locked = after_failure(failed, NOW)
        assert (failed, locked) == (n, None)
    failed, locked = after_failure(failed, NOW)
    assert (failed, locked) == (0, NOW + timedelta(minutes=15))
    assert LOCKOUT == timedelta(minutes=15) and MAX_FAILURES == 5


@pytest.mark.parametrize(("locked_until", "now", "expected"), [
    (None, NOW, False),
    (NOW + timedelta(seconds=1), NOW, True),
    (NOW, NOW, False),  # the lock ends at locked_until exactly
    (NOW - timedelta(seconds=1), NOW, False),
])
def test_is_locked(locked_until: datetime | None, now: datetime, expected: bool) -> None:
    assert is_locked(locked_until, now) is expected


@given(st.lists(st.booleans(), max_size=40))
def test_never_more_than_five_guesses_per_lock(outcomes: list[bool]) -> None:
    """Whatever the order of good and bad passwords, at most 5 wrong ones between locks."""
    failed, streak = 0, 0
    for good in outcomes:
        if good:
            failed, streak = 0, 0
            continue
        failed, locked = after_failure(failed, NOW)
        streak += 1
        assert streak <= MAX_FAILURES
        if locked is not None:
            assert streak == MAX_FAILURES
            streak = 0


# ---------------------------------------------------------------------------- secrets


def test_passwords_hash_with_argon2id_and_verify() -> None:
    h = hash_password(PASSWORD)
    assert h.startswith("$argon2id$")
    assert h != hash_password(PASSWORD)  # salted
    assert verify_password(h, PASSWORD)
    assert not verify_password(h, PASSWORD + "x")
    assert not verify_password("not a hash", PASSWORD)


def test_tokens_are_random_and_stored_as_sha256() -> None:
    tokens = {new_token() for _ in range(100)}
    assert len(tokens) == 100 and all(len(t) >= 43 for t in tokens)
    key = new_api_key()
    assert key.startswith("rabta_")
    assert token_hash(key) == token_hash(key) != key
    assert len(token_hash(key)) == 64


@pytest.mark.parametrize("name", ["", " ", "a b", "x" * 65, "ali;drop", "<b>"])
def test_usernames_are_plain(name: str) -> None:
    with pytest.raises(InputError):
        check_username(name)


def test_password_length_rules() -> None:
    assert check_password("x" * 10) == "x" * 10
    for bad in ("short", "x" * 1025):
        with pytest.raises(InputError):
            check_password(bad)


# ---------------------------------------------------------------------------- store


def test_store_time_format_matches_the_main_store() -> None:
    t = datetime(2024, 5, 2, 7, 8, 9, 123456, tzinfo=UTC)
    assert store_accounts._ts(t) == store_sqlite.ts(t)
    assert store_accounts._parse(store_sqlite.ts(t)) == t


async def test_users_are_unique_case_insensitively(store: SQLiteStore) -> None:
    h = hash_password(PASSWORD)
    assert await store.add_user("Amna", h, Role.DISTRICT, ("Lahore",), NOW) is not None
    assert await store.add_user("amna", h, Role.OVERSIGHT, (), NOW) is None
    user = await store.user_by_name("AMNA")
    assert user is not None and user.scope == ("Lahore",) and user.role is Role.DISTRICT
    assert "argon2" not in repr(user)  # the hash never reaches a log through repr


async def test_login_failures_lock_and_a_lock_is_not_extended(store: SQLiteStore) -> None:
    uid = await store.add_user("amna", hash_password(PASSWORD), Role.OVERSIGHT, (), NOW)
    assert uid is not None
    for _ in range(4):
        assert await store.login_failed(uid, NOW) is None
    assert await store.login_failed(uid, NOW) == NOW + LOCKOUT
    later = NOW + timedelta(minutes=10)
    assert await store.login_failed(uid, later) == NOW + LOCKOUT  # not moved
    await store.login_succeeded(uid)
    user = await store.user_by_name("amna")
    assert user is not None and (user.failed_logins, user.locked_until) == (0, None)


async def test_sessions_expire_and_die_with_a_disabled_account(store: SQLiteStore) -> None:
    uid = await store.add_user("amna", hash_password(PASSWORD), Role.OVERSIGHT, (), NOW)
    assert uid is not None
    end = NOW + timedelta(hours=1)
    await store.create_session("h1", uid, "csrf", NOW, end)
    session = await store.session("h1", NOW)
    assert session is not None and session.user.username == "amna" and session.expires_at == end
    assert await store.session("h1", end) is None
    await store.set_user_disabled("amna", True)
    assert await store.session("h1", NOW) is None
    await store.set_user_disabled("amna", False)
    assert await store.session("h1", NOW) is None  # disabling ended it for good
    # expired sessions are swept when a new one starts
    await store.create_session("h2", uid, "csrf", NOW, end)
    await store.create_session("h3", uid, "csrf", end, end + timedelta(hours=1))
    assert not await store.delete_session("h2")
    assert await store.delete_session("h3")


async def test_api_keys_revoke(store: SQLiteStore) -> None:
    key_id = await store.add_api_key("hash", "Office", "label", NOW)
    key = await store.api_key("hash")
    assert key is not None and (key.id, key.office, key.label) == (key_id, "Office", "label")
    assert await store.revoke_api_key(key_id, NOW)
    assert not await store.revoke_api_key(key_id, NOW)
    assert await store.api_key("hash") is None
    (listed,) = await store.api_keys()
    assert listed.revoked_at == NOW


async def test_audit_log(store: SQLiteStore) -> None:
    await store.audit("cli:root", "user_add", {"username": "ämna"}, NOW)
    await store.audit("user:ämna", "login_ok", {}, NOW)
    entries = await store.audit_entries()
    assert [(e["actor"], e["action"]) for e in entries] == [("user:ämna", "login_ok"),
                                                            ("cli:root", "user_add")]
    assert entries[1]["detail"] == {"username": "ämna"}


# ---------------------------------------------------------------------------- CLI


def _settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home", database=str(tmp_path / "t.db"))


async def _cli(tmp_path: Path, *argv: str, stdin: str = "") -> str:
    args = cli.build_parser().parse_args(list(argv))
    out = io.StringIO()
    code = await cli_users.run(_settings(tmp_path), args, out, io.StringIO(stdin))
    assert code == 0
    return out.getvalue()


@pytest.mark.sqlite_only("drives the CLI, whose settings name a SQLite file")
async def test_cli_users_add_list_disable_enable(tmp_path: Path, store: SQLiteStore) -> None:
    await visits(store, services=("Domicile", "Pension"))  # the scope names what the data knows
    out = await _cli(tmp_path, "users", "add", "admin", "--role", "oversight", "--password-stdin",
                     stdin=PASSWORD + "\n")
    assert "user admin added: oversight" in out
    pw_file = tmp_path / "pw"
    pw_file.write_text("another long password\nignored\n")
    await _cli(tmp_path, "users", "add", "amna", "--role", "department", "--service", "Domicile",
               "--service", "Pension", "--password-file", str(pw_file))
    listing = await _cli(tmp_path, "users", "list")
    assert "admin\toversight" in listing
    assert "amna\tdepartment\tresults of Domicile, Pension in all districts\tactive" in listing
    assert "disabled" in await _cli(tmp_path, "users", "disable", "amna")
    assert "amna\tdepartment" in (await _cli(tmp_path, "users", "list"))
    assert "\tdisabled\t" in await _cli(tmp_path, "users", "list")
    await _cli(tmp_path, "users", "enable", "amna")
    user = await store.user_by_name("amna")
    assert user is not None and verify_password(user.password_hash, "another long password")
    actions = [e["action"] for e in await store.audit_entries()]
    assert actions == ["user_enable", "user_disable", "user_add", "user_add"]


@pytest.mark.parametrize(("argv", "stdin", "message"), [
    (["users", "add", "x", "--role", "district", "--password-stdin"], PASSWORD, "needs --district"),
    (["users", "add", "x", "--role", "district", "--office", "A", "--password-stdin"], PASSWORD,
     "--office does not apply to role district"),
    (["users", "add", "x", "--role", "oversight", "--service", "S", "--password-stdin"], PASSWORD,
     "--service does not apply"),
    (["users", "add", "x", "--role", "oversight", "--password-stdin"], "short\n", "too short"),
    (["users", "add", "x", "--role", "oversight"], "", "no terminal"),
    (["users", "add", "x", "--password-stdin"], PASSWORD, "give --role"),
    (["users", "add", "--role", "oversight"], "", "give a username"),
    (["users", "disable", "ghost"], "", "no user 'ghost'"),
    (["apikeys", "add"], "", "give --office"),
    (["apikeys", "revoke"], "", "give the key's id"),
    (["apikeys", "revoke", "99"], "", "no live API key with id 99"),
])
async def test_cli_refuses_with_a_reason(tmp_path: Path, argv: list[str], stdin: str,
                                         message: str) -> None:
    with pytest.raises(InputError, match=message):
        await _cli(tmp_path, *argv, stdin=stdin)


async def test_cli_duplicate_user(tmp_path: Path) -> None:
    await _cli(tmp_path, "users", "add", "admin", "--role", "oversight", "--password-stdin",
               stdin=PASSWORD)
    with pytest.raises(InputError, match="already exists"):
        await _cli(tmp_path, "users", "add", "ADMIN", "--role", "oversight", "--password-stdin",
                   stdin=PASSWORD)


def test_cli_has_no_password_flag() -> None:
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["users", "add", "x", "--role", "oversight",
                                       "--password", "secret123456"])


@pytest.mark.sqlite_only("drives the CLI, whose settings name a SQLite file")
async def test_cli_apikeys_add_list_revoke(tmp_path: Path, store: SQLiteStore,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    key = (await _cli(tmp_path, "apikeys", "add", "--office", "DC Office Lahore", "--label",
                      "e-Khidmat")).strip()
    assert key.startswith("rabta_")
    assert "shown once" in capsys.readouterr().err
    stored = await store.api_key(token_hash(key))
    assert stored is not None and stored.office == "DC Office Lahore"
    assert "1\tDC Office Lahore\te-Khidmat" in await _cli(tmp_path, "apikeys", "list")
    assert key not in await _cli(tmp_path, "apikeys", "list")
    await _cli(tmp_path, "apikeys", "revoke", "1")
    assert await store.api_key(token_hash(key)) is None
    assert "revoked" in await _cli(tmp_path, "apikeys", "list")


def test_cli_main_wires_users(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    argv: list[Any] = ["--home", str(tmp_path / "home"), "users", "add", "admin", "--role",
                       "oversight", "--password-stdin"]
    assert cli.main(argv) == 0
    assert cli.main(["--home", str(tmp_path / "home"), "users", "list"]) == 0
    assert "admin\toversight" in capsys.readouterr().out
    assert cli.main(["--home", str(tmp_path / "home"), "users", "disable", "nobody"]) == 2
