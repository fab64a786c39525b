"""The cases pages in real headless Chromium: who sees what, playing a recorded complaint,
moving a case to "action taken", and a form post without its CSRF token refused."""

from __future__ import annotations

import json

import pytest
from browser_support import USERS, Site, sign_in
from playwright.sync_api import Page

RESULTS_ROLES = {"oversight": {"LHR-101", "LHR-102", "MUL-201", "MUL-202", "SKT-301"},
                 "department": {"MUL-202", "SKT-301"},  # Police
                 "district": {"LHR-101", "LHR-102"}}  # Lahore


@pytest.mark.parametrize("username", sorted(USERS))
def test_each_role_sees_only_permitted_data(page: Page, site: Site, username: str) -> None:
    sign_in(page, site, username)
    nav = page.locator("nav").inner_text()
    response = page.goto(f"{site.url}/cases")
    assert response is not None
    if username not in RESULTS_ROLES:
        assert response.status == 403
        assert "Corruption reports" not in nav
        assert page.goto(f"{site.url}/api/v1/cases").status == 403  # type: ignore[union-attr]
    else:
        assert response.status == 200
        refs = set(page.locator("#reports tbody tr td:nth-child(5)").all_inner_texts())
        assert refs == RESULTS_ROLES[username]
        html = page.content()
        for r in site.reports:  # masked everywhere: no number, in any form
            assert r.mobile not in html and r.mobile[3:] not in html
        outside = next(r for r in site.reports if r.bribe and r.ref not in refs) \
            if username != "oversight" else None
        if outside is not None:  # another scope's report is not found, even by its URL
            assert page.goto(f"{site.url}/cases/{outside.id}").status == 404  # type: ignore[union-attr]
    audit = page.goto(f"{site.url}/audit")
    assert audit is not None and audit.status == (200 if username == "oversight" else 403)


def test_play_a_recorded_complaint(page: Page, site: Site) -> None:
    sign_in(page, site, "oversight")
    report = site.report("LHR-101")
    page.goto(f"{site.url}/cases/{report.id}")
    audio = page.locator("audio")
    assert audio.count() == 1
    state = page.evaluate("""async () => {
        const a = document.querySelector('audio');
        if (a.readyState < 1) await new Promise((ok, bad) => {
            a.addEventListener('loadedmetadata', ok, {once: true});
            a.addEventListener('error', () => bad(new Error('audio error ' + a.error.code)),
                               {once: true});
        });
        await a.play();
        const t0 = a.currentTime;
        await new Promise(ok => a.addEventListener('timeupdate', ok, {once: true}));
        return {readyState: a.readyState, duration: a.duration, t0: t0,
                t1: a.currentTime, paused: a.paused, src: a.currentSrc};
    }""")
    assert state["readyState"] >= 2, state  # HAVE_CURRENT_DATA or better
    assert abs(state["duration"] - 2.0) < 0.05, state  # the 2 s complaint
    assert state["t1"] > state["t0"] and not state["paused"], state
    assert state["src"].endswith(f"/cases/{report.id}/recordings/{report.recording_answer}")


def test_move_a_case_to_action_taken(page: Page, site: Site) -> None:
    sign_in(page, site, "district")
    report = site.report("LHR-102")
    page.goto(f"{site.url}/cases/{report.id}")
    assert page.locator("#case-status").inner_text() == "new"
    page.select_option("#to", "under_review")
    page.fill("#note", "asked the office for the file")
    page.click("#save")
    page.wait_for_url(f"{site.url}/cases/{report.id}")
    assert page.locator("#case-status").inner_text() == "under review"
    page.select_option("#to", "action_taken")
    page.select_option("#action", "transfer")
    page.fill("#note", "the clerk was transferred")
    page.click("#save")
    page.wait_for_url(f"{site.url}/cases/{report.id}")
    assert page.locator("#case-status").inner_text() == "action taken"
    assert page.locator("#case-action").inner_text() == "transfer"
    history = page.locator("#history tbody tr").all_inner_texts()
    assert len(history) == 2 and "the clerk was transferred" in history[1]
    page.goto(f"{site.url}/api/v1/reports/actions")
    data = json.loads(page.locator("body").inner_text())
    (lahore,) = [d for d in data["districts"] if d["district"] == "Lahore"]
    assert lahore["transfer"] == 1 and lahore["action_taken"] == 1


def test_a_form_post_without_the_csrf_token_is_refused(page: Page, site: Site) -> None:
    sign_in(page, site, "oversight")
    report = site.report("MUL-201")
    page.goto(f"{site.url}/cases/{report.id}")
    # a post with the browser's own session cookie (the page's CSP forbids fetch() itself)
    response = page.request.post(f"{site.url}/cases/{report.id}",
                                 form={"to": "under_review", "note": "forged"})
    assert response.status == 403 and "CSRF" in response.text()
    # and a real form without the token, submitted by the browser itself
    with page.expect_navigation():
        page.evaluate("""(id) => {
            const f = document.createElement('form');
            f.method = 'post'; f.action = '/cases/' + id;
            for (const [k, v] of [['to', 'under_review'], ['note', 'forged']]) {
                const i = document.createElement('input'); i.name = k; i.value = v;
                f.appendChild(i);
            }
            document.body.appendChild(f);
            f.submit();
        }""", report.id)
    assert "CSRF token missing or wrong" in page.content()
    page.goto(f"{site.url}/cases/{report.id}")
    assert page.locator("#case-status").inner_text() == "new"
