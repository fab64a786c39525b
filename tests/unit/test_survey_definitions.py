"""Survey definitions: the bundled files load, and broken ones are refused at the right line."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from ivr import cli
from ivr.audio import LANGUAGES, load_manifest
from ivr.cases import FOLLOWUP_QUESTION, FOLLOWUP_SERVICE, RESOLVED_NO, RESOLVED_YES
from ivr.cli import survey as cli_survey
from ivr.errors import ConfigError, FlowError
from ivr.flows.definitions import (
    DEFAULT_ID,
    END,
    RECORD,
    SURVEYS_DIR,
    Problem,
    SourceIndex,
    check_files,
    known_prompts,
    load_surveys,
    parse_survey,
    survey_files,
)

ROOT = Path(__file__).resolve().parents[2]
PROMPTS = known_prompts()
BUNDLED = {"default", "police", "health", "land_revenue", "pension"}  # about a visit
FOLLOWUP = "followup"  # the follow-up call after a case's action (ivr.cases)


def problems_of(text: str, *, stem: str | None = None) -> list[Problem]:
    survey, problems = parse_survey(text, "s.toml", PROMPTS, stem=stem)
    assert (survey is None) == bool(problems)
    return problems


def only(text: str) -> Problem:
    problems = problems_of(text)
    assert len(problems) == 1, [str(p) for p in problems]
    return problems[0]


# ---------------------------------------------------------------------------- bundled files


def test_every_bundled_survey_loads() -> None:
    book = load_surveys()
    assert set(book.surveys) == BUNDLED | {FOLLOWUP}
    assert {p.stem for p in survey_files()} == BUNDLED | {FOLLOWUP}
    surveys, problems = check_files(survey_files(), PROMPTS, require_default=True)
    assert problems == []
    assert all(s.source.endswith(f"{s.id}.toml") for s in surveys)


@pytest.mark.parametrize(
    ("service", "survey"),
    [("police", "police"), ("health", "health"), ("land_revenue", "land_revenue"),
     ("property_registration", "land_revenue"), ("pension", "pension"),
     ("domicile", DEFAULT_ID), ("", DEFAULT_ID)],
)
def test_survey_is_picked_by_service(service: str, survey: str) -> None:
    assert load_surveys().for_service(service).id == survey


def test_every_demo_service_has_a_survey() -> None:
    book = load_surveys()
    rows = list(csv.DictReader(io.StringIO((ROOT / "demo" / "transactions.csv").read_text())))
    services = {r["service"] for r in rows} - {"service"}  # the demo's one bad row aside
    named = {s for survey in book.surveys.values() for s in survey.services}
    assert services - named <= set(), services - named


def test_the_followup_survey_asks_whether_the_problem_was_resolved() -> None:
    book = load_surveys()
    s = book.for_service(FOLLOWUP_SERVICE)
    assert s.id == FOLLOWUP and not s.confirm_visit
    (q,) = s.questions
    assert (q.id, dict(q.keys)) == (FOLLOWUP_QUESTION, {RESOLVED_YES: "resolved",
                                                        RESOLVED_NO: "not resolved"})
    assert q.required and (s.replay_key, s.optout_key) == ("*", "9")


@pytest.mark.parametrize("survey_id", sorted(BUNDLED))
def test_core_questions_come_first_and_bribe_no_ends(survey_id: str) -> None:
    # The integration tests and the demo press s<rating>s<bribe> on every service, and the
    # reports read `rating` and `bribe`: every bundled survey asks them first, in that order.
    s = load_surveys().surveys[survey_id]
    rating, bribe, *follow_ups = s.questions
    assert (rating.id, list(rating.keys)) == ("rating", ["1", "2", "3", "4", "5"])
    assert (bribe.id, list(bribe.keys)) == ("bribe", ["1", "2"])
    assert {rating.target(k) for k in rating.keys} == {"bribe"} and rating.no_answer == "bribe"
    assert bribe.target("2") == END and bribe.no_answer == END
    assert rating.required and bribe.required
    assert follow_ups and not any(q.required for q in follow_ups)
    assert any(q.kind == RECORD for q in follow_ups)
    assert (s.replay_key, s.optout_key) == ("*", "9")
    if survey_id in ("default", "police"):
        assert (rating.prompt, bribe.prompt) == ("rating", "bribe")


def test_every_prompt_has_every_language() -> None:
    texts: dict[str, set[str]] = {}
    for p in load_manifest():
        assert p.text, (p.id, p.language)
        texts.setdefault(p.id, set()).add(p.language)
    assert {pid for pid, langs in texts.items() if langs != set(LANGUAGES)} == set()
    used = set().union(*(s.prompt_ids() for s in load_surveys().surveys.values()))
    assert used <= set(texts)
    # The ids the code and the dialplan used before surveys were data are still there.
    assert {"greeting", "rating", "bribe", "invalid", "thanks", "inbound-notice"} <= set(texts)


# ---------------------------------------------------------------------------- broken files


GOOD = """\
id = "s"
version = 1
services = ["x"]
optout_key = "9"
replay_key = "*"

[[questions]]
id = "rating"
prompt = "rating"
keys = { "1" = "bad", "2" = "good" }

[[questions]]
id = "bribe"
prompt = "bribe"
keys = { "1" = "yes", "2" = "no" }
next = { "1" = "complaint", "2" = "end" }

[[questions]]
id = "complaint"
type = "record"
prompt = "complaint-record"
max_seconds = 30
next = "end"
"""


def test_the_template_is_good() -> None:
    survey, problems = parse_survey(GOOD, "s.toml", PROMPTS, stem="s")
    assert problems == [] and survey is not None
    assert [q.id for q in survey.questions] == ["rating", "bribe", "complaint"]
    assert survey.question("complaint").max_s == 30.0


@pytest.mark.parametrize(
    ("old", "new", "line", "message"),
    [
        ('prompt = "bribe"', 'prompt = "bribery"', 14,
         "unknown prompt 'bribery' in question 'bribe' (not in prompts/manifest.toml)"),
        ('"1" = "complaint"', '"1" = "complain"', 16,
         "question 'bribe' branches to 'complain', which is not a question"),
        ('next = "end"\n', 'next = "nowhere"\n', 23, "branches to 'nowhere'"),
        ('next = { "1"', 'no_answer = "gone"\nnext = { "1"', 16, "branches to 'gone'"),
        ('prompt = "bribe"', 'prompt = "bribe"\nprompt = "rating"', 15,
         "duplicate key `prompt`: it is already set in this table"),
        ('"2" = "no" }', '"2" = "no", "1" = "again" }', 15,
         "duplicate key '1' in an inline table"),
        ('replay_key = "*"', 'replay_key = "*"\nversion = 2', 6, "duplicate key `version`"),
        ('"2" = "good" }', '"2" = "good", "9" = "stop" }', 10,
         "question 'rating': key '9' clashes with the survey's optout_key"),
        ('"2" = "good" }', '"2" = "good", "*" = "again" }', 10,
         "key '*' clashes with the survey's replay_key"),
        ('replay_key = "*"', 'replay_key = "9"', 4, "optout_key '9' is also the replay_key"),
        ('services = ["x"]', 'services = ["x"]\ncolour = "red"', 4,
         "unknown field `colour` in the survey"),
        ('max_seconds = 30', 'max_seconds = 30\nkeys = { "1" = "a" }', 23,
         "unknown field `keys` in record question 'complaint'"),
        ('id = "bribe"\n', 'id = "bribe"\nasked = true\n', 14,
         "unknown field `asked` in keys question 'bribe'"),
        ('"2" = "good" }', '"2" = "good", "12" = "x" }', 10, "key '12' must be one of 0-9, * or #"),
        ('version = 1', 'version = "1"', 2, "`version` must be a whole number"),
        ('version = 1\n', '', 1, "missing `version`"),
        ('type = "record"', 'type = "voice"', 20, "`type` must be 'keys' or 'record'"),
        ('max_seconds = 30', 'max_seconds = 0', 22, "`max_seconds` must be a number of seconds"),
        ('next = { "1" = "complaint", "2" = "end" }', 'next = { "3" = "end" }', 16,
         "`next` has key '3', which is not one of its keys"),
        ('services = ["x"]\n', '', 1, "missing `services`"),
        ('id = "s"', 'id = "S s"', 1, "`id` 'S s' must be lower case"),
        ('replay_key = "*"', 'replay_key = "*"\nconfirm_visit = "yes"', 6,
         "`confirm_visit` must be true or false"),
    ],
    ids=["unknown-prompt", "branch-to-missing", "record-branch-to-missing", "no-answer-missing",
         "duplicate-key", "duplicate-inline-key", "duplicate-top-key", "optout-clash",
         "replay-clash", "optout-is-replay", "unknown-field", "field-of-other-type",
         "unknown-question-field", "bad-key", "version-type",
         "no-version", "bad-type", "max-seconds", "next-key-not-a-key", "no-services",
         "bad-id", "confirm-visit-type"],
)
def test_broken_definition_points_at_the_line(old: str, new: str, line: int, message: str) -> None:
    assert old in GOOD
    problem = only(GOOD.replace(old, new, 1))
    assert problem.line == line, str(problem)
    assert message in problem.message, str(problem)
    assert str(problem).startswith(f"s.toml:{line}: ")


NO_EXIT = """\
id = "s"
version = 1
services = ["x"]

[[questions]]
id = "a"
prompt = "rating"
keys = { "1" = "x" }
next = "b"

[[questions]]
id = "b"
prompt = "bribe"
keys = { "1" = "x" }
next = "a"
"""


def test_duplicate_question_id() -> None:
    problems = problems_of(GOOD.replace('id = "complaint"', 'id = "rating"'))
    assert "s.toml:19: duplicate question id 'rating'" in [str(p) for p in problems]


def test_no_exit_at_all() -> None:
    problem = only(NO_EXIT)
    assert (problem.line, problem.message) == (5, 'the survey has no exit: no question leads to "end"')


CYCLE = """\
id = "s"
version = 1
services = ["x"]

[[questions]]
id = "a"
prompt = "rating"
keys = { "1" = "x", "2" = "y" }
next = { "1" = "b", "2" = "end" }

[[questions]]
id = "b"
prompt = "bribe"
keys = { "1" = "x" }
next = "c"

[[questions]]
id = "c"
prompt = "bribe"
keys = { "1" = "x" }
next = "b"
"""


def test_cycle_without_exit() -> None:
    problems = problems_of(CYCLE)
    assert [(p.line, p.message) for p in problems] == [
        (11, "question 'b' never reaches \"end\": it only leads to c, a loop with no way out"),
        (17, "question 'c' never reaches \"end\": it only leads to b, a loop with no way out"),
    ]


def test_a_cycle_with_an_exit_is_fine() -> None:
    text = CYCLE.replace('next = "c"', 'next = { "1" = "c" }\nno_answer = "end"')
    assert problems_of(text) == []


def test_question_never_asked() -> None:
    text = GOOD.replace('next = { "1" = "complaint", "2" = "end" }', 'next = "end"')
    problem = only(text)
    assert (problem.line, problem.message) == (18, "question 'complaint' is never asked: "
                                                    "no branch leads to it")


def test_toml_syntax_error_has_its_line() -> None:
    problem = only(GOOD.replace('max_seconds = 30', 'max_seconds = '))
    assert problem.line == 22 and problem.message.startswith("not valid TOML")


def test_id_must_match_the_file_name() -> None:
    [problem] = problems_of(GOOD, stem="police")
    assert (problem.line, problem.message) == (1, "id 's' must match the file name (police.toml)")


def test_keys_in_sub_tables_point_at_their_own_lines() -> None:
    text = """\
id = "s"
version = 1
services = ["x"]

[[questions]]
id = "a"
prompt = "rating"

[questions.keys]
"1" = "x"
"2" = "y"

[questions.next]
"1" = "end"
"2" = "zz"
"""
    problem = only(text)
    assert problem.line == 15 and "branches to 'zz'" in problem.message


def test_many_problems_are_all_reported_in_line_order() -> None:
    text = GOOD.replace('prompt = "rating"', 'prompt = "x1"').replace(
        'prompt = "bribe"', 'prompt = "x2"').replace('services = ["x"]', 'services = ["x"]\nfoo = 1')
    problems = problems_of(text)
    assert [p.line for p in problems] == sorted(p.line for p in problems)
    assert len(problems) == 3


@pytest.mark.parametrize(
    ("path", "line"),
    [(("id",), 1), (("questions",), 7), (("questions", 0), 7), (("questions", 1, "keys"), 15),
     (("questions", 1, "next", "2"), 16), (("questions", 2, "max_seconds"), 22),
     (("questions", 2, "nothing"), 18), (("nothing",), 1)],
)
def test_source_index(path: tuple[str | int, ...], line: int) -> None:
    assert SourceIndex(GOOD).line(path) == line


# ---------------------------------------------------------------------------- files


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_one_service_one_survey_and_unique_ids(tmp_path: Path) -> None:
    a = write(tmp_path, "s", GOOD)
    b = write(tmp_path, "t", GOOD.replace('id = "s"', 'id = "t"'))
    _, problems = check_files([a, b], PROMPTS)
    assert [(Path(p.file).name, p.line) for p in problems] == [("t.toml", 3)]
    assert "service 'x' is also taken by" in problems[0].message


def test_a_directory_needs_a_default(tmp_path: Path) -> None:
    write(tmp_path, "s", GOOD)
    with pytest.raises(FlowError, match=r"no default\.toml"):
        load_surveys(tmp_path, PROMPTS)


def test_load_surveys_lists_every_problem(tmp_path: Path) -> None:
    write(tmp_path, "default", GOOD.replace('id = "s"', 'id = "default"'))
    write(tmp_path, "bad", GOOD.replace('id = "s"', 'id = "bad"').replace('"bribe"\nkeys',
                                                                          '"nope"\nkeys'))
    with pytest.raises(FlowError) as info:
        load_surveys(tmp_path, PROMPTS)
    assert "bad.toml:14: unknown prompt 'nope'" in str(info.value)


def test_empty_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no survey definitions"):
        load_surveys(tmp_path, PROMPTS)


# ---------------------------------------------------------------------------- rabta survey check


def test_check_command_accepts_the_bundled_surveys() -> None:
    out = io.StringIO()
    assert cli_survey.check([], out) == 0
    lines = out.getvalue().splitlines()
    assert len(lines) == len(BUNDLED) + 1 and all(line.startswith("OK ") for line in lines)
    assert any("police v2" in line for line in lines)


def test_check_command_reports_file_and_line(tmp_path: Path) -> None:
    bad = write(tmp_path, "s", GOOD.replace('"1" = "complaint"', '"1" = "complain"'))
    good = write(tmp_path, "t", GOOD.replace('id = "s"', 'id = "t"').replace('["x"]', '["y"]'))
    out = io.StringIO()
    assert cli_survey.check([bad, good], out) == 1
    text = out.getvalue()
    assert f"{bad}:16: question 'bribe' branches to 'complain'" in text
    assert "1 problem(s) in 1 file(s)" in text


def test_rabta_survey_check_exit_status(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RABTA_HOME", str(tmp_path / "home"))
    assert cli.main(["survey", "check"]) == 0
    assert "OK " in capsys.readouterr().out
    dup = write(tmp_path, "s", GOOD.replace('prompt = "bribe"', 'prompt = "bribe"\nprompt = "x"'))
    assert cli.main(["survey", "check", str(dup)]) == 1
    assert f"{dup}:15: duplicate key `prompt`" in capsys.readouterr().out


def test_bundled_directory_is_the_default() -> None:
    assert SURVEYS_DIR == ROOT / "surveys"


def test_confirm_visit_needs_its_fragments_in_the_manifest() -> None:
    text = GOOD.replace('replay_key = "*"', 'replay_key = "*"\nconfirm_visit = true', 1)
    survey, problems = parse_survey(text, "s.toml", PROMPTS, stem="s")
    assert problems == [] and survey is not None and survey.confirm_visit
    assert {"visit-confirm", "visit-not-me", "date/day-31", "date/month-12"} <= survey.prompt_ids()
    without = PROMPTS - {"date/day-31", "visit-not-me"}
    survey, problems = parse_survey(text, "s.toml", without, stem="s")
    assert survey is None
    [problem] = problems
    assert problem.line == 6
    assert "confirm_visit needs prompts not in prompts/manifest.toml: date/day-31, visit-not-me" \
        in problem.message
