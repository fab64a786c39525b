"""`rabta dialplan deploy` on the running PBX with 20 survey calls in flight through the carrier.

A good change (the prompt studio's number added to rabta-inbound) is live after the reload and
no call drops; a change that fails verification (a PJSIP endpoint Asterisk refuses, pushed
with --no-check) is rolled back by itself and the calls go on. Both asserted from the store
(every survey completed with every answer) and the carrier's CDRs (one call per citizen).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
from pathlib import Path

from support import (
    SLOT,
    SURVEY_ANSWERS,
    SURVEY_KEYS,
    Citizen,
    carrier_cdr_counts,
    install_phonebook,
    transactions_for,
    wait_carrier_idle,
)

from ivr import phone, render
from ivr.cli import dialplan as cli_dialplan
from ivr.config import Settings, replace
from ivr.engine import Engine
from ivr.lab import rootfs
from ivr.store import SQLiteStore

N = 20
STUDIO = "4247"


def deploy_args(templates: Path = render.TEMPLATES, no_check: bool = False) -> argparse.Namespace:
    return argparse.Namespace(target="lab", templates=templates, etc=None, sounds=None,
                              no_check=no_check)


async def test_deploys_with_20_calls_in_flight(node_settings: Settings, store: SQLiteStore,
                                               tmp_path: Path) -> None:
    citizens = [Citizen(f"0302{SLOT}7{i:05d}", "answer", SURVEY_KEYS, ring_s="1")
                for i in range(N)]
    install_phonebook(node_settings, citizens)
    txs = transactions_for(citizens, "deploy")
    await store.add_transactions(txs, txs[0].visited_at)
    before = carrier_cdr_counts(node_settings)
    pbx = rootfs.node_for(node_settings).pbx
    engine = Engine(replace(node_settings, max_concurrent=N, calls_per_second=10.0), store)
    await engine.start()
    good = replace(node_settings, studio_number=STUDIO)
    broken = tmp_path / "dialplans"
    shutil.copytree(render.TEMPLATES, broken)
    pj = broken / "common" / "pjsip.conf.tmpl"
    pj.write_text(pj.read_text().replace("dtmf_mode = rfc4733\n", "dtmf_mode = rfc4733\ndtmf_mdoe = x\n", 1))
    dialer = asyncio.create_task(engine.dialer.run(until_idle=True))
    try:
        async with asyncio.timeout(60):
            while engine.calls.in_flight < N:  # noqa: ASYNC110 - a state poll
                await asyncio.sleep(0.1)
        # 1. A good change: checked, written, reloaded, verified, live.
        assert await asyncio.to_thread(cli_dialplan.do_deploy, good, deploy_args()) == 0
        shown = await asyncio.to_thread(rootfs.cli, pbx, f"dialplan show {STUDIO}@rabta-inbound")
        assert "rabta-studio" in shown
        assert engine.calls.in_flight >= N - 2, "calls ended during the reload"
        # 2. A change Asterisk refuses: verification fails, the previous files come back.
        rc = await asyncio.to_thread(cli_dialplan.do_deploy, good, deploy_args(broken, True))
        assert rc == 1
        last = cli_dialplan.history_of(node_settings).all()[-1]
        assert last.result == "rolled back", last
        assert "named 'dtmf_mdoe'" in last.reason  # Asterisk's own words, from its log
        assert "previous files restored and verified" in last.reason
        assert "+dtmf_mdoe = x" in last.diff and "secret =" not in last.diff
        eps = await asyncio.to_thread(rootfs.cli, pbx, "pjsip show endpoints")
        assert f"Endpoint:  {node_settings.trunk}" in eps
        shown = await asyncio.to_thread(rootfs.cli, pbx, f"dialplan show {STUDIO}@rabta-inbound")
        assert "rabta-studio" in shown  # the rollback went to the good change, not further back
        await asyncio.wait_for(dialer, 300)
    finally:
        if not dialer.done():
            dialer.cancel()
        await engine.close()
        # Leave the node as the session started it (no studio number) for the other tests.
        rootfs.render_instance(node_settings, pbx)
        for cmd in ("dialplan reload", "module reload res_pjsip.so", "manager reload"):
            rootfs.cli(pbx, cmd)
    wait_carrier_idle(node_settings)
    after = carrier_cdr_counts(node_settings)
    results = {r["ref"]: r for r in await store.results()}
    problems = []
    for i, c in enumerate(citizens):
        r = results[f"deploy-{i:03d}"]
        digits = phone.digits(phone.normalize(c.number))
        if r["status"] != "completed" or r["answers"] != SURVEY_ANSWERS:
            problems.append(f"{c.number}: {r['status']} {r['answers']}")
        if after[digits] - before.get(digits, 0) != 1 or r["attempts"] != 1:
            problems.append(f"{c.number}: {after[digits] - before.get(digits, 0)} carrier "
                            f"call(s), {r['attempts']} attempt(s)")
    assert not problems, "\n".join(problems)
    history = cli_dialplan.history_of(node_settings).all()
    assert [h.result for h in history[-2:]] == ["live", "rolled back"]
    assert all(h.who and h.when for h in history)
