"""The phone prompt studio on the real Asterisk: a supervisor calls the studio number, enters a
PIN, picks English and prompt 1 (greeting), speaks after the beep, listens and keeps the take.

How the call gets in: the carrier simulator places it toward the PBX with its own CLI,
`channel originate PJSIP/<studio number>@pbx extension <n>@rabta-sim-citizens`. The carrier's
leg to the PBX, once answered, runs extension <n> of the phone book context, written here as
a scripted supervisor (WaitForSilence = wait for the menu to end, SendDTMF = keys, Playback =
speech), so the PBX hears real RTP speech and RFC 4733 DTMF from its trunk, as from a phone.
The studio number is set for this test only: the PBX's dialplan is rendered with it and
reloaded, and rendered back without it at the end.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from datetime import UTC, datetime

import pytest
from argon2 import PasswordHasher
from support import wait_carrier_idle

from ivr import accounts
from ivr.accounts import Role, hash_password
from ivr.asterisk import variables as V
from ivr.config import Settings, replace
from ivr.engine import Engine
from ivr.lab import rootfs
from ivr.store import SQLiteStore
from ivr.studio import Source, VersionStatus

STUDIO = "4242"
SUPERVISOR_EXTEN = "900001"
WAIT = "WaitForSilence(700,1,45)"
SCRIPT = [
    "NoOp(studio supervisor)", WAIT,  # "Prompt studio. Enter your PIN..."
    "SendDTMF(4321#,250)", WAIT,  # the language menu
    "SendDTMF(3,250)", WAIT,  # "Enter the number of the prompt..."
    "SendDTMF(1#,250)", WAIT,  # prompt 1 as played now, "Speak after the beep", the beep
    "Playback(rabta/greeting)",  # the supervisor speaks (the carrier's English greeting)
    "SendDTMF(#,250)", WAIT,  # the take played back, then "To keep it press 1..."
    "SendDTMF(1,250)", WAIT,  # "Saved as a draft", then the prompt menu again
    "Hangup(16)",
]


def _seconds(path: str) -> float:
    out = subprocess.run(["sox", "--i", "-D", path], capture_output=True, text=True, check=True)
    return float(out.stdout)


def _rms(path: str) -> float:
    out = subprocess.run(["sox", path, "-n", "stat"], capture_output=True, text=True,
                         check=True).stderr
    line = next(x for x in out.splitlines() if x.startswith("RMS     amplitude"))
    return float(line.split(":")[1])


async def test_a_supervisor_records_a_prompt_by_phone(node_settings: Settings, store: SQLiteStore,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    # a light argon2: the PIN check must not leave a silence the scripted caller takes for
    # the end of a menu (real PINs use the full parameters; verifying reads them from the hash)
    monkeypatch.setattr(accounts, "_hasher", PasswordHasher(time_cost=1, memory_cost=64,
                                                            parallelism=1))
    assert await store.add_user("sana", hash_password("a long password here"),
                                Role.SUPERVISOR, (), datetime.now(UTC)) is not None
    await store.set_user_pin("sana", hash_password("4321"))
    node = rootfs.node_for(node_settings)
    rootfs.render_instance(replace(node_settings, studio_number=STUDIO), node.pbx)
    rootfs.cli(node.pbx, "dialplan reload")
    lines = [f"exten => {SUPERVISOR_EXTEN},1,{SCRIPT[0]}", *(f" same => n,{s}" for s in SCRIPT[1:])]
    rootfs.install_phonebook(node.carrier, "\n".join(lines) + "\n")
    engine = Engine(node_settings, store)
    await engine.start()
    try:
        shown = rootfs.cli(node.pbx, f"dialplan show {STUDIO}@{V.CTX_INBOUND}")
        assert f"Goto({V.CTX_STUDIO},s,1)" in shown
        rootfs.cli(node.carrier, f"channel originate PJSIP/{STUDIO}@pbx "
                                 f"extension {SUPERVISOR_EXTEN}@{V.CTX_SIM_CITIZENS}")
        deadline = time.monotonic() + 150
        versions = []
        while time.monotonic() < deadline and not versions:
            await asyncio.sleep(1)
            versions = await store.prompt_versions()
        await asyncio.to_thread(wait_carrier_idle, node_settings, 90)
    finally:
        await engine.close()
        rootfs.render_instance(node_settings, node.pbx)
        rootfs.cli(node.pbx, "dialplan reload")
    assert len(versions) == 1, "no version was recorded by phone"
    (v,) = versions
    assert (v.prompt, v.language, v.source, v.status, v.created_by) == (
        "greeting", "en", Source.PHONE, VersionStatus.DRAFT, "sana")
    assert _rms(v.file) > 0.01, "the take is silent"
    assert _seconds(v.file) > 1.0  # seconds of speech, not a click
    actions = [e["action"] for e in await store.audit_entries()]
    assert "studio_login" in actions and "prompt_version_add" in actions
    assert "studio_pin_wrong" not in actions
