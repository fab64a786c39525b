"""The `rabta` data commands in-process: import, report, export (no Asterisk needed)."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import os
import signal
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ivr import cli
from ivr.models import TxStatus
from ivr.store import open_store

DEMO_CSV = Path(__file__).resolve().parents[2] / "demo" / "transactions.csv"
EXPORT_HEAD = ["office", "ref", "status", "attempts", "last_outcome", "answers"]


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
       ) -> Iterator[Path]:
    """An isolated RABTA_HOME and cwd; returns the database path to pass as --database."""
    for var in [v for v in os.environ if v.startswith("RABTA_")]:
        monkeypatch.delenv(var)
    monkeypatch.setenv("RABTA_HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    old_term = signal.getsignal(signal.SIGTERM)  # main() installs its own SIGTERM handler
    yield tmp_path / "x.db"
    signal.signal(signal.SIGTERM, old_term)


def rabta(db: Path, *args: str) -> int:
    return cli.main(["--database", str(db), *args])


def imported(db: Path) -> None:
    assert rabta(db, "import", str(DEMO_CSV)) == 2


def answer_one(db: Path, office: str, ref: str, answers: dict[str, str]) -> None:
    """Play one call through the store: claim the oldest due transaction (must be office/ref)."""

    async def go() -> None:
        store = await open_store(db)
        try:
            now = datetime.now(UTC)
            target = await store.transaction(office, ref)
            [attempt] = await store.claim_due(now, 1)
            assert target is not None and attempt.transaction_id == target.id
            await store.survey_started(attempt.id, now)
            for q, v in answers.items():
                await store.save_answer(attempt.id, q, v, now)
            assert await store.finish_call(attempt.id, TxStatus.COMPLETED, now)
        finally:
            await store.close()

    asyncio.run(go())


# ---------------------------------------------------------------------- import


def test_import_keeps_good_rows_and_names_the_bad_one(db: Path, capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    assert rabta(db, "import", str(DEMO_CSV)) == 2

    out, err = capsys.readouterr()
    assert f"{DEMO_CSV}: 30 imported, 0 already known, 1 rejected" in out
    assert f"{DEMO_CSV}:32: mobile:" in err
    assert "0421234567" not in err  # the rejected number is masked in the message
    assert db.is_file()


def test_import_again_is_idempotent(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    imported(db)
    capsys.readouterr()

    assert rabta(db, "import", str(DEMO_CSV)) == 2

    out, _ = capsys.readouterr()
    assert "0 imported, 30 already known" in out


def test_import_missing_file_is_an_error_not_a_traceback(
        db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert rabta(db, "import", str(tmp_path / "nope.csv")) == 2
    _, err = capsys.readouterr()
    assert err.startswith("rabta: error: ") and "nope.csv" in err


# ---------------------------------------------------------------------- report


def test_report_by_district_json(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    imported(db)
    capsys.readouterr()

    assert rabta(db, "report", "--by", "district", "--format", "json") == 0

    rows = json.loads(capsys.readouterr().out)
    *groups, total = rows
    assert total["district"] == "TOTAL"
    assert (total["transactions"], total["pending"], total["completed"]) == (30, 30, 0)
    assert sum(g["transactions"] for g in groups) == 30
    assert {"Lahore", "Faisalabad", "Gujranwala"} <= {g["district"] for g in groups}


def test_report_counts_an_answered_call(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    imported(db)
    answer_one(db, "Police Station Gulberg", "T1001", {"rating": "4", "bribe": "1"})
    capsys.readouterr()

    assert rabta(db, "report", "--by", "district", "--format", "json") == 0

    total = json.loads(capsys.readouterr().out)[-1]
    assert (total["transactions"], total["completed"], total["answered"]) == (30, 1, 1)
    # One answer is below min_responses: counted, but no figure (as on the dashboard).
    assert (total["responses"], total["bribe_rate"]["n"]) == (1, 1)
    assert total["suppressed"] and total["mean_rating"] is None
    assert total["satisfaction"]["value"] is None and total["bribe_rate"]["value"] is None


# ---------------------------------------------------------------------- export


def test_export_csv(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    imported(db)
    answer_one(db, "Police Station Gulberg", "T1001", {"rating": "4", "bribe": "2"})
    capsys.readouterr()

    assert rabta(db, "export", "--format", "csv") == 0

    out = capsys.readouterr().out
    header, *rows = list(csv.reader(io.StringIO(out)))
    assert header[:6] == EXPORT_HEAD
    assert len(rows) == 30
    by_ref = {r[1]: dict(zip(header, r, strict=True)) for r in rows}
    for row in by_ref.values():
        assert isinstance(json.loads(row["answers"]), dict)
    done = by_ref["T1001"]
    assert json.loads(done["answers"]) == {"rating": "4", "bribe": "2"}
    assert (done["office"], done["status"], done["attempts"], done["last_outcome"]) == (
        "Police Station Gulberg", "completed", "1", "answered")
    assert (by_ref["T1002"]["status"], by_ref["T1002"]["answers"]) == ("pending", "{}")


def test_export_jsonl(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    imported(db)
    answer_one(db, "Police Station Gulberg", "T1001", {"rating": "5"})
    capsys.readouterr()

    assert rabta(db, "export", "--format", "jsonl") == 0

    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 30
    records = [json.loads(line) for line in lines]
    for rec in records:
        assert list(rec)[:6] == EXPORT_HEAD
        assert isinstance(rec["answers"], dict)
    [done] = [r for r in records if r["ref"] == "T1001"]
    assert (done["status"], done["attempts"], done["answers"]) == ("completed", 1, {"rating": "5"})


def test_export_to_file(db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    imported(db)
    capsys.readouterr()
    assert rabta(db, "export", "--format", "csv") == 0
    expected = capsys.readouterr().out
    target = tmp_path / "out" / "results.csv"
    target.parent.mkdir()
    target.write_text("old export\n")

    assert rabta(db, "export", "--format", "csv", "-o", str(target)) == 0

    out, err = capsys.readouterr()
    assert out == ""
    assert f"wrote {target}" in err
    assert target.read_text(encoding="utf-8") == expected
    assert sorted(p.name for p in target.parent.iterdir()) == ["results.csv"]  # no .part left


def test_failed_export_leaves_the_old_file_alone(
        db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"this is not a SQLite database" * 100)
    target = tmp_path / "results.csv"
    target.write_text("old export\n")

    assert cli.main(["--database", str(broken), "export", "-o", str(target)]) == 2

    assert "rabta: error:" in capsys.readouterr().err
    assert target.read_text() == "old export\n"
    assert not target.with_name("results.csv.part").exists()


def test_stdout_is_looked_up_when_writing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Output goes to sys.stdout as it is at call time (an import-time default would not)."""
    monkeypatch.setenv("RABTA_HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    old_term = signal.getsignal(signal.SIGTERM)
    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf):
            rc = cli.main(["--database", str(tmp_path / "x.db"), "export", "--format", "csv"])
    finally:
        signal.signal(signal.SIGTERM, old_term)
    assert rc == 0
    assert buf.getvalue().startswith(",".join(EXPORT_HEAD))


def test_json_log_lines_are_one_object_each(capsys: pytest.CaptureFixture[str]) -> None:
    import logging

    from ivr.cli import JSONFormatter

    record = logging.LogRecord("scheduler.dialer", logging.INFO, __file__, 1,
                               "attempt %d to %s: %s", (7, "+92300*****67", "busy"), None)
    line = JSONFormatter().format(record)
    entry = json.loads(line)
    assert "\n" not in line
    assert (entry["level"], entry["logger"], entry["message"]) == (
        "info", "scheduler.dialer", "attempt 7 to +92300*****67: busy")
    assert entry["time"].endswith("+00:00")
