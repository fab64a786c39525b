"""ivr.deploy against a scripted admin channel: live, rolled back (by Asterisk's log or by what
is loaded), refused; every deploy kept with who, when, the diff (secrets masked), the result."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

from ivr import deploy

GOOD = {"extensions.conf": "[rabta-survey]\nexten => s,1,NoOp()\n[rabta-inbound]\nexten => s,1,Hangup()\n",
        "pjsip.conf": "[carrier]\ntype = endpoint\ncontext = rabta-inbound\n",
        "manager.conf": "[general]\nenabled = yes\n[rabta]\nsecret = s3cret-value\n"}


class FakeNode:
    """A node whose reload loads what the files say, unless told to refuse a part."""

    name = "fake-pbx"

    def __init__(self, files: Mapping[str, str], refuse_log: str = "", drop_endpoint: bool = False) -> None:
        self.files = dict(files)
        self.refuse_log = refuse_log
        self.drop_endpoint = drop_endpoint
        self.log = ""
        self.commands: list[str] = []

    def read(self, names: Iterable[str]) -> dict[str, str]:
        return {n: self.files[n] for n in names if n in self.files}

    def write(self, files: Mapping[str, str]) -> None:
        self.files.update(files)

    def command(self, command: str) -> str:
        self.commands.append(command)
        if command == "module reload res_pjsip.so" and "BROKEN" in self.files["pjsip.conf"]:
            self.log += self.refuse_log
        if command.startswith("dialplan show "):
            ctx = command.split()[-1]
            return f"[ Context '{ctx}' created by 'pbx_config' ]" if f"[{ctx}]" in self.files[
                "extensions.conf"] else f"There is no existence of '{ctx}' context"
        if command == "pjsip show endpoints":
            if self.drop_endpoint and "BROKEN" in self.files["pjsip.conf"]:
                return ""
            return " Endpoint:  carrier    Not in use   0 of inf\n"
        if command.startswith("manager show user"):
            return "          username: rabta\n"
        return ""

    def log_mark(self) -> int:
        return len(self.log)

    def log_since(self, mark: int) -> str:
        return self.log[mark:]


NEEDED = ["rabta-survey", "rabta-inbound"]


def test_a_good_change_is_live_and_kept(tmp_path: Path) -> None:
    node = FakeNode(GOOD)
    history = deploy.History(tmp_path / "deploys")
    new = dict(GOOD, **{"extensions.conf": GOOD["extensions.conf"] + "exten => 4242,1,NoOp()\n"})
    rec = deploy.apply(node, new, history, needed=NEEDED)
    assert rec.result == "live" and rec.id == 1 and rec.who and rec.when
    assert "+exten => 4242,1,NoOp()" in rec.diff
    assert node.commands[:3] == list(deploy.RELOADS)
    assert history.get(1)[1] == new  # the files themselves are kept, for rollback


@pytest.mark.parametrize("how", ["log", "missing"])
def test_a_change_that_fails_verification_is_rolled_back(tmp_path: Path, how: str) -> None:
    line = ("[2026-12-02 20:00:00] ERROR[123] config_options.c: Could not find option suitable "
            "for category 'carrier' named 'dtmf_mdoe' at line 4 of\n")
    node = FakeNode(GOOD, refuse_log=line if how == "log" else "", drop_endpoint=how == "missing")
    bad = dict(GOOD, **{"pjsip.conf": GOOD["pjsip.conf"] + "dtmf_mdoe = BROKEN\n",
                        "manager.conf": GOOD["manager.conf"].replace("s3cret-value", "other-secret")})
    rec = deploy.apply(node, bad, deploy.History(tmp_path), needed=NEEDED)
    assert rec.result == "rolled back"
    assert ("named 'dtmf_mdoe'" if how == "log" else "endpoint carrier is not loaded") in rec.reason
    assert "previous files restored and verified" in rec.reason
    assert node.files == GOOD  # the previous files are back on the node
    assert node.commands.count("dialplan reload") == 2
    assert "s3cret-value" not in rec.diff and "other-secret" not in rec.diff  # masked


def test_a_refused_change_is_kept_but_never_written(tmp_path: Path) -> None:
    node = FakeNode(GOOD)
    rec = deploy.apply(node, {"extensions.conf": "x"}, deploy.History(tmp_path), needed=NEEDED,
                       refused="check found 1 high finding(s)")
    assert rec.result == "refused" and node.files == GOOD and node.commands == []


def test_history_names_what_it_keeps(tmp_path: Path) -> None:
    from ivr.errors import InputError

    history = deploy.History(tmp_path)
    deploy.apply(FakeNode(GOOD), GOOD, history, needed=NEEDED)
    assert [r.result for r in history.all()] == ["live"]
    with pytest.raises(InputError, match="no deploy 7 \\(kept: 1\\)"):
        history.get(7)
