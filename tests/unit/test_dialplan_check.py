"""`rabta dialplan check`'s static catches, each on a broken copy of the shipped templates.

Each test breaks one thing and asserts the check names it; the shipped templates pass clean.
(The throw-away Asterisk's catches are in tests/integration/test_dialplan_check.py.)
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ivr import dialplan_check as C
from ivr import render
from ivr.asterisk import variables as V
from ivr.cli import dialplan as cli_dialplan
from ivr.config import Settings


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    """A private copy of dialplans/ for a test to break."""
    dest = tmp_path / "dialplans"
    shutil.copytree(render.TEMPLATES, dest)
    return dest


def settings(tmp_path: Path, **kw: object) -> Settings:
    return Settings(home=tmp_path / "home", cache=tmp_path / "none", ami_secret="s" * 24,
                    **kw)  # type: ignore[arg-type]


def edit(templates: Path, rel: str, old: str, new: str) -> None:
    path = templates / rel
    text = path.read_text()
    assert old in text, f"{rel} no longer holds {old!r}: update the test"
    path.write_text(text.replace(old, new, 1))


def check(tmp_path: Path, templates: Path, prompts_there: bool = True, **kw: object) -> list[C.Finding]:
    sounds = tmp_path / "sounds"
    if prompts_there:
        for lang in ("ur", "pa", "en"):
            (sounds / lang / "rabta").mkdir(parents=True, exist_ok=True)
            (sounds / lang / "rabta" / "inbound-notice.wav").write_bytes(b"RIFF")
    return cli_dialplan.run_check(settings(tmp_path, **kw), "dedicated", templates, sounds,
                                  load=False)


def high(findings: list[C.Finding]) -> str:
    return "\n".join(f.what for f in findings if f.severity == C.HIGH)


@pytest.mark.parametrize("studio", ["", "4242"])
def test_the_shipped_templates_pass(tmp_path: Path, templates: Path, studio: str) -> None:
    assert check(tmp_path, templates, studio_number=studio) == []


def test_an_undefined_placeholder_is_caught(tmp_path: Path, templates: Path) -> None:
    edit(templates, "pbx/extensions.conf.tmpl", "AGI({{ agi_script }}", "AGI({{ agi_scritp }}")
    found = high(check(tmp_path, templates))
    assert "agi_scritp" in found and "extensions.conf.tmpl" in found


def test_a_missing_context_is_caught(tmp_path: Path, templates: Path) -> None:
    edit(templates, "pbx/extensions.conf.tmpl", f"[{V.CTX_SURVEY}]", "[rabta-surveys]")
    assert f"missing context [{V.CTX_SURVEY}]" in high(check(tmp_path, templates))


def test_an_endpoint_context_that_does_not_exist_is_caught(tmp_path: Path, templates: Path) -> None:
    edit(templates, "pbx/extensions.conf.tmpl", f"[{V.CTX_INBOUND}]", "[rabta-incoming]")
    found = high(check(tmp_path, templates))
    assert f"context '{V.CTX_INBOUND}' is not defined" in found


def test_inbound_reaching_dial_through_an_include_is_caught(tmp_path: Path, templates: Path) -> None:
    edit(templates, "pbx/extensions.conf.tmpl", f"[{V.CTX_INBOUND}]\n",
         f"[{V.CTX_INBOUND}]\ninclude => rabta-extra\n")
    (templates / "pbx" / "extensions.conf.tmpl").write_text(
        (templates / "pbx" / "extensions.conf.tmpl").read_text()
        + "\n[rabta-extra]\nexten => _00X.,1,Dial(PJSIP/${EXTEN}@{{ peer }})\n")
    found = high(check(tmp_path, templates))
    assert "toll fraud: [rabta-extra] _00X." in found
    assert "which includes [rabta-extra]" in found


def test_inbound_reaching_the_bridge_through_a_goto_is_caught(tmp_path: Path, templates: Path) -> None:
    edit(templates, "pbx/extensions.conf.tmpl", f"[{V.CTX_INBOUND}]\n",
         f"[{V.CTX_INBOUND}]\nexten => 999,1,Goto({V.CTX_BRIDGE},s,1)\n")
    found = high(check(tmp_path, templates))
    assert f"toll fraud: [{V.CTX_BRIDGE}] s" in found and "Goto" in found


def test_a_gotoif_branch_and_a_pattern_match_are_followed(tmp_path: Path, templates: Path) -> None:
    edit(templates, "pbx/extensions.conf.tmpl", f"[{V.CTX_INBOUND}]\n",
         f"[{V.CTX_INBOUND}]\nexten => 7,1,GotoIf($[1=1]?rabta-menu,5551234,1:rabta-menu,s,1)\n")
    (templates / "pbx" / "extensions.conf.tmpl").write_text(
        (templates / "pbx" / "extensions.conf.tmpl").read_text()
        + "\n[rabta-menu]\nexten => s,1,Playback(rabta/inbound-notice)\n"
          "exten => _555XXXX,1,Queue(sales)\nexten => _9.,1,Dial(PJSIP/1@x)\n")
    found = high(check(tmp_path, templates))
    assert "[rabta-menu] _555XXXX" in found and "Queue" in found
    assert "_9." not in found  # 5551234 never matches _9.: the walk follows patterns


def test_a_jump_to_a_context_chosen_at_run_time_cannot_be_proven_safe(
        tmp_path: Path, templates: Path) -> None:
    edit(templates, "pbx/extensions.conf.tmpl", f"[{V.CTX_INBOUND}]\n",
         f"[{V.CTX_INBOUND}]\nexten => 8,1,Goto(${{CALLERID(num)}},s,1)\n")
    assert "chosen at run time" in high(check(tmp_path, templates))


def test_a_bridge_that_dials_without_the_check_is_caught(tmp_path: Path, templates: Path) -> None:
    edit(templates, "pbx/extensions.conf.tmpl", "GotoIf(${REGEX(", "GotoIf(${ISNULL(")
    assert "without first checking" in high(check(tmp_path, templates))


def test_a_missing_prompt_is_caught(tmp_path: Path, templates: Path) -> None:
    edit(templates, "pbx/extensions.conf.tmpl", "Playback(rabta/inbound-notice)",
         "Playback(rabta/inbound-notise)")
    found = high(check(tmp_path, templates))
    assert "'rabta/inbound-notise', which is not installed" in found


def test_prompts_missing_from_the_pbx_are_caught(tmp_path: Path, templates: Path) -> None:
    assert "rabta/inbound-notice" in high(check(tmp_path, templates, prompts_there=False))


@pytest.mark.parametrize(("pattern", "exten", "ok"), [
    ("_X.", "123", True), ("_X.", "", False), ("_NXX", "212", True), ("_NXX", "112", False),
    ("_[13-5]X", "42", True), ("_[13-5]X", "22", False), ("s", "s", True), ("_9!", "9", True),
    ("_+X.", "+92300", True), ("_ZX", "05", False),
])
def test_pattern_matching(pattern: str, exten: str, ok: bool) -> None:
    assert C.pattern_matches(pattern, exten) is ok


def test_include_loops_end() -> None:
    ctxs = C.parse_extensions("[a]\ninclude => b\nexten => s,1,NoOp()\n[b]\ninclude => a\n"
                              "exten => s,1,Goto(a,s,1)\n")
    assert C.toll_fraud(ctxs, ["a"]) == []


def test_execif_and_system_are_seen() -> None:
    ctxs = C.parse_extensions("[in]\nexten => s,1,ExecIf($[1]?Dial(PJSIP/1@x))\n"
                              "exten => 2,1,Set(X=${SHELL(id)})\n")
    found = "\n".join(f.what for f in C.toll_fraud(ctxs, ["in"]))
    assert "Dial" in found and "SHELL" in found
