"""load_settings: defaults < rabta.toml < RABTA_* environment < flags, and errors that say where."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ivr.config import Settings, load_settings
from ivr.errors import ConfigError
from scheduler.rules import Rules


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No ./rabta.toml from the real working dir; ~ points into tmp_path."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path


def write_toml(tmp_path: Path, text: str, name: str = "rabta.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------------- layering


def test_defaults(tmp_path: Path) -> None:
    s = load_settings(env={})
    assert s == Settings()
    assert s.home == tmp_path / "home" / ".local/share/rabta"
    assert s.cache == tmp_path / "home" / ".cache/rabta"
    assert s.db_path == s.home / "rabta.db"
    assert (s.ami_host, s.ami_port, s.agi_host, s.agi_port) == ("127.0.0.1", 5038, "127.0.0.1", 4573)
    assert (s.max_concurrent, s.max_attempts, s.retry_delay) == (10, 3, 900.0)
    assert (s.calling_window, s.timezone) == ("09:00-20:00", "Asia/Karachi")
    assert s.agi_allow == ("127.0.0.0/8", "::1/128")
    assert s.phonebook is None


def test_toml_overrides_defaults(tmp_path: Path) -> None:
    path = write_toml(tmp_path, 'max_concurrent = 4\nretry_delay = 60\ncalling_window = "08:00-18:00"\n'
                                'agi_allow = ["10.0.0.0/8"]\nhome = "/srv/rabta"\n', "conf.toml")
    s = load_settings(path, env={})
    assert (s.max_concurrent, s.retry_delay, s.calling_window) == (4, 60.0, "08:00-18:00")
    assert s.agi_allow == ("10.0.0.0/8",)
    assert s.home == Path("/srv/rabta")
    assert s.max_attempts == 3  # untouched keys keep their default


@pytest.mark.parametrize("how", ["cwd", "env"])
def test_toml_is_found_in_cwd_or_via_rabta_config(tmp_path: Path, how: str) -> None:
    if how == "cwd":
        write_toml(tmp_path, "max_concurrent = 6\n")
        env = {}
    else:
        path = write_toml(tmp_path, "max_concurrent = 6\n", "elsewhere.toml")
        env = {"RABTA_CONFIG": str(path)}
    assert load_settings(env=env).max_concurrent == 6


def test_env_overrides_toml(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "max_concurrent = 4\nmax_attempts = 5\n")
    s = load_settings(path, env={"RABTA_MAX_CONCURRENT": "8", "UNRELATED": "x"})
    assert (s.max_concurrent, s.max_attempts) == (8, 5)


def test_flags_override_env(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "max_concurrent = 4\n")
    s = load_settings(path, env={"RABTA_MAX_CONCURRENT": "8", "RABTA_DATABASE": "/env.db"},
                      overrides={"max_concurrent": 12, "database": "/flag.db", "home": None})
    assert (s.max_concurrent, s.database, s.db_path) == (12, "/flag.db", Path("/flag.db"))
    assert s.home == tmp_path / "home" / ".local/share/rabta"  # None means "flag not given"


@pytest.mark.parametrize(
    ("var", "raw", "field", "expected"),
    [
        ("RABTA_MAX_CONCURRENT", "7", "max_concurrent", 7),
        ("RABTA_AMI_PORT", " 5039 ", "ami_port", 5039),
        ("RABTA_RETRY_DELAY", "2.5", "retry_delay", 2.5),
        ("RABTA_CALLS_PER_SECOND", "1e1", "calls_per_second", 10.0),
        ("RABTA_AGI_ALLOW", "10.0.0.0/8, 192.168.1.7", "agi_allow", ("10.0.0.0/8", "192.168.1.7")),
        ("RABTA_AGI_ALLOW", "10.0.0.0/8,,", "agi_allow", ("10.0.0.0/8",)),
        ("RABTA_HOME", "/srv/rabta", "home", Path("/srv/rabta")),
        ("RABTA_PHONEBOOK", "/tmp/pb.csv", "phonebook", Path("/tmp/pb.csv")),
        ("RABTA_PHONEBOOK", "", "phonebook", None),
        ("RABTA_AMI_SECRET", "s3cret", "ami_secret", "s3cret"),
    ],
)
def test_env_type_conversion(var: str, raw: str, field: str, expected: Any) -> None:
    value = getattr(load_settings(env={var: raw}), field)
    assert value == expected
    assert type(value) is type(expected)


def test_tilde_is_expanded_in_paths(tmp_path: Path) -> None:
    s = load_settings(env={"RABTA_HOME": "~/data", "RABTA_PHONEBOOK": "~/pb.csv"})
    assert (s.home, s.phonebook) == (tmp_path / "home" / "data", tmp_path / "home" / "pb.csv")


def test_settings_are_frozen() -> None:
    s = load_settings(env={})
    with pytest.raises(AttributeError):
        s.max_concurrent = 3  # type: ignore[misc]


# ---------------------------------------------------------------------- errors


@pytest.mark.parametrize("text", ["max_concurrent = \n", 'home = "/srv"\n[x\n'])
def test_half_written_toml_names_path_and_line(tmp_path: Path, text: str) -> None:
    path = write_toml(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_settings(path, env={})
    assert str(path) in str(err.value)
    assert "line" in str(err.value)


def test_truncated_toml_without_newline_names_line(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "max_attempts = 3\nmax_concurrent = ")
    with pytest.raises(ConfigError, match="line"):
        load_settings(path, env={})


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.toml: config file not found"):
        load_settings(tmp_path / "nope.toml", env={})


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ("max_concurent = 4\n", "unknown setting 'max_concurent'"),
        ("[dialer]\nmax_concurrent = 4\n", "unknown setting 'dialer'"),
        ('max_concurrent = "many"\n', "max_concurrent"),
        ("max_concurrent = true\n", "max_concurrent"),
        ("ami_host = [1, 2]\n", "ami_host"),
    ],
)
def test_bad_toml_values_name_the_file(tmp_path: Path, toml: str, expected: str) -> None:
    path = write_toml(tmp_path, toml)
    with pytest.raises(ConfigError) as err:
        load_settings(path, env={})
    assert str(path) in str(err.value)
    assert expected in str(err.value)


def test_toml_float_for_int_setting_is_rejected(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "max_concurrent = 2.5\n")
    with pytest.raises(ConfigError, match="max_concurrent"):
        load_settings(path, env={})


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"RABTA_MAX_CONCURRENT": "abc"}, "RABTA_MAX_CONCURRENT"),
        ({"RABTA_MAX_CONCURRENT": "2.5"}, "RABTA_MAX_CONCURRENT"),
        ({"RABTA_RETRY_DELAY": "soon"}, "RABTA_RETRY_DELAY"),
        ({"RABTA_AMI_PORT": ""}, "RABTA_AMI_PORT"),
    ],
)
def test_bad_env_names_the_variable(env: dict[str, str], expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        load_settings(env=env)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"max_concurrent": "x"}, "--max-concurrent"),
        ({"no_such_flag": 1}, "unknown setting 'no_such_flag'"),
    ],
)
def test_bad_flags(overrides: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        load_settings(env={}, overrides=overrides)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"RABTA_MAX_CONCURRENT": "0"}, "max_concurrent"),
        ({"RABTA_MAX_CONCURRENT": "-3"}, "max_concurrent"),
        ({"RABTA_CALLS_PER_SECOND": "0"}, "calls_per_second"),
        ({"RABTA_MAX_ATTEMPTS": "0"}, "max_attempts"),
        ({"RABTA_QUESTION_TRIES": "0"}, "question_tries"),
        ({"RABTA_CALLING_WINDOW": "20:00-09:00"}, "calling_window"),
        ({"RABTA_CALLING_WINDOW": "always"}, "calling_window"),
        ({"RABTA_AGI_ALLOW": "127.0.0.0/8,garbage"}, "agi_allow: 'garbage'"),
        ({"RABTA_AGI_ALLOW": "10.0.0.0/33"}, "agi_allow"),
    ],
)
def test_invalid_values_are_rejected(env: dict[str, str], expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        Rules.from_settings(load_settings(env=env))  # rule strings are checked as rules are built


def test_validation_also_applies_to_flags() -> None:
    with pytest.raises(ConfigError, match="max_concurrent"):
        load_settings(env={}, overrides={"max_concurrent": 0})


# ---------------------------------------------------------------------- database_url


def test_database_url_names_the_engine(tmp_path: Path) -> None:
    assert load_settings(env={}).db_url == f"sqlite:///{(tmp_path / 'home' / '.local/share/rabta/rabta.db')}"
    pg = "postgresql://rabta:secret@db1:5432/rabta"
    assert load_settings(env={"RABTA_DATABASE_URL": pg}).db_url == pg


@pytest.mark.parametrize("url", ["mysql://db/rabta", "sqlite:rabta.db", "postgresql://h:x/db"])
def test_a_malformed_database_url_is_refused_at_load(url: str) -> None:
    with pytest.raises(ConfigError, match="database_url") as err:
        load_settings(env={"RABTA_DATABASE_URL": url})
    assert "secret" not in str(err.value)


def test_a_database_urls_password_never_shows_in_its_error() -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(env={"RABTA_DATABASE_URL": "postgresql://u:secret@h:x/db"})
    assert "secret" not in str(err.value) and "***" in str(err.value)
