"""Prompt studio: the version road (table), the store, uploads, listening, going live, PINs."""

from __future__ import annotations

import io
import json
import warnings
import wave
from pathlib import Path
from typing import Any

import pytest
from aiohttp import FormData
from aiohttp.test_utils import TestClient
from web_support import NOW, add_user, signed_in

from ivr import audio, cli, prompt_files
from ivr.accounts import Role, verify_password
from ivr.cli import users as cli_users
from ivr.config import Settings
from ivr.errors import InputError
from ivr.store import SQLiteStore
from ivr.studio import Source, VersionStatus, check_pin, transition
from ivr.web import prompts as prompts_web
from ivr.web.prompts import prompt_ids

pytestmark = pytest.mark.both_backends  # the store tests run on SQLite and PostgreSQL

pytest_plugins = ["web_fixtures"]

Client = TestClient[Any, Any]
D, A, L, R = (VersionStatus.DRAFT, VersionStatus.APPROVED, VersionStatus.LIVE,
              VersionStatus.RETIRED)
ALLOWED = {(D, A), (A, L)}


# ---------------------------------------------------------------------------- rules


@pytest.mark.parametrize("current", list(VersionStatus))
@pytest.mark.parametrize("to", list(VersionStatus))
def test_version_road_table(current: VersionStatus, to: VersionStatus) -> None:
    if (current, to) in ALLOWED:
        assert transition(current, to) is to
    else:
        with pytest.raises(InputError, match=f"a {current.value} version cannot become"):
            transition(current, to)


@pytest.mark.parametrize("pin,ok", [("1234", True), ("12345678", True), ("123", False),
                                    ("123456789", False), ("12a4", False), ("١٢٣٤", False),
                                    ("", False)])
def test_pin_rules(pin: str, ok: bool) -> None:
    if ok:
        assert check_pin(pin) == pin
    else:
        with pytest.raises(InputError, match="4 to 8 digits"):
            check_pin(pin)


# ---------------------------------------------------------------------------- store


async def test_store_road_retires_the_previous_live_version_and_audits(store: SQLiteStore) -> None:
    first = await store.add_prompt_version("greeting", "ur", "/a.wav", Source.PHONE, "sana",
                                           "phone:sana", NOW)
    second = await store.add_prompt_version("greeting", "ur", "/b.wav", Source.UPLOAD, "sana",
                                            "user:sana", NOW)
    other = await store.add_prompt_version("greeting", "en", "/c.wav", Source.UPLOAD, "sana",
                                           "user:sana", NOW)
    for vid in (first, second, other):
        await store.set_prompt_version_status(vid, A, "user:sana", NOW)
    _, retired = await store.set_prompt_version_status(first, L, "user:sana", NOW)
    assert retired is None
    await store.set_prompt_version_status(other, L, "user:sana", NOW)
    version, retired = await store.set_prompt_version_status(second, L, "user:sana", NOW)
    assert (version.status, retired) == (L, first)
    statuses = {v.id: v.status for v in await store.prompt_versions()}
    assert statuses == {first: R, second: L, other: L}  # another language is not touched
    assert [v.id for v in await store.live_prompt_versions()] == [other, second]
    with pytest.raises(InputError, match="a retired version cannot become live"):
        await store.set_prompt_version_status(first, L, "user:sana", NOW)
    with pytest.raises(InputError, match="no prompt version"):
        await store.set_prompt_version_status(999, A, "user:sana", NOW)
    entries = await store.audit_entries()
    assert [e["action"] for e in entries].count("prompt_version_add") == 3
    last = entries[0]
    assert last["action"] == "prompt_version_status"
    assert last["detail"] == {"version": second, "prompt": "greeting", "language": "ur",
                              "from": "approved", "to": "live", "retired": first}


# ---------------------------------------------------------------------------- audio


def _tone(fmt: str = "wav", seconds: float = 1.0, rate: int = 44100, channels: int = 2) -> bytes:
    with warnings.catch_warnings():  # pydub imports audioop, deprecated since Python 3.11
        warnings.simplefilter("ignore", DeprecationWarning)
        from pydub.generators import Sine
    seg = Sine(440).to_audio_segment(duration=seconds * 1000).set_frame_rate(rate)
    seg = seg.set_channels(channels).apply_gain(-6)
    buf = io.BytesIO()
    seg.export(buf, format=fmt)
    return buf.getvalue()


def _wav_params(path: Path) -> tuple[int, int, int]:
    with wave.open(str(path)) as w:
        return w.getframerate(), w.getnchannels(), w.getsampwidth()


@pytest.mark.parametrize("fmt", ["wav", "flac", "ogg"])
def test_convert_any_common_format_to_8khz_mono_wav(tmp_path: Path, fmt: str) -> None:
    dest = tmp_path / "v.wav"
    seconds = prompt_files.convert_bytes(_tone(fmt), dest)
    assert abs(seconds - 1.0) < 0.1
    assert _wav_params(dest) == (8000, 1, 2)


@pytest.mark.parametrize("data,message", [(b"", "empty"), (b"hello, not audio" * 100, "not an audio"),
                                          (_tone(seconds=0.5, channels=1)[:44] + bytes(8000),
                                           "empty or silent")])
def test_convert_refuses_what_is_not_audio(tmp_path: Path, data: bytes, message: str) -> None:
    with pytest.raises(InputError, match=message):
        prompt_files.convert_bytes(data, tmp_path / "v.wav")
    assert not (tmp_path / "v.wav").exists()


def test_publish_makes_it_the_live_recording_and_installs_it(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", cache=tmp_path / "cache")
    version = tmp_path / "v.wav"
    prompt_files.convert_bytes(_tone(), version)
    live = prompt_files.live_dir(settings) / "ur"
    live.mkdir(parents=True)
    (live / "greeting.mp3").write_bytes(b"an older recording in another format")
    sounds = tmp_path / "sounds"
    changed = prompt_files.publish(settings, "greeting", "ur", version,
                                   sounds_dir=lambda lang: sounds / lang)
    assert changed == 3
    assert sorted(p.name for p in live.iterdir()) == ["greeting.wav"]
    for fmt in ("wav", "ulaw", "alaw"):
        assert (sounds / "ur" / "rabta" / f"greeting.{fmt}").stat().st_size > 1000
    assert prompt_files.publish(settings, "greeting", "ur", version,
                                sounds_dir=lambda lang: sounds / lang) == 0  # already there


# ---------------------------------------------------------------------------- web


async def _supervisor(client: Client, store: SQLiteStore, name: str = "sana",
                      role: Role = Role.SUPERVISOR) -> str:
    await add_user(store, name, role)
    return await signed_in(client, name)


async def _upload(client: Client, csrf: str, data: bytes, prompt: str = "greeting",
                  language: str = "ur", filename: str = "take.wav") -> Any:
    form = FormData()
    form.add_field("csrf_token", csrf)
    form.add_field("prompt", prompt)
    form.add_field("language", language)
    form.add_field("file", data, filename=filename, content_type="application/octet-stream")
    return await client.post("/prompts", data=form, allow_redirects=False)


async def test_upload_listen_approve_and_make_live(client: Client, store: SQLiteStore,
                                                   web_settings: Settings) -> None:
    csrf = await _supervisor(client, store)
    response = await _upload(client, csrf, _tone("flac"), filename="take.flac")
    assert response.status == 303, await response.text()
    (version,) = await store.prompt_versions()
    assert (version.prompt, version.language, version.source, version.status,
            version.created_by) == ("greeting", "ur", Source.UPLOAD, D, "sana")
    assert _wav_params(Path(version.file)) == (8000, 1, 2)
    page = await (await client.get("/prompts")).text()
    assert f'src="/prompts/versions/{version.id}/audio"' in page and "Approve" in page
    audio = await client.get(f"/prompts/versions/{version.id}/audio")
    assert audio.status == 200 and audio.headers["Content-Type"] == "audio/wav"
    assert await audio.read() == Path(version.file).read_bytes()
    # draft -> live is refused; draft -> approved -> live is the road
    refused = await client.post(f"/prompts/versions/{version.id}",
                                data={"csrf_token": csrf, "to": "live"})
    assert refused.status == 422 and "cannot become live" in await refused.text()
    for to in ("approved", "live"):
        r = await client.post(f"/prompts/versions/{version.id}",
                              data={"csrf_token": csrf, "to": to}, allow_redirects=False)
        assert r.status == 303, await r.text()
    live = prompt_files.live_dir(web_settings) / "ur" / "greeting.wav"
    assert live.read_bytes() == Path(version.file).read_bytes()
    rows = (await (await client.get("/api/v1/prompts")).json())["prompts"]
    row = next(r for r in rows if (r["prompt"], r["language"]) == ("greeting", "ur"))
    assert row["current"] == f"live recording (version {version.id})"
    assert row["versions"][0]["status"] == "live" and "file" not in row["versions"][0]
    assert row["state"] == "recorded" and row["audio"] == "/prompts/now/ur/greeting"
    now_playing = await client.get("/prompts/now/ur/greeting")
    assert now_playing.status == 200 and await now_playing.read() == live.read_bytes()
    other = next(r for r in rows if (r["prompt"], r["language"]) == ("greeting", "en"))
    assert (other["state"], other["current"], other["audio"]) == (
        "missing", "nothing: not built yet", None)  # no PBX here, nothing synthesised
    actions = [e["action"] for e in await store.audit_entries()]
    assert actions.count("prompt_version_status") == 2 and "prompt_version_add" in actions


async def test_api_change_and_a_second_live_version_retires_the_first(
        client: Client, store: SQLiteStore) -> None:
    csrf = await _supervisor(client, store)
    for _ in range(2):
        assert (await _upload(client, csrf, _tone())).status == 303
    second, first = await store.prompt_versions()
    headers = {"X-CSRF-Token": csrf}
    for vid in (first.id, second.id):
        for to in ("approved", "live"):
            r = await client.post(f"/api/v1/prompts/versions/{vid}", json={"to": to},
                                  headers=headers)
            assert r.status == 200, await r.text()
    body = await r.json()
    assert (body["status"], body["retired"]) == ("live", first.id)
    assert {v.id: v.status for v in await store.prompt_versions()} == {first.id: R, second.id: L}
    bad = await client.post(f"/api/v1/prompts/versions/{first.id}", json={"to": "draft"},
                            headers=headers)
    assert bad.status == 422 and "cannot become draft" in (await bad.json())["error"]
    nonsense = await client.post(f"/api/v1/prompts/versions/{first.id}", json={"to": "gold"},
                                 headers=headers)
    assert nonsense.status == 422 and "not a version status" in (await nonsense.json())["error"]


@pytest.mark.parametrize("data,prompt,language,message", [
    (b"%PDF-1.4 not audio at all" * 50, "greeting", "ur", "not an audio file"),
    (b"RIFF....WAVEfmt " + bytes(100), "greeting", "ur", "not an audio file"),
    (_tone(), "no-such-prompt", "ur", "choose a prompt and a language"),
    (_tone(), "greeting", "de", "choose a prompt and a language"),
])
async def test_upload_refuses_with_a_clear_error(client: Client, store: SQLiteStore,
                                                 data: bytes, prompt: str, language: str,
                                                 message: str) -> None:
    csrf = await _supervisor(client, store)
    response = await _upload(client, csrf, data, prompt, language)
    assert response.status == 422
    assert message in await response.text()
    assert await store.prompt_versions() == []


async def test_upload_without_the_csrf_token_is_refused(client: Client, store: SQLiteStore
                                                        ) -> None:
    await _supervisor(client, store)
    response = await _upload(client, "forged", _tone())
    assert response.status == 403
    assert await store.prompt_versions() == []


async def test_oversight_sees_but_cannot_change(client: Client, store: SQLiteStore) -> None:
    vid = await store.add_prompt_version("greeting", "ur", "/x.wav", Source.UPLOAD, "sana",
                                         "user:sana", NOW)
    csrf = await _supervisor(client, store, "boss", Role.OVERSIGHT)
    page = await client.get("/prompts")
    assert page.status == 200
    html = await page.text()
    assert f'id="v{vid}"' in html and 'id="upload"' not in html and ">Approve</button>" not in html
    r = await client.post(f"/prompts/versions/{vid}", data={"csrf_token": csrf, "to": "approved"})
    assert r.status == 403
    assert (await store.prompt_version(vid)) is not None
    assert (await store.prompt_version(vid)).status is D  # type: ignore[union-attr]


async def test_listen_serves_only_files_under_the_versions_dir(client: Client,
                                                               store: SQLiteStore,
                                                               tmp_path: Path) -> None:
    outside = tmp_path / "secret.wav"
    outside.write_bytes(_tone())
    vid = await store.add_prompt_version("greeting", "ur", str(outside), Source.UPLOAD, "sana",
                                         "user:sana", NOW)
    await _supervisor(client, store)
    assert (await client.get(f"/prompts/versions/{vid}/audio")).status == 404


async def test_openapi_documents_the_prompt_routes(client: Client) -> None:
    doc = await (await client.get("/api/v1/openapi.json")).json()
    assert "get" in doc["paths"]["/api/v1/prompts"]
    assert "post" in doc["paths"]["/api/v1/prompts/versions/{version}"]
    json.dumps(doc)


# ---------------------------------------------------------------------------- CLI: PINs


async def _cli(tmp_path: Path, *argv: str, stdin: str = "") -> str:
    args = cli.build_parser().parse_args(list(argv))
    out = io.StringIO()
    settings = Settings(home=tmp_path / "home", database=str(tmp_path / "t.db"))
    code = await cli_users.run(settings, args, out, io.StringIO(stdin))
    assert code == 0
    return out.getvalue()


@pytest.mark.sqlite_only("drives the CLI, whose settings name a SQLite file")
async def test_cli_sets_a_hashed_unique_pin_for_supervisors_only(tmp_path: Path,
                                                                 store: SQLiteStore) -> None:
    await add_user(store, "sana", Role.SUPERVISOR)
    await add_user(store, "omar", Role.SUPERVISOR)
    await add_user(store, "boss", Role.OVERSIGHT)
    assert "studio PIN set" in await _cli(tmp_path, "users", "pin", "sana", "--password-stdin",
                                          stdin="4321\n")
    ((name, pin_hash),) = await store.studio_pins()
    assert name == "sana" and "4321" not in pin_hash and verify_password(pin_hash, "4321")
    with pytest.raises(InputError, match="another supervisor has this PIN"):
        await _cli(tmp_path, "users", "pin", "omar", "--password-stdin", stdin="4321\n")
    with pytest.raises(InputError, match="only supervisors"):
        await _cli(tmp_path, "users", "pin", "boss", "--password-stdin", stdin="5555\n")
    with pytest.raises(InputError, match="4 to 8 digits"):
        await _cli(tmp_path, "users", "pin", "omar", "--password-stdin", stdin="12\n")
    await _cli(tmp_path, "users", "pin", "sana", "--password-stdin", stdin="9999\n")  # her own
    assert [e["action"] for e in await store.audit_entries()].count("user_pin") == 2


# ---------------------------------------------------------------------------- the studio page


def _synthesise(settings: Settings, prompt: str, language: str) -> Path:
    """Put a synthesised prompt where the PBX plays it from, as `rabta prompts build` would."""
    path = settings.rootfs / "usr/share/asterisk/sounds" / language / "rabta" / f"{prompt}.wav"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_tone("wav"))
    return path


async def test_studio_shows_each_prompts_text_and_plays_what_plays_now(
        client: Client, store: SQLiteStore, web_settings: Settings) -> None:
    await _supervisor(client, store)
    synth = _synthesise(web_settings, "rating", "ur")
    page = await client.get("/prompts")
    html = await page.text()
    assert page.status == 200
    texts = {(p.id, p.language): p.text for p in audio.load_manifest()}
    assert texts[("rating", "ur")] in html and texts[("rating", "en")] in html
    assert f'lang="ur" dir="rtl">{texts[("greeting", "ur")]}' in html
    assert '<audio controls preload="none" src="/prompts/now/ur/rating"' in html
    assert 'src="/prompts/now/en/rating"' not in html  # nothing plays: no player
    played = await client.get("/prompts/now/ur/rating")
    assert played.status == 200 and played.headers["Content-Type"] == "audio/wav"
    assert await played.read() == synth.read_bytes()
    for bad in ("/prompts/now/en/rating", "/prompts/now/xx/rating", "/prompts/now/ur/nothing",
                "/prompts/now/ur/..%2F..%2Fetc%2Fpasswd"):
        refused = await client.get(bad)
        assert refused.status == 404, bad
        assert "text/html" in refused.headers["Content-Type"], bad  # a page, no traceback


async def test_studio_filters_by_survey_language_and_state(
        client: Client, store: SQLiteStore, web_settings: Settings) -> None:
    await _supervisor(client, store)
    _synthesise(web_settings, "rating", "ur")
    everything = (await (await client.get("/api/v1/prompts")).json())["prompts"]
    assert len(everything) == len(prompt_ids()) * len(audio.LANGUAGES)
    urdu = (await (await client.get("/api/v1/prompts?language=ur")).json())["prompts"]
    assert urdu and {r["language"] for r in urdu} == {"ur"}
    synth = (await (await client.get("/api/v1/prompts?state=synthesised")).json())["prompts"]
    assert [(r["prompt"], r["language"]) for r in synth] == [("rating", "ur")]
    surveys = prompts_web.survey_prompts()
    sid, (_, ids) = next((k, v) for k, v in sorted(surveys.items()) if k != "default")
    one = (await (await client.get(f"/api/v1/prompts?survey={sid}")).json())["prompts"]
    assert one and {r["prompt"] for r in one} == ids & set(prompt_ids())
    assert all(sid in r["surveys"] for r in one)
    page = await (await client.get(f"/prompts?survey={sid}&language=en&state=missing")).text()
    assert f'<option value="{sid}" selected>' in page
    assert '<option value="en" selected>' in page and '<option value="missing" selected>' in page
    none = await (await client.get("/prompts?state=recorded")).text()
    assert "No prompt matches these filters" in none


async def test_studio_flags_versions_waiting_for_approval(client: Client, store: SQLiteStore
                                                          ) -> None:
    csrf = await _supervisor(client, store)
    assert (await _upload(client, csrf, _tone("wav"))).status == 303
    waiting = (await (await client.get("/api/v1/prompts?state=review")).json())["prompts"]
    assert [(r["prompt"], r["language"]) for r in waiting] == [("greeting", "ur")]
