"""Mistakes a new admin makes, each answered in one line that names it, with the right exit code.

Exit codes mean one thing everywhere: 0 done, 1 a check found problems, 2 bad usage or input.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from ivr import audio, cli
from ivr.cli import entry
from ivr.cli.logs import TEXT_DATEFMT, TEXT_FORMAT
from ivr.config import load_settings
from ivr.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """No RABTA_* from the outside, a home in tmp_path, no ./rabta.toml."""
    for var in [v for v in os.environ if v.startswith("RABTA_")]:
        monkeypatch.delenv(var)
    monkeypatch.setenv("RABTA_HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    old_term = signal.getsignal(signal.SIGTERM)  # main() installs its own SIGTERM handler
    yield tmp_path
    signal.signal(signal.SIGTERM, old_term)


def rabta(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run `rabta argv` in-process; return the exit code, standard error and output."""
    try:
        code = cli.main(list(argv))
    except SystemExit as exc:  # argparse's own usage errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, err, out


def one_line_error(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("rabta: error:")]
    assert len(lines) == 1, err
    return lines[0]


# ---------------------------------------------------------------------- settings


def test_a_misspelt_variable_is_an_error_with_the_closest_name(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RABTA_MAX_CONCURENT", "4")
    code, err, _ = rabta(capsys, "status")
    assert code == 2
    assert one_line_error(err) == ("rabta: error: RABTA_MAX_CONCURENT: unknown setting; "
                                   "did you mean 'RABTA_MAX_CONCURRENT'?")


def test_a_misspelt_toml_key_gets_the_same_hint(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "rabta.toml").write_text("max_concurent = 4\n", encoding="utf-8")
    code, err, _ = rabta(capsys, "status")
    assert code == 2
    assert "unknown setting 'max_concurent'; did you mean 'max_concurrent'?" in one_line_error(err)


def test_no_hint_when_nothing_is_close() -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(env={"RABTA_COLOUR": "blue"})
    assert str(err.value) == "RABTA_COLOUR: unknown setting"


def test_variables_that_are_not_settings_are_left_alone() -> None:
    env = {"RABTA_TEST_SLOT": "4", "RABTA_CHROMIUM": "/usr/bin/chromium"}
    assert load_settings(env=env).max_concurrent == 10


@pytest.mark.parametrize(
    ("var", "raw", "expected"),
    [
        ("RABTA_WEB_PORT", "99999", "RABTA_WEB_PORT: web_port: must be between 1 and 65535, got 99999"),
        ("RABTA_AMI_PORT", "0", "RABTA_AMI_PORT: ami_port: must be between 1 and 65535, got 0"),
        ("RABTA_MAX_CONCURRENT", "abc",
         "RABTA_MAX_CONCURRENT: max_concurrent: expected a whole number, got 'abc'"),
        ("RABTA_RING_TIMEOUT", "-5", "RABTA_RING_TIMEOUT: ring_timeout: must be more than 0, got -5"),
        ("RABTA_RETRY_DELAY", "soon", "RABTA_RETRY_DELAY: retry_delay: expected a number, got 'soon'"),
        ("RABTA_LOG_LEVEL", "loud",
         "RABTA_LOG_LEVEL: log_level: 'loud' is not one of DEBUG, INFO, WARNING, ERROR"),
        ("RABTA_LOG_FORMAT", "xml", "RABTA_LOG_FORMAT: log_format: 'xml' is not one of text, json"),
    ],
)
def test_a_bad_value_is_one_line_with_its_range(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        var: str, raw: str, expected: str) -> None:
    monkeypatch.setenv(var, raw)
    code, err, _ = rabta(capsys, "status")
    assert code == 2
    assert one_line_error(err) == f"rabta: error: {expected}"
    assert "invalid literal" not in err and "Overflow" not in err


def test_log_level_flag_is_checked(capsys: pytest.CaptureFixture[str]) -> None:
    code, err, _ = rabta(capsys, "--log-level", "loud", "status")
    assert code == 2
    assert one_line_error(err) == ("rabta: error: --log-level: log_level: 'loud' is not one of "
                                   "DEBUG, INFO, WARNING, ERROR")
    assert load_settings(env={}, overrides={"log_level": "debug"}).log_level == "debug"


def test_the_range_holds_for_settings_built_in_code_too() -> None:
    from ivr.config import replace

    with pytest.raises(ConfigError, match="web_port: must be between 1 and 65535, got 70000"):
        replace(load_settings(env={}), web_port=70000)


# ---------------------------------------------------------------------- commands


def test_port_flag_out_of_range_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, err, _ = rabta(capsys, "web", "--port", "99999")
    assert code == 2
    assert "argument --port: 99999 is not a port number (1-65535)" in err


def test_a_busy_web_port_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("RABTA_")}
        env["RABTA_HOME"] = str(tmp_path)
        done = subprocess.run([sys.executable, "-m", "ivr.cli", "web", "--port", str(port)],
                              cwd=tmp_path, env={**env, "PYTHONPATH": str(ROOT)},
                              capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert one_line_error(done.stderr).startswith(
        f"rabta: error: the web cannot listen on 127.0.0.1:{port}: Address already in use ")
    assert "--port or RABTA_WEB_PORT" in done.stderr


def test_a_busy_fastagi_port_is_one_line(capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        monkeypatch.setenv("RABTA_AGI_PORT", str(port))
        monkeypatch.setenv("RABTA_AMI_SECRET", "unused")
        code, err, _ = rabta(capsys, "run", "--until-idle", "--no-progress")
    assert code == 2
    assert one_line_error(err).startswith(f"rabta: error: FastAGI cannot listen on 127.0.0.1:{port}: ")
    assert "RABTA_AGI_PORT" in err


def test_export_into_a_missing_directory(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "missing" / "dir" / "x.csv"
    code, err, _ = rabta(capsys, "export", "-o", str(target))
    assert code == 2
    assert one_line_error(err) == (f"rabta: error: --output {target}: no directory "
                                   f"{target.parent}")


def test_export_where_it_cannot_write(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "results.csv"
    target.mkdir()  # a directory where the file would go: the rename fails
    code, err, _ = rabta(capsys, "export", "-o", str(target))
    assert code == 2
    assert one_line_error(err).startswith(f"rabta: error: --output {target}: cannot write: ")
    assert not target.with_name("results.csv.part").exists()


@pytest.mark.parametrize("where", ["home-is-a-file", "cannot-create"])
def test_a_database_that_cannot_be_created(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           where: str) -> None:
    if where == "home-is-a-file":
        (tmp_path / "file").write_text("x")
        db = tmp_path / "file" / "rabta.db"
        why = "Not a directory"
    else:
        db = Path("/proc/no-such-dir/rabta.db")  # /proc refuses new directories, even for root
        why = "No such file or directory"
    code, err, _ = rabta(capsys, "--database", str(db), "status")
    assert code == 2
    assert one_line_error(err) == f"rabta: error: {db}: cannot create the database: {why}"


@pytest.mark.parametrize(("url", "said"), [
    ("postgresql://rabta:secret@h:x/db", "rabta: error: database_url "
     "'postgresql://rabta:***@h:x/db': the port is not a number"),
    ("mysql://db1/rabta", "rabta: error: database_url 'mysql://db1/rabta' is not understood: "
     "use sqlite:///path/to/rabta.db or postgresql://user:password@host:5432/dbname"),
    ("postgresql://rabta:secret@127.0.0.1:1/rabta", "rabta: error: "
     "postgresql://rabta:***@127.0.0.1:1/rabta: cannot connect to PostgreSQL: "),
])
def test_a_malformed_database_url_or_an_unreachable_postgresql_at_start(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, url: str,
        said: str) -> None:
    monkeypatch.setenv("RABTA_DATABASE_URL", url)
    code, err, _ = rabta(capsys, "run", "--until-idle")
    assert code == 2
    assert one_line_error(err).startswith(said), err
    assert "secret" not in err


def test_a_missing_dnc_register(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err, _ = rabta(capsys, "dnc", "import", str(tmp_path / "none.csv"))
    assert code == 2
    assert one_line_error(err) == (f"rabta: error: {tmp_path / 'none.csv'}: cannot read: "
                                   f"No such file or directory")


def test_an_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, err, _ = rabta(capsys, "imprt", "x.csv")
    assert code == 2
    assert "invalid choice: 'imprt'" in err


class FakeManager:
    """Greets like Asterisk's AMI on a loopback port, so `status` sees a node answering."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.sendall(b"Asterisk Call Manager/9.0.0\r\n")


def test_status_exits_1_while_a_node_ami_is_down(capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    manager = FakeManager()
    try:
        monkeypatch.setenv("RABTA_AMI_PORT", str(manager.port))
        code, _, out = rabta(capsys, "status")
        assert code == 0
        with socket.socket() as closed:  # a port nothing listens on
            closed.bind(("127.0.0.1", 0))
            down = closed.getsockname()[1]
        monkeypatch.setenv("RABTA_NODES", f"a@127.0.0.1:{manager.port},b@127.0.0.1:{down}")
        code, _, out = rabta(capsys, "status")
        assert code == 1
        assert f"AMI 127.0.0.1:{down} (b): NOT answering" in out
    finally:
        manager.sock.close()
    code, _, out = rabta(capsys, "status", "--json")
    assert code == 1


def test_status_names_the_node_that_is_down(capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RABTA_AMI_PORT", "1")
    code, _, out = rabta(capsys, "status")
    assert code == 1
    assert "AMI 127.0.0.1:1 (rabta-pbx): NOT answering" in out


def test_prompt_building_without_the_extra_says_what_to_install(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pydub", None)  # as if not installed
    raw = tmp_path / "raw.wav"
    raw.write_bytes(b"RIFF")
    with pytest.raises(ConfigError) as err:
        audio.process(raw, tmp_path / "out.wav")
    assert "pip install 'rabta[prompts]'" in str(err.value)
    assert "pydub" in str(err.value)


# ---------------------------------------------------------------------- help, completion, logs


def _subcommands(parser: argparse.ArgumentParser | None = None
                 ) -> dict[str, argparse.ArgumentParser]:
    parser = parser or cli.build_parser()
    [group] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(group.choices)


def test_every_subcommand_has_a_description_and_an_example() -> None:
    commands = _subcommands()
    assert len(commands) >= 15
    for name, sub in commands.items():
        assert sub.description and len(sub.description) > 40, name
        assert sub.epilog and "examples:" in sub.epilog, name
        assert f"rabta {name}" in sub.epilog or name == "completion", name


@pytest.mark.parametrize("name", sorted(_subcommands()))
def test_help_of_each_subcommand(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, out = rabta(capsys, name, "--help")
    assert code == 0
    assert "examples:" in out


def test_web_and_serve_take_a_port(capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("web", "serve"):
        args = cli.build_parser().parse_args([name, "--port", "8123"])
        assert args.web_port == 8123


def test_the_port_flag_reaches_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = {}

    def handler(args: argparse.Namespace, settings: object) -> int:
        seen["port"] = getattr(settings, "web_port")  # noqa: B009
        return 0

    parser = cli.build_parser()
    monkeypatch.setattr(entry, "build_parser", lambda: parser)
    _subcommands(parser)["web"].set_defaults(func=handler)
    assert cli.main(["web", "--port", "8123"]) == 0
    assert seen["port"] == 8123


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_completion_script(shell: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, script = rabta(capsys, "completion", shell)
    assert code == 0
    for word in ("import", "asterisk", "dnc", "--until-idle"):
        assert word in script


def test_completion_reads_no_settings(capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RABTA_MAX_CONCURENT", "4")  # would be an error for any other command
    code, _, script = rabta(capsys, "completion", "bash")
    assert code == 0 and "rabta" in script


def test_text_log_lines_carry_the_date() -> None:
    record = logging.LogRecord("rabta", logging.INFO, __file__, 1, "hello", None, None)
    line = logging.Formatter(TEXT_FORMAT, datefmt=TEXT_DATEFMT).format(record)
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d INFO    rabta: hello$", line)
