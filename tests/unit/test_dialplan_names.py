"""Dialplan templates use only declared names, the PBX never dials out, and templates render."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ivr.asterisk import variables as V
from ivr.config import Settings
from ivr.errors import AsteriskSetupError
from ivr.lab import rootfs
from ivr.lab.rootfs import render_template

DIALPLANS = Path(__file__).resolve().parents[2] / "dialplans"
TEMPLATES = sorted(DIALPLANS.rglob("*.tmpl"))
EXTENSIONS = sorted(DIALPLANS.rglob("extensions*.tmpl"))
PBX_EXTENSIONS = DIALPLANS / "pbx" / "extensions.conf.tmpl"

NOT_CONTEXTS = frozenset({"general", "globals"})  # extensions.conf's own settings sections
VARIABLE = re.compile(r"RABTA_[A-Z_]+")
SECTION = re.compile(r"^\[([^\]]+)\]", re.MULTILINE)
REFERENCE = re.compile(r"\b(?:Goto|Gosub|GotoIf)\(([^,()]+),[^,()]+,[^()]+\)", re.IGNORECASE)
DIAL_OUT = re.compile(r"\b(?:Dial|Originate)\s*\(", re.IGNORECASE)


def code(text: str) -> str:
    """Drop ; comments (but keep a quoted \\; as data) so prose never counts as dialplan."""
    return "\n".join(re.split(r"(?<!\\);", line, maxsplit=1)[0] for line in text.splitlines())


def contexts(text: str) -> dict[str, str]:
    """Split an extensions.conf into {context name: its body}, settings sections excluded."""
    parts = SECTION.split(code(text))
    found = dict(zip(parts[1::2], parts[2::2], strict=True))
    return {name: body for name, body in found.items() if name not in NOT_CONTEXTS}


def test_templates_are_found() -> None:
    assert PBX_EXTENSIONS in EXTENSIONS
    assert len(EXTENSIONS) >= 2 and len(TEMPLATES) > len(EXTENSIONS)


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: str(p.relative_to(DIALPLANS)))
def test_variables_are_declared(path: Path) -> None:
    used = set(VARIABLE.findall(path.read_text()))
    assert sorted(used - V.ALL_VARIABLES) == []


@pytest.mark.parametrize("path", EXTENSIONS, ids=lambda p: str(p.relative_to(DIALPLANS)))
def test_contexts_are_declared(path: Path) -> None:
    text = path.read_text()
    names = set(contexts(text))
    assert names, f"{path} defines no context"
    assert sorted(names - V.ALL_CONTEXTS) == []
    referenced = {m.strip() for m in REFERENCE.findall(code(text))}
    assert sorted(referenced - V.ALL_CONTEXTS) == []


def test_the_contexts_the_engine_needs_exist() -> None:
    pbx = set(contexts(PBX_EXTENSIONS.read_text()))
    carrier = set(contexts((DIALPLANS / "carrier" / "extensions.conf.tmpl").read_text()))
    assert {V.CTX_SURVEY, V.CTX_INBOUND} <= pbx
    assert V.CTX_SIM_CITIZENS in carrier
    assert f"${{{V.ATTEMPT}}}" in PBX_EXTENSIONS.read_text()  # the survey AGI gets our id


def test_no_pbx_context_dials_out_but_the_bridge() -> None:
    for name, body in contexts(PBX_EXTENSIONS.read_text()).items():
        if name != V.CTX_BRIDGE:
            assert DIAL_OUT.findall(body) == [], f"context [{name}] can dial out"


def test_the_bridge_is_reached_only_by_originate_and_dials_only_the_checked_variable(
        tmp_path: Path) -> None:
    text = code(PBX_EXTENSIONS.read_text())
    found = contexts(PBX_EXTENSIONS.read_text())
    bridge = found[V.CTX_BRIDGE]
    # Nothing routes to it: no Goto/Gosub/include names it, outside itself.
    for name, body in found.items():
        if name != V.CTX_BRIDGE:
            assert V.CTX_BRIDGE not in body, f"[{name}] leads to the bridge"
    assert not re.search(r"^\s*include\s*=>", text, re.MULTILINE)
    # Calls from the trunk land in rabta-inbound, never in the bridge.
    pjsip = (DIALPLANS / "common" / "pjsip.conf.tmpl").read_text()
    assert "context = {{ inbound_context }}" in pjsip
    (tmp_path / "cache" / "rootfs" / "usr/lib/x86_64-linux-gnu/asterisk/modules").mkdir(parents=True)
    settings = Settings(home=tmp_path / "home", cache=tmp_path / "cache", ami_secret="s3cret")
    values = rootfs.template_values(settings, rootfs.node_for(settings).pbx)
    assert values["inbound_context"] == V.CTX_INBOUND
    # The one Dial dials RABTA_BRIDGE_TO, after checking it is PJSIP/<digits>@<trunk>.
    assert DIAL_OUT.findall(bridge) == ["Dial("]
    assert f"Dial(${{{V.BRIDGE_TO}}}," in bridge
    assert f'REGEX("^PJSIP/[+]?[0-9]+@[A-Za-z0-9_.-]+$" ${{{V.BRIDGE_TO}}})' in bridge
    dial_line = bridge.index("Dial(")
    assert bridge.index("REGEX(") < dial_line


@pytest.mark.parametrize(
    ("text", "dials"),
    [
        ("[rabta-x]\nexten => s,1,Dial(PJSIP/1@carrier)\n", True),
        ("[rabta-x]\nexten => s,1,NoOp()\n same => n,dial (PJSIP/1)\n", True),
        ("[rabta-x]\nexten => s,1,Originate(Local/1@x,exten,a,s,1)\n", True),
        ("[rabta-x]\nexten => s,1,NoOp() ; never Dial(PJSIP/1) here\n", False),
        ("[general]\n[rabta-x]\nexten => s,1,Playback(dialtone)\n", False),
    ],
)
def test_dial_out_detector(text: str, dials: bool) -> None:
    # The checks above are only as good as this detector: show it sees what it must.
    found = any(DIAL_OUT.search(body) for body in contexts(text).values())
    assert found is dials


# ---------------------------------------------------------------------- render_template


@pytest.mark.parametrize(
    ("text", "values", "expected"),
    [
        ("port = {{ sip_port }}", {"sip_port": 5060}, "port = 5060"),
        ("{{sip_port}}/{{  peer  }}", {"sip_port": 1, "peer": "carrier"}, "1/carrier"),
        ("{{ peer }} and {{ peer }}", {"peer": "pbx"}, "pbx and pbx"),
        ("exten => s,1,NoOp(${RABTA_ATTEMPT})", {}, "exten => s,1,NoOp(${RABTA_ATTEMPT})"),
        ("no placeholders", {"unused": "x"}, "no placeholders"),
        ("a = {{ empty }};", {"empty": ""}, "a = ;"),
    ],
)
def test_render_template_replaces(text: str, values: dict[str, object], expected: str) -> None:
    assert render_template(text, values) == expected


def test_render_template_unknown_key_names_template_and_key() -> None:
    with pytest.raises(AsteriskSetupError) as err:
        render_template("a {{ sip_port }} b {{ sip_prot }}", {"sip_port": 5060}, "pjsip.conf.tmpl")
    assert "pjsip.conf.tmpl" in str(err.value)
    assert "sip_prot" in str(err.value)


@pytest.mark.parametrize("text", ["{{ Agi_url }}", "{{ rtp_start2 }}", "{{ agi-url }}"])
def test_render_template_refuses_malformed_placeholder(text: str) -> None:
    with pytest.raises(AsteriskSetupError):
        render_template(text, {"agi_url": "agi://127.0.0.1:4573", "rtp_start": 10000})


@pytest.mark.parametrize("role", ["pbx", "carrier"])
def test_every_real_template_renders_completely(tmp_path: Path, role: str) -> None:
    (tmp_path / "cache" / "rootfs" / "usr/lib/x86_64-linux-gnu/asterisk/modules").mkdir(parents=True)
    settings = Settings(home=tmp_path / "home", cache=tmp_path / "cache", ami_secret="s3cret")
    node = rootfs.node_for(settings)
    inst = node.pbx if role == "pbx" else node.carrier
    values = rootfs.template_values(settings, inst)
    for src in sorted((DIALPLANS / "common").glob("*.tmpl")) + sorted((DIALPLANS / role).glob("*.tmpl")):
        out = render_template(src.read_text(), values, src.name)
        assert "{{" not in out and "}}" not in out, src.name
