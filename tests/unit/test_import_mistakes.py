"""`rabta import` and a new admin's mistakes: each one named, with its line, and exit code 2.

An unknown column (a misspelt `langauge`) names the closest known column and imports nothing,
as the API refuses the same name with 422; a `;`-separated file is told to use commas; an
unclosed quote names the line it opened on. Nothing is stored from a file refused whole.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from ivr import cli
from ivr.store import open_store

HEADER = "ref,name,mobile,service,office,district,official,visited_at,language"
ROW = "T1,Ali,03001234567,Domicile,DC Office Lahore,Lahore,Bilal,2024-05-01T09:00,ur"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for var in [v for v in os.environ if v.startswith("RABTA_")]:
        monkeypatch.delenv(var)
    monkeypatch.setenv("RABTA_HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    old_term = signal.getsignal(signal.SIGTERM)  # main() installs its own SIGTERM handler
    yield tmp_path
    signal.signal(signal.SIGTERM, old_term)


def _import(home: Path, text: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    path = home / "visits.csv"
    path.write_text(text, encoding="utf-8")
    capsys.readouterr()
    code = cli.main(["--database", str(home / "x.db"), "import", str(path)])
    out, err = capsys.readouterr()
    return code, out, err


def _stored(home: Path) -> int:
    async def count() -> int:
        store = await open_store(home / "x.db")
        try:
            return sum((await store.status_counts()).values())
        finally:
            await store.close()
    return asyncio.run(count())


def test_a_misspelt_column_is_refused_with_the_name_it_meant(
        home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _import(home, HEADER.replace("language", "langauge") + "\n" + ROW + "\n",
                             capsys)
    assert code == 2 and out == ""
    assert err.startswith(f"rabta: error: {home / 'visits.csv'}:1: unknown column 'langauge' "
                          f"(did you mean 'language'?); nothing was imported")
    assert "Traceback" not in err
    assert _stored(home) == 0  # fix the header and import again: every row, with its language


def test_a_semicolon_separated_file_is_told_to_use_commas(
        home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _import(home, HEADER.replace(",", ";") + "\n" + ROW.replace(",", ";") + "\n",
                             capsys)
    assert code == 2 and out == ""
    assert err.startswith(f"rabta: error: {home / 'visits.csv'}:1: missing required columns")
    assert "the header looks separated by semicolons (;): Rabta reads comma-separated CSV" in err


def test_an_unclosed_quote_names_its_line(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = ROW.replace("T1,Ali,", 'T2,"Ali,')
    code, out, err = _import(home, "\n".join([HEADER, ROW, broken, ROW.replace("T1", "T3")])
                             + "\n", capsys)
    assert code == 2 and out == ""
    assert err.startswith(f'rabta: error: {home / "visits.csv"}:3: a quote (") opened on this '
                          f"line is never closed")
    assert _stored(home) == 0


def test_a_good_file_still_imports(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _import(home, HEADER + "\n" + ROW + "\n", capsys)
    assert (code, err) == (0, "")
    assert "1 imported, 0 already known, 0 rejected" in out
