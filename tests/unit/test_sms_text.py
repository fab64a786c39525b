"""SMS text and replies: alphabets, part counts, template checks, what a reply means."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.errors import ConfigError
from ivr.sms import replies
from ivr.sms import text as t
from ivr.sms.gateway import DLR_MASK, KannelGateway, Outgoing, dlr_state


@pytest.mark.parametrize(("text", "enc", "units", "parts"), [
    ("", t.GSM7, 0, 1),
    ("a" * 160, t.GSM7, 160, 1),
    ("a" * 161, t.GSM7, 161, 2),
    ("a" * 306, t.GSM7, 306, 2),
    ("a" * 307, t.GSM7, 307, 3),
    ("€" * 80, t.GSM7, 160, 1),          # extension table: two septets each
    ("€" * 81, t.GSM7, 162, 2),
    ("£@ΔΩ", t.GSM7, 4, 1),
    ("ش" * 70, t.UCS2, 70, 1),
    ("ش" * 71, t.UCS2, 71, 2),
    ("ش" * 134, t.UCS2, 134, 2),
    ("ش" * 135, t.UCS2, 135, 3),
    ("ش" * 300, t.UCS2, 300, 5),
    ("a" * 69 + "ش", t.UCS2, 70, 1),     # one Urdu letter makes all of it UCS-2
    ("`", t.UCS2, 1, 1),                 # not in GSM 03.38
    ("😀", t.UCS2, 2, 1),                # outside the BMP: a surrogate pair, two units
])
def test_alphabet_units_and_parts(text: str, enc: str, units: int, parts: int) -> None:
    assert (t.encoding(text), t.units(text), t.parts(text)) == (enc, units, parts)
    assert t.kannel_coding(text) == (0 if enc == t.GSM7 else 2)


GOOD = """max_parts = 2
[notice]
en = "Visit to {office} on {date}"
ur = "{office} کا دورہ"
[thanks]
en = "Thanks"
[case]
en = "Case {case}"
[outcome]
en = "Case {case}: {action}"
[survey]
en = "Rate 1-5"
[actions.en]
warning = "a warning"
"""


def test_a_good_file_loads_and_renders() -> None:
    templates, problems = t.check_text(GOOD, "m.toml")
    assert problems == [] and templates is not None
    assert templates.text("notice", "ur", {"office": "X"}) == "X کا دورہ"
    assert templates.text("thanks", "pa", {}) == "Thanks"  # English is the fallback
    assert templates.action_name("warning", "ur") == "a warning"
    assert templates.action_name("transfer", "en") == "transfer"


@pytest.mark.parametrize(("change", "problem"), [
    (("Visit to {office} on {date}", "Visit to {ofice}"),
     "m.toml:3: [notice] en: unknown placeholder {ofice}"),
    (('en = "Thanks"', 'en = "Thanks {case} {"'), "m.toml:6: [thanks] en: Single '{'"),
    (('en = "Rate 1-5"', 'en = "' + "x" * 307 + '"'),
     "m.toml:12: [survey] en: too long: up to 307 septets take 3 parts, more than max_parts = 2"),
    (('ur = "{office} کا دورہ"', 'ur = "{office} ' + "ش" * 100 + '"'),
     "m.toml:4: [notice] ur: too long: up to 141 characters take 3 parts"),
    (('ur = "{office} کا دورہ"', 'sd = "x"'), "m.toml:4: [notice] sd: unknown language"),
    (("[survey]\n", "[surveyy]\n"), "m.toml:11: unknown table [surveyy]"),
    (("max_parts = 2", "max_parts = 0"), "m.toml:1: max_parts must be a whole number"),
    (('en = "Thanks"', 'en = "Thanks"\nen = "again"'), "m.toml:7: TOML:"),
])
def test_check_reports_each_problem_at_its_line(change: tuple[str, str], problem: str) -> None:
    templates, problems = t.check_text(GOOD.replace(*change), "m.toml")
    assert templates is None
    assert any(str(p).startswith(problem) for p in problems), problems


def test_the_shipped_templates_pass_their_check() -> None:
    templates = t.load_templates()
    assert set(templates.messages) == set(t.KINDS)
    for kind in t.KINDS:
        assert set(templates.messages[kind]) == set(t.LANGUAGES)
        assert t.encoding(templates.messages[kind]["ur"]) == t.UCS2


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        t.load_templates(tmp_path / "none.toml")


def test_rendering_without_a_value_names_it() -> None:
    with pytest.raises(ConfigError, match=r"\{case\}"):
        t.render("Case {case}", {})


@pytest.mark.parametrize(("message", "kind", "digits"), [
    ("4", "answers", ("4",)),
    (" 4 1 ", "answers", ("4", "1")),
    ("4,2", "answers", ("4", "2")),
    ("4-2", "answers", ("4", "2")),
    ("۴ ۱", "answers", ("4", "1")),      # Urdu (Extended Arabic-Indic) digits
    ("٣", "answers", ("3",)),            # Arabic-Indic
    ("STOP", "stop", ()),
    ("stop.", "stop", ()),
    ("Stop", "stop", ()),
    ("بند", "stop", ()),
    ("روکیں", "stop", ()),
    ("don't stop", "text", ()),
    ("45", "text", ()),                   # two digits together: not a rating
    ("4 1 2", "text", ()),
    ("the clerk asked for 500", "text", ()),
    ("", "text", ()),
])
def test_classify(message: str, kind: str, digits: tuple[str, ...]) -> None:
    assert replies.classify(message) == replies.Reply(kind, digits)


@pytest.mark.parametrize(("digits", "unanswered", "pairs"), [
    (("4",), ["rating", "bribe"], [("rating", "4")]),
    (("4", "1"), ["rating", "bribe"], [("rating", "4"), ("bribe", "1")]),
    (("1",), ["bribe"], [("bribe", "1")]),
    (("2",), ["bribe"], [("bribe", "2")]),
    (("4",), ["bribe"], None),            # bribe is 1 or 2
    (("7",), ["rating", "bribe"], None),
    (("4", "1"), ["bribe"], None),        # more answers than questions left
    (("4",), [], None),
])
def test_assign(digits: tuple[str, ...], unanswered: list[str],
                pairs: list[tuple[str, str]] | None) -> None:
    assert replies.assign(digits, unanswered) == pairs


def test_kannel_sendsms_parameters() -> None:
    gw = KannelGateway("http://k/cgi-bin/sendsms", "u", "p", "8080",
                       "http://r/sms/kannel/dlr?secret=s&id={id}&status=%d&answer=%A")
    params = gw.params(Outgoing(42, "+923001234567", "شکریہ", 2))
    assert params == {"username": "u", "password": "p", "from": "8080", "to": "923001234567",
                      "text": "شکریہ", "charset": "UTF-8", "coding": "2",
                      "dlr-mask": str(DLR_MASK),
                      "dlr-url": "http://r/sms/kannel/dlr?secret=s&id=42&status=%d&answer=%A"}


@pytest.mark.parametrize(("status", "answer", "state"), [
    (1, "", "delivered"), (2, "", "failed"), (2, "id:1 stat:EXPIRED", "expired"),
    (8, "ACK/", "sent"), (16, "NACK/", "failed"), (4, "", None),
])
def test_delivery_report_types(status: int, answer: str, state: str | None) -> None:
    assert dlr_state(status, answer) == state


def test_sms_check_prints_ok_or_each_problem_and_exits_accordingly(tmp_path: Path) -> None:
    import io

    from ivr import cli
    from ivr.cli.sms import check

    good = tmp_path / "good.toml"
    good.write_text(GOOD, encoding="utf-8")
    out = io.StringIO()
    assert check(good, out) == 0 and out.getvalue().startswith(f"OK {good}")
    bad = tmp_path / "bad.toml"
    bad.write_text(GOOD.replace("{date}", "{day}"), encoding="utf-8")
    out = io.StringIO()
    assert check(bad, out) == 1
    assert out.getvalue().splitlines()[0].startswith(f"{bad}:3: [notice] en: unknown placeholder "
                                                     f"{{day}}")
    assert cli.main(["--home", str(tmp_path), "sms", "check", str(good)]) == 0
    assert cli.main(["--home", str(tmp_path), "sms", "check", str(bad)]) == 1
    assert cli.main(["--home", str(tmp_path), "sms", "check", str(tmp_path / "none")]) == 1


@pytest.mark.parametrize(("changes", "says"), [
    ({"sms_url": "http://k/cgi-bin/sendsms"}, "sms_secret"),
    ({"sms_url": "http://k/cgi-bin/sendsms", "sms_secret": "short"}, "sms_secret"),
    ({"sms_url": "http://k/cgi-bin/sendsms", "sms_secret": "a" * 15 + "&"}, "sms_secret"),
    ({"sms_url": "http://k/cgi-bin/sendsms", "sms_secret": "a" * 16}, "sms_callback_url"),
    ({"sms_per_second": "0"}, "sms_per_second"),
])
def test_sms_settings_are_checked(changes: dict[str, str], says: str) -> None:
    from ivr.config import load_settings

    with pytest.raises(ConfigError, match=says):
        load_settings(env={}, overrides=changes)
