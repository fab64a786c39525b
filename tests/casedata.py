"""Sample corruption reports for the cases tests, browser tests and screenshots.

Each report is a transaction with one answered attempt and the answers a real survey stores:
`rating`, `bribe` = "1", and a recorded complaint whose value is a path inside the PBX's rootfs
(as ivr/flows/survey.py writes it), backed by a real 8 kHz WAV file like Asterisk's.
"""

from __future__ import annotations

import math
import struct
import wave
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from storehelpers import sql, value

from ivr import phone
from ivr.models import Transaction
from ivr.store import SQLiteStore
from ivr.store.sqlite import ts

SPOOL = "/var/spool/rabta/rabta-pbx"  # the PBX instance's spool dir inside the rootfs


@dataclass(frozen=True)
class Report:
    """One transaction seeded by `seed`."""

    id: int
    ref: str
    service: str
    district: str
    mobile: str
    bribe: bool
    recording_answer: int | None  # answer id of the complaint recording


def write_wav(path: Path, seconds: float = 2.0, rate: int = 8000) -> None:
    """Write a mono 16-bit WAV tone, the format Asterisk's Record() writes for .wav."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate)))
                      for i in range(int(seconds * rate)))
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(frames)


ROWS = [  # ref, service, district, bribe, recorded
    ("LHR-101", "Domicile", "Lahore", True, True),
    ("LHR-102", "Pension", "Lahore", True, False),
    ("MUL-201", "Domicile", "Multan", True, True),
    ("MUL-202", "Police", "Multan", True, False),
    ("SKT-301", "Police", "Sialkot", True, False),
    ("LHR-103", "Domicile", "Lahore", False, False),  # no bribe: not a report
]


async def seed(store: SQLiteStore, rootfs: Path, now: datetime) -> list[Report]:
    """Add the sample transactions, attempts, answers and recordings; return them."""
    txs = [Transaction(office=f"DC Office {district}", ref=ref, name="Citizen " + ref,
                       mobile=phone.normalize(f"0300{1000000 + i:07d}"), service=service,
                       district=district, official=f"official-{i % 3}",
                       visited_at=now - timedelta(hours=30 - i), language="ur")
           for i, (ref, service, district, _b, _r) in enumerate(ROWS)]
    await store.add_transactions(txs, now)
    out = []
    # test data: written as the survey would, without running one
    for tx, (ref, service, district, bribe, recorded) in zip(txs, ROWS, strict=True):
        stored = await store.transaction(tx.office, ref)
        assert stored is not None and stored.id is not None
        at = ts(now - timedelta(hours=2))
        attempt = await value(
            store, "INSERT INTO attempts (transaction_id, number, node, started_at, answered_at, "
            "ended_at, outcome, result) VALUES (?, ?, 'rabta-pbx', ?, ?, ?, 'answered', "
            "'completed') RETURNING id", (stored.id, tx.mobile, at, at, at))
        answers = [("rating", "2"), ("bribe", "1" if bribe else "2")]
        if bribe:
            answers.append(("bribe_amount", "3"))
        recording = f"{SPOOL}/rabta-{attempt}-complaint.wav"
        if recorded:
            answers.append(("complaint", recording))
            write_wav(rootfs / recording.lstrip("/"))
        rec_id = None
        for question, answer in answers:
            answer_id = await value(
                store, "INSERT INTO answers (attempt_id, transaction_id, question, value, "
                "answered_at) VALUES (?, ?, ?, ?, ?) RETURNING id",
                (attempt, stored.id, question, answer, at))
            if question == "complaint":
                rec_id = answer_id
        await sql(store, "UPDATE transactions SET status = 'completed' WHERE id = ?",
                  (stored.id,))
        out.append(Report(stored.id, ref, service, district, tx.mobile, bribe, rec_id))
    return out
