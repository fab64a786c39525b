"""Integration: the simulated citizen's line stays alive as a real phone's does.

The PBX ends a call 15 s after the last RTP it received from the peer (`rtp_timeout`), so a
citizen who vanished does not hold a line. A real handset sends RTP all the time; the carrier
simulator's citizens send none while they listen, so before they kept their line alive one
call in a few hundred was cut at exactly 15 s (docs/BENCHMARKS.md, the knee). Here a citizen
answers, confirms the visit, then listens without pressing anything and hangs up after 35 s:
the carrier's CDR must show the call lasting until the citizen hung up, not cut 15 s after its
last key. (The PBX starts that clock at the first RTP it receives, here the key that confirms
the visit.)
"""

from __future__ import annotations

import csv

from support import Citizen, install_phonebook, run_until_idle, transactions_for, wait_carrier_idle

from ivr.config import Settings
from ivr.lab import rootfs
from ivr.store import SQLiteStore

NUMBER = "03005559901"


def billsec_of(settings: Settings, number: str) -> list[int]:
    """The billed seconds of every call the carrier received for number (its CDRs)."""
    carrier = rootfs.node_for(settings).carrier
    path = carrier.host_path(f"{carrier.log_dir}/cdr-csv/Master.csv")
    rows = csv.reader(path.read_text().splitlines()) if path.exists() else []
    return [int(r[13]) for r in rows if len(r) > 13 and r[2].endswith(number[1:])]


async def test_a_silent_listener_is_not_cut_by_rtp_timeout(node_settings: Settings,
                                                         store: SQLiteStore) -> None:
    citizen = Citizen(NUMBER, "answer", "s1", hangup_s="35")
    install_phonebook(node_settings, [citizen])
    before = len(billsec_of(node_settings, NUMBER))  # the carrier's CDRs outlive a test run
    txs = transactions_for([citizen], "line")
    assert await store.add_transactions(txs, txs[0].visited_at) == (1, 0)
    # One attempt only: the call itself is what is measured.
    await run_until_idle(node_settings, store, timeout=180, partial_callbacks=0)
    wait_carrier_idle(node_settings)
    seconds = billsec_of(node_settings, NUMBER)[before:]
    assert seconds, "the carrier saw no call"
    assert min(seconds) >= 32, f"the call was cut after {seconds} s (rtp_timeout is 15 s)"
