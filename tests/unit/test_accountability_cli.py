"""`rabta report monthly`: the same figures as the JSON API, as PDF, HTML or JSON; bad input is a
clear error; `rabta report --by` is unchanged."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from resultsdata import made_up

from ivr import cli
from ivr.store import open_store

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("seeded") / "x.db"

    async def seed() -> None:
        store = await open_store(path)
        await made_up(store, NOW)  # four weeks of November 2026
        await store.close()
    asyncio.run(seed())
    return path


@pytest.fixture
def db(seeded: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for var in [v for v in os.environ if v.startswith("RABTA_")]:
        monkeypatch.delenv(var)
    monkeypatch.setenv("RABTA_HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    old_term = signal.getsignal(signal.SIGTERM)
    shutil.copyfile(seeded, tmp_path / "x.db")
    yield tmp_path / "x.db"
    signal.signal(signal.SIGTERM, old_term)


def rabta(db: Path, *args: str) -> int:
    return cli.main(["--database", str(db), *args])


def test_monthly_json_html_and_pdf(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert rabta(db, "report", "monthly", "--month", "2026-11", "--format", "json") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["month"] == "2026-11" and data["total"]["transactions"] > 1000
    assert rabta(db, "report", "monthly", "--month", "2026-11", "--district", "Lahore",
                 "--format", "html", "-o", "l.html") == 0
    html = (db.parent / "l.html").read_text()
    assert "district Lahore" in html and "Multan" not in html
    assert rabta(db, "report", "monthly", "--month", "2026-11") == 0
    assert (db.parent / "rabta-2026-11-province.pdf").read_bytes().startswith(b"%PDF-")
    assert "wrote rabta-2026-11-province.pdf" in capsys.readouterr().err


@pytest.mark.parametrize(("args", "says"), [
    (["--month", "2026-13"], "month"), (["--month", "Nov"], "month"),
    (["--month", "2026-11", "--format", "docx"], "invalid choice")])
def test_bad_input_is_a_clear_error(db: Path, capsys: pytest.CaptureFixture[str],
                                    args: list[str], says: str) -> None:
    try:
        code = rabta(db, "report", "monthly", *args)
    except SystemExit as exc:  # argparse's own refusal
        code = int(exc.code or 0)
    assert code == 2
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err


def test_report_by_is_unchanged(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert rabta(db, "report", "--by", "district", "--format", "json") == 0
    assert "Lahore" in capsys.readouterr().out
