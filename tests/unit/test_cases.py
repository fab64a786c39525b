"""Cases: the transition rules (table-tested), the store, and the cases pages by role."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from casedata import Report, seed
from web_support import NOW, Clock, add_key, add_user, signed_in, start_client

from ivr.accounts import Role
from ivr.cases import CaseAction, CaseStatus, next_steps, transition
from ivr.config import Settings
from ivr.errors import InputError
from ivr.store import SQLiteStore
from ivr.web.cases import recording_file

pytestmark = pytest.mark.both_backends  # the store tests run on SQLite and PostgreSQL

pytest_plugins = ["web_fixtures"]

Client = TestClient[Any, Any]
N, R, T = CaseStatus.NEW, CaseStatus.UNDER_REVIEW, CaseStatus.ACTION_TAKEN
W, U = CaseAction.WARNING, CaseAction.UNFOUNDED


# ---------------------------------------------------------------------------- transition


@pytest.mark.parametrize(
    ("current", "action_now", "to", "action", "note", "expected"),
    [
        (N, None, R, None, "", (R, None)),
        (R, None, T, W, "", (T, W)),
        (R, None, T, U, "looked into it", (T, U)),
        (N, None, N, None, "called the office", (N, None)),  # a note only
        (T, W, T, None, "follow-up", (T, W)),  # notes after closing
        (T, W, T, W, "same action again", (T, W)),
    ],
)
def test_allowed_transitions(current: CaseStatus, action_now: CaseAction | None,
                             to: CaseStatus, action: CaseAction | None, note: str,
                             expected: tuple[CaseStatus, CaseAction | None]) -> None:
    change = transition(current, action_now, to, action, note)
    assert (change.status, change.action) == expected


@pytest.mark.parametrize(
    ("current", "action_now", "to", "action", "note", "says"),
    [
        (N, None, T, W, "", "cannot move from new to action_taken"),  # no skipping review
        (R, None, N, None, "", "cannot move from under_review to new"),
        (T, W, R, None, "", "it is closed"),
        (R, None, T, None, "", "say which action"),
        (N, None, R, W, "", "only when the case moves to action_taken"),
        (N, None, N, None, "  ", "nothing to record"),
        (T, W, T, U, "change it", "cannot be changed"),
        (N, None, R, None, "x" * 4001, "note too long"),
    ],
)
def test_refused_transitions(current: CaseStatus, action_now: CaseAction | None,
                             to: CaseStatus, action: CaseAction | None, note: str,
                             says: str) -> None:
    with pytest.raises(InputError, match=says):
        transition(current, action_now, to, action, note)


# ---------------------------------------------------------------------------- store


@pytest.fixture
async def reports(store: SQLiteStore, web_settings: Settings) -> list[Report]:
    return await seed(store, web_settings.rootfs, NOW)


async def test_queue_lists_only_bribe_reports_within_scope(
        store: SQLiteStore, reports: list[Report]) -> None:
    rows, total = await store.bribe_reports()
    assert total == 5 and {r["ref"] for r in rows} == {r.ref for r in reports if r.bribe}
    rows, total = await store.bribe_reports(district="Lahore")
    assert {r["ref"] for r in rows} == {"LHR-101", "LHR-102"} and total == 2
    rows, _ = await store.bribe_reports(services=["Police"])
    assert {r["ref"] for r in rows} == {"MUL-202", "SKT-301"}
    rows, _ = await store.bribe_reports(services=[])
    assert rows == []


async def test_case_change_is_stored_with_history_and_audit(
        store: SQLiteStore, reports: list[Report]) -> None:
    tx = reports[0].id
    await store.change_case(tx, "user:amna", R, None, "amna", "looking", NOW)
    change = await store.change_case(tx, "user:amna", T, W, None, "warned", NOW)
    assert (change.status, change.action) == (T, W)
    report = await store.bribe_report(tx)
    assert report is not None
    assert (report["case_status"], report["action"], report["owner"]) == ("action_taken",
                                                                          "warning", "amna")
    assert report["closed_at"] is not None
    assert [(e["from_status"], e["to_status"], e["note"]) for e in report["events"]] == [
        ("new", "under_review", "looking"), ("under_review", "action_taken", "warned")]
    audit = [e for e in await store.audit_entries() if e["action"] == "case_change"]
    assert [e["detail"]["to"] for e in audit] == ["action_taken", "under_review"]
    with pytest.raises(InputError):  # closed; and nothing half-written by the refusal
        await store.change_case(tx, "user:amna", R, None, None, "", NOW)
    assert len((await store.bribe_report(tx) or {})["events"]) == 2
    rows = await store.actions_by_district()
    lahore = next(r for r in rows if r["district"] == "Lahore")
    assert (lahore["reports"], lahore["new"], lahore["action_taken"], lahore["warning"]) == (
        2, 1, 1, 1)


async def test_a_transaction_without_a_bribe_has_no_case(
        store: SQLiteStore, reports: list[Report]) -> None:
    no_bribe = next(r for r in reports if not r.bribe)
    assert await store.bribe_report(no_bribe.id) is None
    with pytest.raises(InputError, match="not a bribe report"):
        await store.change_case(no_bribe.id, "user:x", R, None, None, "", NOW)


# ---------------------------------------------------------------------------- recordings


def test_recording_file_serves_only_wavs_inside_the_spool(tmp_path: Path) -> None:
    root = tmp_path / "rootfs"
    good = root / "var/spool/rabta/pbx/rabta-1-complaint.wav"
    good.parent.mkdir(parents=True)
    good.write_bytes(b"RIFF")
    (root / "etc").mkdir()
    (root / "etc/shadow.wav").write_bytes(b"x")
    (good.parent / "link.wav").symlink_to(root / "etc/shadow.wav")
    assert recording_file(root, "/var/spool/rabta/pbx/rabta-1-complaint.wav") == good.resolve()
    for bad in ("/var/spool/rabta/pbx/../../../etc/shadow.wav", "/etc/shadow.wav",
                "var/spool/rabta/pbx/rabta-1-complaint.wav", "/var/spool/rabta/pbx/missing.wav",
                "/var/spool/rabta/pbx/link.wav", "/var/spool/rabta/pbx/rabta-1-complaint.gsm",
                "/var/spool/rabta/pbx/\x00.wav", "3"):
        assert recording_file(root, bad) is None, bad


# ---------------------------------------------------------------------------- pages by role


CASE_ROUTES = ["GET /cases", "GET /api/v1/cases", "GET /cases/{tx}", "GET /api/v1/cases/{tx}",
               "POST /cases/{tx}", "POST /api/v1/cases/{tx}", "POST /cases/{tx}/reveal",
               "POST /cases/{tx}/call", "GET /cases/{tx}/recordings/{answer}",
               "GET /reports/actions", "GET /api/v1/reports/actions", "GET /audit",
               "GET /api/v1/audit"]
PRINCIPALS = ["anonymous", *[r.value for r in Role], "district_other", "apikey"]
_ANON = {r: (401 if "/api/" in r else 302) for r in CASE_ROUTES}
_DENY = {r: 403 for r in CASE_ROUTES}
_SEES = {"GET /cases": 200, "GET /api/v1/cases": 200, "GET /cases/{tx}": 200,
         "GET /api/v1/cases/{tx}": 200, "POST /cases/{tx}": 303, "POST /api/v1/cases/{tx}": 200,
         "POST /cases/{tx}/reveal": 403, "POST /cases/{tx}/call": 503,
         "GET /cases/{tx}/recordings/{answer}": 200, "GET /reports/actions": 200,
         "GET /api/v1/reports/actions": 200, "GET /audit": 403, "GET /api/v1/audit": 403}
_OTHER_DISTRICT = {**_SEES, **{r: 404 for r in CASE_ROUTES if "{tx}" in r}}
EXPECTED: dict[str, dict[str, int]] = {
    "anonymous": _ANON,
    "oversight": {**_SEES, "POST /cases/{tx}/reveal": 200, "GET /audit": 200,
                  "GET /api/v1/audit": 200},
    "department": _SEES,  # Domicile, Pension: the report is Domicile
    "district": _SEES,  # Lahore: the report is in Lahore
    "district_other": _OTHER_DISTRICT,  # Multan
    "supervisor": _DENY, "telephony": _DENY, "dataentry": _DENY,
    "apikey": dict.fromkeys(CASE_ROUTES, 403),  # known, and refused: keys are for intake
}


@pytest.mark.parametrize("route", CASE_ROUTES)
@pytest.mark.parametrize("principal", PRINCIPALS)
async def test_cases_role_endpoint_matrix(client: Client, store: SQLiteStore,
                                          reports: list[Report], principal: str,
                                          route: str) -> None:
    headers: dict[str, str] = {}
    if principal == "apikey":
        headers = {"Authorization": f"Bearer {await add_key(store)}"}
    elif principal != "anonymous":
        role = Role.DISTRICT if principal == "district_other" else Role(principal)
        await add_user(store, principal, role, ("Multan",) if principal == "district_other"
                       else None)
        headers = {"X-CSRF-Token": await signed_in(client, principal)}
    report = reports[0]  # LHR-101: Domicile in Lahore, with a recording
    method, path = route.split(" ")
    path = path.format(tx=report.id, answer=report.recording_answer)
    kwargs: dict[str, Any] = {"headers": headers, "allow_redirects": False}
    if route == "POST /cases/{tx}":
        kwargs["data"] = {"to": "under_review", "note": "x"}
    elif route == "POST /api/v1/cases/{tx}":
        kwargs["json"] = {"to": "under_review", "note": "x"}
    response = await client.request(method, path, **kwargs)
    assert response.status == EXPECTED[principal][route], await response.text()
    changed = (await store.bribe_report(report.id) or {})["case_status"] != "new"
    assert changed == (route.startswith("POST") and "/cases/{tx}" in route
                       and response.status in (200, 303) and not route.endswith(("reveal", "call")))


async def test_matrix_covers_every_role(client: Client) -> None:
    assert {r.value for r in Role} <= set(EXPECTED)
    routes = {f"{r.method} {r.resource.canonical}" for r in client.app.router.routes()
              if r.resource is not None and r.method != "HEAD"}
    assert set(CASE_ROUTES) <= routes


async def test_numbers_are_masked_and_a_reveal_is_audited(
        client: Client, store: SQLiteStore, reports: list[Report]) -> None:
    await add_user(store, "boss", Role.OVERSIGHT)
    csrf = await signed_in(client, "boss")
    report = reports[0]
    for path in ("/cases", f"/cases/{report.id}", "/api/v1/cases", f"/api/v1/cases/{report.id}"):
        text = await (await client.get(path)).text()
        assert report.mobile not in text and report.mobile[1:] not in text, path
        assert "Citizen LHR-101" not in text  # the name is not shown either
    page = await client.post(f"/cases/{report.id}/reveal", data={"csrf_token": csrf})
    assert report.mobile in await page.text()
    (entry,) = [e for e in await store.audit_entries() if e["action"] == "reveal"]
    assert entry["actor"] == "user:boss" and entry["detail"] == {"transaction": report.id}


async def test_recording_is_served_as_wav_with_ranges(client: Client, store: SQLiteStore,
                                                      reports: list[Report]) -> None:
    await add_user(store, "boss", Role.OVERSIGHT)
    await signed_in(client, "boss")
    report = reports[0]
    url = f"/cases/{report.id}/recordings/{report.recording_answer}"
    whole = await client.get(url)
    assert whole.status == 200 and whole.headers["Content-Type"] == "audio/wav"
    body = await whole.read()
    assert body[:4] == b"RIFF" and len(body) > 30000
    part = await client.get(url, headers={"Range": "bytes=0-99"})
    assert part.status == 206 and len(await part.read()) == 100
    other = reports[1]  # an answer of another report, or a non-recording answer: 404
    assert (await client.get(f"/cases/{other.id}/recordings/{report.recording_answer}")).status \
        == 404
    rating = (await store.bribe_report(report.id) or {})["answers"][0]["id"]
    assert (await client.get(f"/cases/{report.id}/recordings/{rating}")).status == 404
    listens = [e for e in await store.audit_entries() if e["action"] == "recording_listen"]
    assert len(listens) == 2  # the whole file and the first range; never the later ranges


async def test_case_form_moves_the_case_and_refuses_a_skip(
        client: Client, store: SQLiteStore, reports: list[Report]) -> None:
    await add_user(store, "dist", Role.DISTRICT)
    csrf = await signed_in(client, "dist")
    tx = reports[0].id
    bad = await client.post(f"/cases/{tx}", data={"csrf_token": csrf, "to": "action_taken",
                                                  "action": "warning"})
    assert bad.status == 422 and "cannot move from new to action_taken" in await bad.text()
    for data in ({"to": "under_review", "note": "reviewing"},
                 {"to": "action_taken", "action": "show_cause", "note": "notice served"}):
        ok = await client.post(f"/cases/{tx}", data={"csrf_token": csrf, **data},
                               allow_redirects=False)
        assert ok.status == 303
    report = await store.bribe_report(tx)
    assert report is not None and (report["case_status"], report["action"], report["owner"]) \
        == ("action_taken", "show_cause", "dist")
    js = await (await client.get("/api/v1/reports/actions")).json()
    assert js["total"]["show_cause"] == 1 and [d["district"] for d in js["districts"]] == [
        "Lahore"]


async def test_audit_view_filters_and_pages(client: Client, store: SQLiteStore,
                                            reports: list[Report]) -> None:
    await add_user(store, "boss", Role.OVERSIGHT)
    await signed_in(client, "boss")
    for i in range(60):
        await store.audit("user:other", "export", {"n": i}, NOW)
    js = await (await client.get("/api/v1/audit?action=export")).json()
    assert js["total"] == 60 and js["pages"] == 2 and len(js["entries"]) == 50
    assert js["entries"][0]["detail"] == {"n": 59}
    js2 = await (await client.get("/api/v1/audit?action=export&page=2")).json()
    assert [e["detail"]["n"] for e in js2["entries"]] == list(range(9, -1, -1))
    js3 = await (await client.get("/api/v1/audit?actor=user:boss")).json()
    assert {e["action"] for e in js3["entries"]} == {"login_ok"}
    html = await (await client.get("/audit?actor=user:boss")).text()
    assert "login_ok" in html and "user:other" not in html


async def test_call_needs_the_official_phone_and_then_asks_the_service(
        store: SQLiteStore, web_settings: Settings, clock: Clock, reports: list[Report]) -> None:
    from ivr.web.cases import DIRECT_CALLS

    placed: list[tuple[str, str, int, str]] = []

    class FakeCalls:
        async def call(self, caller: str, official: str, tx: int, citizen: str) -> int:
            placed.append((caller, official, tx, citizen))
            return 7

    await add_user(store, "boss", Role.OVERSIGHT)
    server = start_client(store, web_settings, clock)
    server.client.server.app[DIRECT_CALLS] = FakeCalls()  # type: ignore[assignment]
    async with server as c:
        csrf = await signed_in(c, "boss")
        tx = reports[0].id
        no_phone = await c.post(f"/cases/{tx}/call", data={"csrf_token": csrf})
        assert no_phone.status == 409 and placed == []
        await store.set_user_phone("boss", "+923009999999")
        ok = await c.post(f"/cases/{tx}/call", data={"csrf_token": csrf})
        text = await ok.text()
        assert ok.status == 200 and "+92300*****99" in text
        assert reports[0].mobile not in text and "+923009999999" not in text
    assert placed == [("boss", "+923009999999", tx, reports[0].mobile)]
    (entry,) = [e for e in await store.audit_entries() if e["action"] == "call"]
    assert entry["detail"] == {"transaction": tx, "direct_call": 7}


# ---------------------------------------------------------------------------- rabta users phone


@pytest.mark.sqlite_only("drives the CLI, whose settings name a SQLite file")
async def test_cli_users_phone_sets_and_clears_the_official_phone(tmp_path: Path,
                                                                   store: SQLiteStore) -> None:
    import io

    from ivr import cli
    from ivr.cli import users as cli_users

    async def run(*argv: str) -> str:
        out = io.StringIO()
        settings = Settings(home=tmp_path / "home", database=str(tmp_path / "t.db"))
        assert await cli_users.run(settings, cli.build_parser().parse_args(list(argv)), out) == 0
        return out.getvalue()

    user_id = await add_user(store, "amna", Role.DISTRICT)
    assert "+92300*****67" in await run("users", "phone", "amna", "--phone", "0300-1234567")
    assert await store.user_phone(user_id) == "+923001234567"
    assert "cleared" in await run("users", "phone", "amna")
    assert await store.user_phone(user_id) is None
    with pytest.raises(InputError):
        await run("users", "phone", "amna", "--phone", "12345")
    with pytest.raises(InputError, match="no user"):
        await run("users", "phone", "nobody", "--phone", "03001234567")
    entries = [e for e in await store.audit_entries() if e["action"] == "user_phone"]
    assert [e["detail"] for e in entries] == [{"username": "amna", "set": False},
                                              {"username": "amna", "set": True}]


# ---------------------------------------------------------------------------- survey words, steps, notices


@pytest.mark.parametrize(("current", "steps"), [(N, (N, R)), (R, (R, T)), (T, (T,))])
def test_next_steps_are_what_transition_allows(current: CaseStatus,
                                               steps: tuple[CaseStatus, ...]) -> None:
    assert next_steps(current) == steps
    for to in CaseStatus:  # every other status is one transition() refuses
        if to not in steps:
            with pytest.raises(InputError):
                transition(current, None, to, W, "note")


async def test_case_page_shows_answers_in_the_surveys_words_in_each_language(
        client: Client, store: SQLiteStore, reports: list[Report]) -> None:
    await add_user(store, "boss", Role.OVERSIGHT)
    await signed_in(client, "boss")
    tx = reports[0].id
    html = await (await client.get(f"/cases/{tx}")).text()
    assert "<td>Rating</td>" in html and "2, poor" in html  # rating 2 with its label
    assert "<td>Amount asked</td>" in html and "3, 10,000 to 50,000" in html
    assert ">rating<" not in html  # no bare question ids
    client.session.cookie_jar.update_cookies({"rabta_lang": "ur"})
    urdu = await (await client.get(f"/cases/{tx}")).text()
    assert "درجہ بندی" in urdu and "2, خراب" in urdu
    js = await (await client.get(f"/api/v1/cases/{tx}")).json()
    rating = next(a for a in js["answers"] if a["question"] == "rating")
    assert (rating["value"], rating["question_label"], rating["value_label"]) == (
        "2", "Rating", "poor")


async def test_case_form_offers_only_the_allowed_steps(
        client: Client, store: SQLiteStore, reports: list[Report]) -> None:
    await add_user(store, "dist", Role.DISTRICT)
    csrf = await signed_in(client, "dist")
    tx = reports[0].id

    async def offered() -> tuple[list[str], bool]:
        html = await (await client.get(f"/cases/{tx}")).text()
        form = html[html.index('id="case-form"'):html.index("</form>", html.index('id="case-form"'))]
        select = form[form.index('<select id="to"'):form.index("</select>")]
        return ([part.split('"')[0] for part in select.split('value="')[1:]],
                'id="action"' in form)

    assert await offered() == (["new", "under_review"], False)  # no skip to action_taken
    await client.post(f"/cases/{tx}", data={"csrf_token": csrf, "to": "under_review"})
    assert await offered() == (["under_review", "action_taken"], True)
    await client.post(f"/cases/{tx}", data={"csrf_token": csrf, "to": "action_taken",
                                            "action": "warning"})
    assert await offered() == (["action_taken"], False)  # closed: a note only


async def test_every_case_change_leaves_a_notice_shown_once(
        client: Client, store: SQLiteStore, reports: list[Report]) -> None:
    await add_user(store, "dist", Role.DISTRICT)
    csrf = await signed_in(client, "dist")
    tx = reports[0].id
    moved = await client.post(f"/cases/{tx}", data={"csrf_token": csrf, "to": "under_review"},
                              allow_redirects=False)
    assert moved.status == 303 and "rabta_notice" in moved.headers.get("Set-Cookie", "")
    page = await (await client.get(f"/cases/{tx}")).text()
    assert 'id="notice"' in page and "Saved: the case is now “under review”." in page
    again = await (await client.get(f"/cases/{tx}")).text()
    assert 'id="notice"' not in again  # shown once
    noted = await client.post(f"/cases/{tx}", data={"csrf_token": csrf, "to": "under_review",
                                                    "note": "called the office"})
    assert "Saved: your note is in the case" in await noted.text()
    forged = await client.post(f"/cases/{tx}", data={"to": "action_taken", "action": "warning"},
                               allow_redirects=False)
    assert forged.status == 403  # no CSRF token: no change, no notice
    client.session.cookie_jar.update_cookies({"rabta_notice": "<script>alert(1)</script>"})
    assert 'id="notice"' not in await (await client.get(f"/cases/{tx}")).text()
def test_a_remote_nodes_recording_is_read_from_its_own_directory(tmp_path: Path) -> None:
    """Setting node_recordings: a remote PBX's spool as this host sees it (a mount or a copy)."""
    remote = tmp_path / "pbx-2-spool"
    remote.mkdir()
    (remote / "rabta-7-complaint.wav").write_bytes(b"RIFF")
    (tmp_path / "secret.wav").write_bytes(b"x")
    (remote / "out.wav").symlink_to(tmp_path / "secret.wav")
    value = "/var/spool/asterisk/rabta-7-complaint.wav"  # the path on the remote PBX
    assert recording_file(tmp_path / "rootfs", value, remote) == (remote / value.rsplit("/")[-1])
    assert recording_file(tmp_path / "rootfs", value) is None  # not in the local rootfs
    for bad in ("/var/spool/asterisk/out.wav", "/var/spool/asterisk/missing.wav",
                "/var/spool/asterisk/rabta-7-complaint.gsm", "rabta-7-complaint.wav"):
        assert recording_file(tmp_path / "rootfs", bad, remote) is None, bad


def test_node_recordings_are_checked_at_start() -> None:
    from ivr.config import load_settings
    from ivr.errors import ConfigError

    nodes = ("a-pbx@127.0.0.1:5038", "b-pbx@10.0.0.2:5038")
    s = load_settings(env={}, overrides={"nodes": nodes, "node_recordings": ("b-pbx=/mnt/b",)})
    assert s.recording_dirs() == {"b-pbx": Path("/mnt/b")}
    for bad, why in ((("c-pbx=/mnt/c",), "not a PBX node"), (("b-pbx=mnt/b",), "node=/absolute"),
                     (("b-pbx",), "node=/absolute")):
        with pytest.raises(ConfigError, match=why):
            load_settings(env={}, overrides={"nodes": nodes, "node_recordings": bad})
    env = {"RABTA_NODE_RECORDINGS": "b-pbx=/mnt/b", "RABTA_NODES": ",".join(nodes)}
    assert load_settings(env=env).recording_dirs() == {"b-pbx": Path("/mnt/b")}
