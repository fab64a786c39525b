"""Carrier simulator: the phone book CSV parsed strictly, and compiled to dialplan exactly."""

from __future__ import annotations

import pytest

from ivr.errors import InputError
from ivr.lab.simulator import ACTIONS, Citizen, parse_phonebook, render_dialplan

HEADER = "number,action,keys,ring_s,hangup_s\n"


def book(*rows: str) -> str:
    return HEADER + "".join(r + "\n" for r in rows)


def steps(c: Citizen) -> list[str]:
    """Return the applications of the citizen's first extension, after its NoOp."""
    lines = render_dialplan([c]).splitlines()
    assert lines[1].startswith("exten => ") and ",1,NoOp(citizen " in lines[1]
    out = []
    for line in lines[2:]:
        if line.startswith("exten => "):
            break
        assert line.startswith(" same => n,"), line
        out.append(line.removeprefix(" same => n,"))
    return out


# ---------------------------------------------------------------------- parsing


@pytest.mark.parametrize("number", ["+923001234567", "03001234567", "0300-1234567", "923001234567",
                                    " +92 300 1234567 "])
def test_numbers_in_e164_and_national_form(number: str) -> None:
    [c] = parse_phonebook(book(f"{number},answer,s4,,"))
    assert c.number == "+923001234567"


@pytest.mark.parametrize("action", ACTIONS)
def test_every_action_is_accepted(action: str) -> None:
    [c] = parse_phonebook(book(f"03001234567,{action.upper()},,,"))
    assert c.action == action


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ("03001234567,answer,,,", Citizen("+923001234567", "answer", "", 0.0, None)),
        ("03001234567,answer,S5W1H,2.5,30", Citizen("+923001234567", "answer", "s5w1h", 2.5, 30.0)),
        ("03001234567,answer,*#0,0,", Citizen("+923001234567", "answer", "*#0", 0.0, None)),
        ("03001234567,no_answer,,3,", Citizen("+923001234567", "no_answer", "", 3.0, None)),
    ],
)
def test_row_fields(row: str, expected: Citizen) -> None:
    assert parse_phonebook(book(row)) == [expected]


def test_only_number_and_action_columns_are_required() -> None:
    assert parse_phonebook("number,action\n03001234567,busy\n") == [
        Citizen("+923001234567", "busy")]


def test_bom_is_ignored() -> None:
    assert len(parse_phonebook("\ufeff" + book("03001234567,busy,,,"))) == 1


def test_same_citizen_twice_names_both_lines() -> None:
    text = book("+923001234567,answer,s4,,", "03011111111,busy,,,", "03001234567,busy,,,")
    with pytest.raises(InputError) as err:
        parse_phonebook(text, "pb.csv")
    assert "pb.csv:4: number: same citizen as line 2" in str(err.value)


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ("03001234567,dance,,,", "pb.csv:2: action: 'dance' is not one of"),
        ("03001234567,,,,", "pb.csv:2: action: '' is not one of"),
        ("03001234567,answer,s5x,,", "pb.csv:2: keys: unknown key(s) 'x'"),
        ("03001234567,answer,s5 1,,", "pb.csv:2: keys: unknown key(s) ' '"),
        ("03001234567,answer,,-1,", "pb.csv:2: ring_s/hangup_s: must be positive"),
        ("03001234567,answer,,,0", "pb.csv:2: ring_s/hangup_s: must be positive"),
        ("03001234567,answer,,abc,", "pb.csv:2: ring_s/hangup_s: not a number"),
        ("0421234567,answer,,,", "pb.csv:2: number: not a mobile number"),
        (",answer,,,", "pb.csv:2: number: empty"),
    ],
)
def test_bad_rows_are_named_with_their_line(row: str, expected: str) -> None:
    with pytest.raises(InputError) as err:
        parse_phonebook(book(row), "pb.csv")
    assert expected in str(err.value)


def test_every_bad_row_is_listed_not_only_the_first() -> None:
    text = book("03001234567,dance,,,", "03011111111,answer,,,", "03022222222,answer,q,,",
                "03033333333,answer,,-2,")
    with pytest.raises(InputError) as err:
        parse_phonebook(text, "pb.csv")
    message = str(err.value)
    assert [line for line in message.splitlines() if line.startswith("pb.csv:")] == [
        "pb.csv:2: action: 'dance' is not one of answer, busy, no_answer, congestion, reject",
        "pb.csv:4: keys: unknown key(s) 'q'",
        "pb.csv:5: ring_s/hangup_s: must be positive",
    ]


@pytest.mark.parametrize("header", ["number,keys\n", "action,keys\n", "phone,action\n"])
def test_missing_column(header: str) -> None:
    with pytest.raises(InputError, match=r"pb\.csv: missing column\(s\)"):
        parse_phonebook(header + "03001234567,busy\n", "pb.csv")


@pytest.mark.parametrize("row", ["03001234567,answer,,nan,", "03001234567,no_answer,,inf,",
                                 "03001234567,answer,,,nan"])
def test_non_finite_times_are_rejected(row: str) -> None:
    with pytest.raises(InputError, match="ring_s/hangup_s"):
        parse_phonebook(book(row), "pb.csv")


# ---------------------------------------------------------------------- rendering


@pytest.mark.parametrize(
    ("citizen", "expected"),
    [
        (Citizen("+923001234567", "busy"), ["Busy(10)"]),
        (Citizen("+923001234567", "congestion"), ["Congestion(10)"]),
        (Citizen("+923001234567", "reject"), ["Hangup(21)"]),
        (Citizen("+923001234567", "no_answer", ring_s=3), ["Ringing()", "Wait(3)", "Hangup(19)"]),
        (Citizen("+923001234567", "answer", "s5w1h"),
         ["Ringing()", "Answer()", "WaitForNoise(100,1,2)", "WaitForSilence(700,1,45)",
          "SendDTMF(5,250)", "Wait(1)", "SendDTMF(1,250)", "Hangup(16)"]),
        (Citizen("+923001234567", "answer", "s4", hangup_s=7),
         ["Ringing()", "Answer()", "Set(TIMEOUT(absolute)=7)", "WaitForNoise(100,1,2)",
          "WaitForSilence(700,1,45)",
          "SendDTMF(4,250)", "Wait(120)", "Hangup(16)"]),
        (Citizen("+923001234567", "answer", "#", ring_s=2.5),
         ["Ringing()", "Wait(2.5)", "Answer()", "SendDTMF(#,250)", "Wait(120)", "Hangup(16)"]),
        (Citizen("+923001234567", "answer", "h5"), ["Ringing()", "Answer()", "Hangup(16)"]),
        (Citizen("+923001234567", "answer", "s1sp#"),
         ["Ringing()", "Answer()", "WaitForNoise(100,1,2)", "WaitForSilence(700,1,45)", "SendDTMF(1,250)",
          "WaitForNoise(100,1,2)", "WaitForSilence(700,1,45)", "Playback(tt-weasels)",
          "SendDTMF(#,250)", "Wait(120)", "Hangup(16)"]),
    ],
    ids=["busy", "congestion", "reject", "no_answer", "answer-keys", "hangup_s", "ring", "h-first",
         "speaks"],
)
def test_steps(citizen: Citizen, expected: list[str]) -> None:
    assert steps(citizen) == expected


def test_render_exact_output_for_a_small_book() -> None:
    citizens = parse_phonebook(book("+923001234567,answer,s5w1h,,", "03011111111,busy,,,"))
    assert render_dialplan(citizens) == (
        "; Rendered from the phone book by Rabta. Edit the CSV, not this file.\n"
        "exten => 923001234567,1,NoOp(citizen answer s5w1h)\n"
        " same => n,Ringing()\n"
        " same => n,Answer()\n"
        " same => n,WaitForNoise(100,1,2)\n"
        " same => n,WaitForSilence(700,1,45)\n"
        " same => n,SendDTMF(5,250)\n"
        " same => n,Wait(1)\n"
        " same => n,SendDTMF(1,250)\n"
        " same => n,Hangup(16)\n"
        "exten => 03001234567,1,NoOp(citizen answer s5w1h)\n"
        " same => n,Ringing()\n"
        " same => n,Answer()\n"
        " same => n,WaitForNoise(100,1,2)\n"
        " same => n,WaitForSilence(700,1,45)\n"
        " same => n,SendDTMF(5,250)\n"
        " same => n,Wait(1)\n"
        " same => n,SendDTMF(1,250)\n"
        " same => n,Hangup(16)\n"
        "exten => 923011111111,1,NoOp(citizen busy )\n"
        " same => n,Busy(10)\n"
        "exten => 03011111111,1,NoOp(citizen busy )\n"
        " same => n,Busy(10)\n"
    )


def test_both_extensions_exist_for_each_citizen() -> None:
    citizens = parse_phonebook(book("03001234567,busy,,,", "+923459876543,reject,,,"))
    extens = [line.split(",")[0].removeprefix("exten => ")
              for line in render_dialplan(citizens).splitlines() if line.startswith("exten => ")]
    assert extens == ["923001234567", "03001234567", "923459876543", "03459876543"]


def test_empty_book_renders_only_the_banner() -> None:
    assert render_dialplan([]) == (
        "; Rendered from the phone book by Rabta. Edit the CSV, not this file.\n")
