"""POST /api/v1/transactions: the CSV's rules over HTTP, all or nothing, never a 5xx."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from web_support import (
    ITEM,
    NOW,
    OFFICE,
    OTHER_OFFICE,
    Clock,
    add_key,
    add_user,
    signed_in,
    start_client,
)

from ivr import intake
from ivr.accounts import Role, new_api_key, token_hash
from ivr.config import Settings
from ivr.store import SQLiteStore, open_store
from ivr.web.app import create_app
from ivr.web.common import CLOCK

pytest_plugins = ["web_fixtures"]  # client, clock, web_settings, cheap argon2

Client = TestClient[Any, Any]
URL = "/api/v1/transactions"


def item(**changes: Any) -> dict[str, Any]:
    return {**ITEM, **changes}


async def count(store: SQLiteStore) -> int:
    return sum((await store.status_counts()).values())


@pytest.fixture
async def key(store: SQLiteStore) -> str:
    return await add_key(store, OFFICE)


async def post(client: Client, key: str, body: Any = None, *, data: bytes | str | None = None,
               content_type: str = "application/json", **headers: str) -> tuple[int, Any]:
    """POST to the intake API; return (status, decoded JSON body)."""
    raw = json.dumps(body) if data is None else data
    response = await client.post(URL, data=raw, headers={
        "Authorization": f"Bearer {key}", "Content-Type": content_type, **headers})
    text = await response.text()
    assert response.content_type == "application/json", text
    return response.status, json.loads(text)


# ---------------------------------------------------------------------------- accepted


async def test_one_object_is_stored_with_its_first_call_time(
        client: Client, store: SQLiteStore, key: str, web_settings: Settings) -> None:
    status, body = await post(client, key, item())
    assert (status, body) == (201, {"received": 1, "created": 1, "already_present": 0})
    tx = await store.transaction(OFFICE, "DC-1")
    assert tx is not None and tx.mobile == "+923001234567" and tx.language == "ur"
    assert tx.next_try_at is not None
    assert tx.next_try_at >= NOW  # never earlier than now, as `rabta import` does
    (entry,) = await store.audit_entries()
    assert entry["action"] == "intake" and entry["actor"].startswith("apikey:")
    assert entry["detail"] == {"received": 1, "created": 1, "already_present": 0}


async def test_batch_then_repost_is_idempotent(client: Client, store: SQLiteStore,
                                               key: str) -> None:
    batch = [item(ref=f"DC-{i}") for i in range(10)]
    assert await post(client, key, batch) == (201, {"received": 10, "created": 10,
                                                    "already_present": 0})
    assert await post(client, key, batch) == (200, {"received": 10, "created": 0,
                                                    "already_present": 10})
    grown = [*batch, item(ref="DC-new")]
    assert await post(client, key, grown) == (201, {"received": 11, "created": 1,
                                                    "already_present": 10})
    assert await count(store) == 11


async def test_json_numbers_for_ref_and_mobile_are_read_as_text(client: Client,
                                                                 store: SQLiteStore,
                                                                 key: str) -> None:
    status, _ = await post(client, key, item(ref=12345, mobile=923001234567))
    assert status == 201
    assert await store.transaction(OFFICE, "12345") is not None


async def test_a_full_batch_of_the_maximum_size_is_accepted(
        client: Client, store: SQLiteStore, key: str, web_settings: Settings) -> None:
    batch = [item(ref=f"R{i}") for i in range(web_settings.api_max_batch)]
    status, body = await post(client, key, batch)
    assert status == 201 and body["created"] == web_settings.api_max_batch


async def test_same_validation_as_the_csv_import(client: Client, store: SQLiteStore,
                                                 key: str) -> None:
    rows = [item(ref="A"), item(ref="B", mobile="042-35761234"), item(ref="C", language="fr")]
    header = ",".join(intake.FIELDS)
    csv_text = header + "\n" + "".join(
        ",".join(str(r[f]) for f in intake.FIELDS) + "\n" for r in rows)
    _good, csv_errors = intake.parse_transactions_csv(csv_text.splitlines(keepends=True), now=NOW)
    status, body = await post(client, key, rows)
    assert status == 422
    api_errors = [(e["field"], e["message"]) for e in body["details"]["errors"]]
    assert api_errors == [(field, reason) for _line, field, reason in csv_errors]


# ---------------------------------------------------------------------------- refused whole


async def test_one_bad_item_and_nothing_is_saved(client: Client, store: SQLiteStore,
                                                 key: str) -> None:
    batch = [item(ref="ok-1"), item(ref="bad", mobile="0423576"), item(ref="ok-2"),
             item(ref="bad2", visited_at="yesterday", surname="x")]
    status, body = await post(client, key, batch)
    assert status == 422
    assert body["error"] == "2 invalid item(s); nothing was saved"
    errors = body["details"]["errors"]
    assert [(e["index"], e["field"]) for e in errors] == [(1, "mobile"), (3, "surname")]
    assert all(e["message"] for e in errors)
    assert "0423576" not in json.dumps(body)  # numbers are masked in errors
    assert await count(store) == 0


async def test_duplicate_within_a_batch_names_the_first(client: Client, store: SQLiteStore,
                                                        key: str) -> None:
    status, body = await post(client, key, [item(), item(name="Other"), item(ref=" DC-1 ")])
    assert status == 422
    assert body["details"]["errors"] == [
        {"index": 1, "field": "ref", "message": "duplicate of item 0"},
        {"index": 2, "field": "ref", "message": "duplicate of item 0"},
    ]
    assert await count(store) == 0


@pytest.mark.parametrize("bad,index,field,why", [
    ([item(), 5], 1, "item", "must be an object, not a number"),
    ([item(), [item()]], 1, "item", "must be an object, not an array"),
    ([item(), None], 1, "item", "must be an object, not null"),
    ([item(ref=True)], 0, "ref", "must be text, not bool"),
    ([item(ref=1.5)], 0, "ref", "must be text, not float"),
    ([item(name={"a": 1})], 0, "name", "must be text, not dict"),
    ([item(ref="")], 0, "ref", "required"),
    ([{k: v for k, v in ITEM.items() if k != "mobile"}], 0, "mobile", "required"),
    ([item(ref="x" * 65)], 0, "ref", "too long (65 characters, max 64)"),
    ([item(name="a\x00b")], 0, "name", "contains a control character"),
    ([item(name="a\ud800b")], 0, "name", "contains a control character"),
    ([item(office="Lahore\u2028Office")], 0, "office", "contains a control character"),
    ([item(visited_at="2099-01-01T00:00")], 0, "visited_at", "in the future"),
    ([item(visited_at="2024-05-01")], 0, "visited_at", "date without a time"),
    ([item(visited_at="99999-01-01T00:00")], 0, "visited_at", "not an ISO 8601"),
    ([item(**{"k" * 10_000: 1})], 0, "k" * 40 + "…", "unknown field"),
    ([item(mobile="+14155550123")], 0, "mobile", "not a Pakistani"),
    ([item(**{"": 1})], 0, '""', "unknown field"),
    ([item(langauge="ur")], 0, "langauge", "unknown field (did you mean 'language'?)"),
])
async def test_hostile_and_wrong_values_name_the_field_and_why(
        client: Client, store: SQLiteStore, key: str, bad: list[Any], index: int, field: str,
        why: str) -> None:
    status, body = await post(client, key, bad)
    assert status == 422, body
    (error,) = body["details"]["errors"]
    assert (error["index"], error["field"]) == (index, field)
    assert why in error["message"]
    assert len(json.dumps(body)) < 2000  # nothing hostile is echoed back at length
    assert await count(store) == 0


@pytest.mark.parametrize("data,reason", [
    (b"{", "malformed JSON"),
    (b'{"ref": "a",}', "malformed JSON"),
    (b"[" * 100_000 + b"]" * 100_000, "malformed JSON"),
    (b'{"ref": NaN}', "malformed JSON"),
    (b'{"ref": Infinity}', "malformed JSON"),
    (b'{"ref": ' + b"9" * 5000 + b"}", "malformed JSON"),
    (b"\xff\xfe{\x00}\x00", "the body is not UTF-8"),
    (b'"just a string"', "the body must be a transaction object or an array of them"),
    (b"42", "the body must be a transaction object or an array of them"),
    (b"null", "the body must be a transaction object or an array of them"),
    (b"[]", "empty array: send at least one transaction"),
    (b"", "malformed JSON"),
])
async def test_malformed_bodies_are_a_clean_400(client: Client, store: SQLiteStore, key: str,
                                                data: bytes, reason: str) -> None:
    status, body = await post(client, key, data=data)
    assert status == 400
    assert body["error"] == reason
    assert await count(store) == 0


async def test_malformed_json_says_where(client: Client, key: str) -> None:
    status, body = await post(client, key, data='[\n{"ref": "a",\n}]')
    assert status == 400
    assert body["details"]["line"] == 3 and body["details"]["reason"]


async def test_a_utf8_bom_is_tolerated(client: Client, key: str) -> None:
    status, _ = await post(client, key, data=b"\xef\xbb\xbf" + json.dumps(item()).encode())
    assert status == 201


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", "application/xml"])
async def test_wrong_content_type_is_415(client: Client, key: str, content_type: str) -> None:
    status, body = await post(client, key, item(), content_type=content_type)
    assert status == 415
    assert body["error"] == "send Content-Type: application/json"


async def test_json_with_a_charset_is_fine(client: Client, key: str) -> None:
    status, _ = await post(client, key, item(), content_type="application/json; charset=utf-8")
    assert status == 201


async def test_too_many_items_is_413_and_says_the_limit(client: Client, store: SQLiteStore,
                                                        key: str, web_settings: Settings) -> None:
    n = web_settings.api_max_batch + 1
    status, body = await post(client, key, [item(ref=f"R{i}") for i in range(n)])
    assert status == 413
    assert body["details"] == {"max_items": n - 1, "items": n}
    assert "split the batch" in body["error"]
    assert await count(store) == 0


async def test_oversized_body_is_413_declared_or_streamed(
        store: SQLiteStore, web_settings: Settings, clock: Clock, key: str) -> None:
    async with start_client(store, web_settings, clock, api_max_body=4096) as c:
        big = json.dumps([item(ref=f"R{i}") for i in range(40)]).encode()
        assert len(big) > 4096
        status, body = await post(c, key, data=big)
        assert status == 413
        assert body == {"error": "request body too large", "details": {"max_bytes": 4096}}

        async def chunks() -> Any:  # no Content-Length: the limit holds while reading
            for i in range(0, len(big), 1000):
                yield big[i:i + 1000]

        response = await c.post(URL, data=chunks(), headers={
            "Authorization": f"Bearer {key}", "Content-Type": "application/json"})
        assert response.status == 413
        assert await count(store) == 0


# ---------------------------------------------------------------------------- who may write


async def test_an_office_key_cannot_write_another_office(client: Client, store: SQLiteStore,
                                                         key: str) -> None:
    status, body = await post(client, key, [item(), item(ref="M-1", office=OTHER_OFFICE)])
    assert status == 403
    assert body["details"] == {"allowed_offices": [OFFICE], "items": [1]}
    assert await count(store) == 0
    other = await add_key(store, OTHER_OFFICE)
    assert (await post(client, other, item()))[0] == 403


async def test_revoked_and_unknown_keys_are_401(client: Client, store: SQLiteStore,
                                                key: str) -> None:
    (k,) = await store.api_keys()
    await store.revoke_api_key(k.id, NOW)
    for sent in (key, new_api_key(), "", "x" * 8000):
        status, body = await post(client, sent, item())
        assert status == 401
        assert body["error"] in ("invalid or revoked API key",
                                 "authentication required: send an API key "
                                 "(Authorization: Bearer ...) or sign in")
    response = await client.post(URL, json=item(), headers={"Authorization": "Basic YTpi"})
    assert response.status == 401
    # a header past aiohttp's 8 KiB line limit is refused by its parser, before our code
    response = await client.post(URL, json=item(), headers={"Authorization": "x" * 10_000})
    assert response.status == 400
    assert await count(store) == 0


async def test_auth_is_checked_before_the_body_is_read(client: Client) -> None:
    response = await client.post(URL, data=b"not json", headers={"Content-Type": "text/plain"})
    assert response.status == 401


async def test_dataentry_session_posts_for_its_office_with_csrf(
        client: Client, store: SQLiteStore) -> None:
    await add_user(store, "clerk", Role.DATAENTRY)
    csrf = await signed_in(client, "clerk")
    assert (await client.post(URL, json=item())).status == 403  # no CSRF header
    ok = await client.post(URL, json=item(), headers={"X-CSRF-Token": csrf})
    assert ok.status == 201
    other = await client.post(URL, json=item(ref="M", office=OTHER_OFFICE),
                              headers={"X-CSRF-Token": csrf})
    assert other.status == 403
    assert (await store.audit_entries())[0]["actor"] == "user:clerk"


async def test_openapi_document(client: Client) -> None:
    response = await client.get("/api/v1/openapi.json")
    assert response.status == 200
    doc = await response.json()
    assert doc["openapi"].startswith("3.")
    op = doc["paths"][URL]["post"]
    assert set(op["responses"]) == {"200", "201", "400", "401", "403", "408", "413", "415", "422"}
    schema = doc["components"]["schemas"]["Transaction"]
    assert set(schema["properties"]) == set(intake.FIELDS)
    assert set(schema["required"]) == {"ref", "mobile", "service", "office", "district",
                                       "visited_at"}
    refs = {v for v in _walk(doc) if isinstance(v, str) and v.startswith("#/")}
    for ref in refs:  # every $ref resolves
        node: Any = doc
        for part in ref[2:].split("/"):
            node = node[part]


def _walk(node: Any) -> Iterator[Any]:
    if isinstance(node, dict):
        for v in node.values():
            yield from _walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v)
    else:
        yield node


# ---------------------------------------------------------------------------- property

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                 max_size=3),
    max_leaves=6)
_field_value = st.one_of(
    st.sampled_from(["", " ", "DC-1", "03001234567", "+923451234567", "0300123", "2024-05-01T10:00",
                     "2024-05-01", "2099-01-01T00:00", "ur", "xx", OFFICE, OTHER_OFFICE,
                     "a\x00b", "\ud800", "x" * 300]),
    _json)


@st.composite
def _items(draw: st.DrawFn) -> Any:
    kind = draw(st.sampled_from(["valid", "valid", "mutated", "other"]))
    base = item(ref=draw(st.text("ABCDEFGH0123456789-", min_size=1, max_size=6)))
    if kind == "valid":
        return base
    if kind == "other":
        return draw(_json)
    for _ in range(draw(st.integers(1, 3))):
        field = draw(st.sampled_from([*intake.FIELDS, "extra"]))
        if draw(st.booleans()):
            base.pop(field, None)
        else:
            base[field] = draw(_field_value)
    return base


_bodies = st.one_of(
    st.lists(_items(), min_size=1, max_size=6).map(json.dumps),
    _items().map(json.dumps),
    st.binary(max_size=50),
    st.text(max_size=50),
)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[asyncio.Runner, Any, str]]:
    """One server for every example: its own loop, so a sync @given test can drive it."""
    runner = asyncio.Runner()
    key = new_api_key()
    path: Path = tmp_path_factory.mktemp("live")

    async def start() -> tuple[SQLiteStore, Client]:
        store = await open_store(path / "t.db")
        await store.add_api_key(token_hash(key), OFFICE, "", NOW)
        app = create_app(Settings(home=path / "home", api_max_batch=5), store)
        app[CLOCK] = Clock()
        c: Client = TestClient(TestServer(app))
        await c.start_server()
        return store, c

    store, c = runner.run(start())
    try:
        yield runner, (store, c), key
    finally:
        runner.run(c.close())
        runner.run(store.close())
        runner.close()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=_bodies)
def test_property_never_5xx_never_partial_every_error_explained(
        live: tuple[asyncio.Runner, Any, str], body: str | bytes) -> None:
    runner, (store, c), key = live

    async def attempt() -> tuple[int, Any, int, int]:
        before = await count(store)
        response = await c.post(URL, data=body, headers={
            "Authorization": f"Bearer {key}", "Content-Type": "application/json"})
        payload = await response.json()
        return response.status, payload, before, await count(store)

    status, payload, before, after = runner.run(attempt())
    event(f"status {status}")
    assert status < 500, payload
    if status in (200, 201):
        assert after - before == payload["created"]
        assert payload["created"] + payload["already_present"] == payload["received"]
        # what the API took, the validator takes too: one rule set
        items = json.loads(body)
        items = items if isinstance(items, list) else [items]
        good, errors = intake.validate_batch(items, now=NOW)
        assert errors == [] and all(t.office == OFFICE for t in good)
        return
    assert after == before, "a refused batch saved something"
    assert isinstance(payload["error"], str) and payload["error"]
    assert isinstance(payload["details"], dict)
    if status == 422:
        assert payload["details"]["errors"]
        for error in payload["details"]["errors"]:
            assert isinstance(error["index"], int) and error["index"] >= 0
            assert isinstance(error["field"], str) and error["field"]
            assert isinstance(error["message"], str) and error["message"]
    else:
        assert status in (400, 403, 413), payload
