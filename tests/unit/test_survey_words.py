"""The survey's own words for officials (ivr.web.words), the filters matched to the data
(ivr.results.canonical) and the overview's hours (ivr.services.results.hourly): pure."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from ivr.flows.definitions import SURVEYS_DIR, load_surveys, parse_survey
from ivr.results import Filters, canonical
from ivr.services.results import hourly
from ivr.web import words
from ivr.web.i18n import translations

BOOK = load_surveys()


@pytest.mark.parametrize(("service", "question", "value", "label", "answer"), [
    ("Domicile", "rating", "2", "Rating", "poor"),
    ("Domicile", "bribe", "1", "Bribe asked", "yes"),
    ("health", "bribe_who", "1", "Who asked", "doctor"),
    ("land_revenue", "bribe_who", "1", "Who asked", "patwari or clerk"),
    ("Domicile", "visit_confirmed", "2", "Visit confirmed", "not me"),
    ("Domicile", "rating", "7", "Rating", None),  # a key the survey has no word for
    ("Domicile", "no_such_question", "1", "no_such_question", None),
])
def test_answers_read_in_the_surveys_words(service: str, question: str, value: str, label: str,
                                          answer: str | None) -> None:
    survey = words.survey_of(BOOK, None, service)
    assert words.question_label(survey, question) == label
    assert words.answer_label(survey, question, value) == answer


def test_the_stamped_survey_wins_and_no_book_shows_keys() -> None:
    assert words.survey_of(BOOK, "health", "Domicile") is BOOK.surveys["health"]
    assert words.question_label(None, "rating") == "rating"
    assert words.say_answer(str, "2", None) == "2"
    assert words.say_answer(translations("ur").gettext, "2", "poor") == "2, خراب"


def test_every_survey_word_is_extracted_and_in_urdu() -> None:
    said = set()
    for path in sorted(SURVEYS_DIR.glob("*.toml")):
        with path.open("rb") as f:
            said |= {m for _, _, m, _ in words.extract_surveys(f, None, None, None)}
    assert {"Rating", "poor", "Who asked", "patwari or clerk"} <= said
    urdu = translations("ur")
    missing = sorted(m for m in said if urdu.gettext(m) == m)
    assert missing == []


def test_a_label_must_be_text() -> None:
    base = ('id = "x"\nversion = 1\nservices = ["x"]\n[[questions]]\nid = "rating"\n'
            'prompt = "rating"\nkeys = { "1" = "yes" }\n')
    survey, problems = parse_survey(base + 'label = "Rating"\n', "x.toml", None, stem="x")
    assert survey is not None and survey.questions[0].label == "Rating", problems
    _, problems = parse_survey(base + "label = 3\n", "x.toml", None, stem="x")
    assert any("`label` must be text" in p.message and p.line == 8 for p in problems), problems


def test_extractor_reads_a_file_object() -> None:
    text = b'[[questions]]\nid = "q"\nlabel = "Asked"\nkeys = { "1" = "yes" }\n'
    got = list(words.extract_surveys(io.BytesIO(text), None, None, None))
    assert [(line, m) for line, _, m, _ in got] == [(3, "Asked"), (4, "yes")]


def test_filters_match_the_data_case_insensitively() -> None:
    known = {"district": ["Lahore", "Multan"], "service": ["Domicile"]}
    got = canonical(Filters(district=" lahore", service="DOMICILE", office="x"), known)
    assert (got.district, got.service, got.office) == ("Lahore", "Domicile", "x")
    assert canonical(Filters(district="Lahroe"), known).district == "Lahroe"  # kept: no match
    assert canonical(Filters(), known) == Filters()


def test_hours_fold_into_local_hours_of_today_and_yesterday() -> None:
    zone = ZoneInfo("Asia/Karachi")
    rows = [("2024-05-01T18", 3, 1),  # 23:00 local on the 1st: yesterday
            ("2024-05-01T19", 4, 2),  # 00:00 local on the 2nd: today
            ("2024-05-02T09", 5, 5),  # 14:00 local
            ("2024-05-02T19", 9, 9)]  # 00:00 on the 3rd: neither
    got = hourly(rows, date(2024, 5, 2), zone)
    assert got["calls_yesterday"][23] == 3 and got["answered_yesterday"][23] == 1
    assert got["calls"][0] == 4 and got["calls"][14] == 5 and sum(got["calls"]) == 9
    assert datetime(2024, 5, 2, 9, tzinfo=UTC).astimezone(zone).hour == 14
