"""The Store contract for accounts and credentials, and for the listing conditions beyond equality: sessions
with an idle expiry, API tokens, login throttling counters, the tenant of exchanges, weighings and
registrations, ``any_of`` with None and literal searches. Every backend passes exactly these tests (the
``store`` fixture of tests/conftest.py); ``test_contract.py`` holds the shared helpers and the per-listing
tests."""

from __future__ import annotations

import asyncio
import time

import pytest

from core.errors import Conflict, InvalidInput
from core.store import ListQuery
from tests.store.test_contract import T2, T, api_token, device, exchange, measurement, session_doc, weighing

NOW = 1741219200.0


# ---------------------------------------------------------------------------- sessions
async def test_a_session_ends_at_its_idle_expiry_unless_touched(store):
    await store.create_session({**session_doc("h1", "alice", NOW + 3600), "idle_expires_at": NOW + 600})
    await store.create_session(session_doc("h2", "alice", NOW + 3600))  # no idle expiry
    await store.create_session({**session_doc("h3", "bob", NOW + 3600), "idle_expires_at": None})
    assert (await store.get_session("h1", NOW + 599))["idle_expires_at"] == NOW + 600
    assert await store.get_session("h1", NOW + 600) is None
    assert await store.get_session("h2", NOW + 3599) is not None and await store.get_session("h2", NOW + 3600) is None
    assert await store.get_session("h3", NOW + 3599) is not None

    assert await store.touch_session("h1", NOW + 900, NOW + 300) is True
    got = await store.get_session("h1", NOW + 899)
    assert got["idle_expires_at"] == NOW + 900 and got["last_seen"] == NOW + 300 and got["login_id"] == "alice"
    assert await store.get_session("h1", NOW + 900) is None
    assert await store.touch_session("h2", NOW + 4000, NOW + 100) is True  # an idle expiry may be set later
    assert await store.get_session("h2", NOW + 3599) is not None  # never beyond the absolute expiry
    assert await store.get_session("h2", NOW + 3600) is None


async def test_touch_never_revives_a_session(store):
    await store.create_session({**session_doc("h1", "alice", NOW + 3600), "idle_expires_at": NOW + 600})
    await store.create_session(session_doc("h2", "alice", NOW + 60))
    await store.create_session(session_doc("h3", "bob", NOW + 3600))
    assert await store.touch_session("h1", NOW + 1200, NOW + 600) is False  # idle-expired at last_seen
    assert await store.get_session("h1", NOW + 599) is not None  # untouched
    assert (await store.get_session("h1", NOW + 599)).get("last_seen") is None
    assert await store.touch_session("h2", NOW + 600, NOW + 60) is False  # expired
    assert await store.revoke_session("h3") is True
    assert await store.touch_session("h3", NOW + 600, NOW) is False  # revoked
    assert await store.get_session("h3", NOW) is None
    assert await store.touch_session("nope", NOW + 600, NOW) is False


async def test_a_session_keeps_its_optional_fields(store):
    full = {
        **session_doc("h1", "alice", NOW + 3600),
        "idle_expires_at": NOW + 600,
        "created_at": NOW,
        "last_seen": NOW,
        "address": "192.0.2.7",
        "kind": "browser",
        "role": "operator",
        "tenant": T,
    }
    bare = {"token_hash": "h2", "login_id": "root", "expires_at": NOW + 60, "tenant": None, "role": None}
    await store.create_session(full)
    await store.create_session(bare)
    assert await store.get_session("h1", NOW) == full
    assert await store.get_session("h2", NOW) == bare


async def test_revoking_counts_only_what_it_revoked_now(store):
    await store.create_session(session_doc("h1", "alice", NOW + 3600))
    await store.create_session(session_doc("h2", "alice", NOW + 3600))
    assert await store.revoke_session("h1") is True
    assert await store.revoke_session("h1") is False
    assert await store.revoke_user_sessions("alice") == 1
    assert await store.revoke_user_sessions("alice") == 0


async def test_purge_removes_the_sessions_that_can_never_be_live_again(store):
    await store.create_session(session_doc("expired", "alice", NOW - 1))
    await store.create_session(session_doc("live", "alice", NOW + 3600))
    await store.create_session(session_doc("revoked", "bob", NOW + 3600))
    await store.create_session({**session_doc("idle", "bob", NOW + 3600), "idle_expires_at": NOW - 1})
    await store.create_session({**session_doc("awake", "bob", NOW + 3600), "idle_expires_at": NOW + 60})
    await store.create_session(session_doc("at_the_edge", "carol", NOW))
    await store.revoke_session("revoked")
    assert await store.purge_sessions(NOW) == 3
    assert await store.purge_sessions(NOW) == 0
    page = await store.browse(await common_db(store), "sessions", ListQuery(sort="token_hash"))
    assert [s["token_hash"] for s in page.items] == ["at_the_edge", "awake", "live"]
    assert await store.get_session("live", NOW) is not None and await store.get_session("awake", NOW) is not None


async def common_db(store) -> str:
    return next(e["db"] for e in await store.list_collections() if "sessions" in e["collections"])


# ---------------------------------------------------------------------------- API tokens
def listed_token(token: dict, revoked: bool = False) -> dict:
    return {**{k: v for k, v in token.items() if k != "token_hash"}, "revoked": revoked}


async def test_api_tokens_are_found_by_hash_until_revoked_or_expired(store):
    forever = api_token("tok1")
    brief = api_token("tok2", tenant=T2, expires_at=NOW + 60, scopes=[])
    system = api_token("tok3", tenant=None, created_at=NOW + 1)
    for token in (forever, brief, system):
        await store.create_api_token(token)
    assert await store.get_api_token("hash-tok1", NOW + 10**9) == forever
    assert await store.get_api_token("hash-tok2", NOW + 59) == brief
    assert await store.get_api_token("hash-tok2", NOW + 60) is None
    assert await store.get_api_token("hash-tok3", NOW) == system
    assert await store.get_api_token("tok1", NOW) is None and await store.get_api_token("nope", NOW) is None
    minimal = {k: v for k, v in api_token("tok4").items() if k not in ("tenant", "expires_at")}
    await store.create_api_token(minimal)
    assert await store.get_api_token("hash-tok4", NOW) == {**minimal, "tenant": None, "expires_at": None}

    with pytest.raises(Conflict):
        await store.create_api_token(api_token("tok1", token_hash="another"))
    with pytest.raises(Conflict):
        await store.create_api_token(api_token("tok9", token_hash="hash-tok1"))
    assert await store.get_api_token("another", NOW) is None
    assert (await store.list_api_tokens(None, ListQuery())).total == 4

    assert await store.revoke_api_token("tok1", T2) is False  # another tenant's token
    assert await store.get_api_token("hash-tok1", NOW) == forever
    assert await store.revoke_api_token("tok1", T) is True
    assert await store.get_api_token("hash-tok1", NOW) is None
    assert await store.revoke_api_token("tok1", T) is False and await store.revoke_api_token("tok1", None) is False
    assert await store.revoke_api_token("tok2", None) is True  # a system administrator: any tenant
    assert await store.revoke_api_token("tok3", T) is False  # a system-wide token is no tenant's
    assert await store.revoke_api_token("nope", None) is False
    assert await store.get_api_token("hash-tok3", NOW) == system


async def test_api_token_listings_never_show_the_hash(store):
    tokens = [
        api_token("tok1", created_at=NOW + 1, name="ci"),
        api_token("tok2", created_at=NOW + 3, tenant=T2),
        api_token("tok3", created_at=NOW + 2, tenant=None),
        api_token("tok4", created_at=NOW + 4, name="ci"),
    ]
    for token in tokens:
        await store.create_api_token(token)
    await store.revoke_api_token("tok4", T)
    everything = await store.list_api_tokens(None, ListQuery())
    assert everything.items == [
        listed_token(tokens[3], revoked=True),
        listed_token(tokens[1]),
        listed_token(tokens[2]),
        listed_token(tokens[0]),
    ]
    assert everything.total == 4 and all("token_hash" not in item for item in everything.items)
    page = await store.list_api_tokens(T, ListQuery())
    assert [t["token_id"] for t in page.items] == ["tok4", "tok1"] and page.total == 2
    page = await store.list_api_tokens(T, ListQuery(filters={"revoked": False}))
    assert [t["token_id"] for t in page.items] == ["tok1"]
    page = await store.list_api_tokens(T, ListQuery(filters={"tenant": T2}))  # both hold: none
    assert page.items == [] and page.total == 0
    page = await store.list_api_tokens(None, ListQuery(filters={"tenant": None}))
    assert [t["token_id"] for t in page.items] == ["tok3"]
    page = await store.list_api_tokens(None, ListQuery(any_of={"tenant": (None, T2)}, sort="created_at"))
    assert [t["token_id"] for t in page.items] == ["tok3", "tok2"]
    page = await store.list_api_tokens(T2, ListQuery(filters={"name": "ci"}))
    assert page.total == 0
    assert (await store.list_api_tokens("gas_nobody", ListQuery())).total == 0
    common = await common_db(store)
    browsed = await store.browse(common, "api_tokens", ListQuery())
    assert browsed.total == 4 and all("token_hash" not in item for item in browsed.items)


# ---------------------------------------------------------------------------- login throttling
async def test_login_failures_are_counted_per_key_and_cleared(store):
    now = time.time()
    alice, address = "account:alice@example.com", "address:2001:db8::7"
    for at in (now - 300, now - 200, now - 100):
        await store.note_login_failure(alice, at)
    await store.note_login_failure(address, now - 50)
    assert await store.count_login_failures(alice, now - 3600) == 3
    assert await store.count_login_failures(alice, now - 200) == 2
    assert await store.count_login_failures(alice, now) == 0
    assert await store.count_login_failures(address, 0.0) == 1
    assert await store.count_login_failures("account:bob", 0.0) == 0
    await store.clear_login_failures(alice)
    assert await store.count_login_failures(alice, 0.0) == 0
    assert await store.count_login_failures(address, 0.0) == 1
    await store.clear_login_failures("account:nobody")


async def test_login_failures_older_than_a_day_are_not_kept(store):
    now = time.time()
    await store.note_login_failure("address:192.0.2.7", now - 2 * 86400)
    await store.note_login_failure("address:192.0.2.7", now - 86400 - 60)
    await store.note_login_failure("address:192.0.2.7", now - 10)
    assert await store.count_login_failures("address:192.0.2.7", 0.0) == 1


async def test_at_most_the_newest_failures_of_a_key_are_kept(store):
    assert store.login_failures_kept == 1000  # the contract; smaller here, as MongoDB test servers are slow
    store.login_failures_kept = 50
    now = time.time()
    times = [now - 2000 + i for i in range(55)]
    for start in range(0, len(times), 20):  # concurrent callers never remove more than the bound allows
        await asyncio.gather(*(store.note_login_failure("account:mallory", at) for at in times[start : start + 20]))
    await store.note_login_failure("account:other", now)
    assert await store.count_login_failures("account:mallory", 0.0) == 50
    assert await store.count_login_failures("account:mallory", times[5]) == 50  # the oldest five went
    assert await store.count_login_failures("account:mallory", times[6]) == 49
    assert await store.count_login_failures("account:other", 0.0) == 1
    for at in (times[0], times[-1], times[-1]):  # an old one goes at once; ties keep the bound
        await store.note_login_failure("account:mallory", at)
    assert await store.count_login_failures("account:mallory", 0.0) == 50
    assert await store.count_login_failures("account:mallory", times[-1]) == 3


# ---------------------------------------------------------------------------- tenants of exchanges, weighings, registrations
async def test_exchanges_name_their_device_and_tenant_when_known(store):
    plain = exchange(NOW)
    attributed = {**exchange(NOW + 1), "device_uid": "0000AB01", "tenant": T}
    unknown = {**exchange(NOW + 2), "device_uid": None, "tenant": None}
    other = {**exchange(NOW + 3), "device_uid": "0000CD01", "tenant": T2}
    for entry in (plain, attributed, unknown, other):
        await store.log_exchange(entry)
    page = await store.list_exchanges(ListQuery(sort="at"))
    assert page.items == [plain, attributed, unknown, other]  # back as written: absent stays absent
    assert "tenant" not in page.items[0] and "device_uid" not in page.items[0]

    async def ats(query: ListQuery) -> list[float]:
        return [e["at"] for e in (await store.list_exchanges(query)).items]

    assert await ats(ListQuery(filters={"tenant": T})) == [NOW + 1]
    assert await ats(ListQuery(filters={"device_uid": "0000CD01"})) == [NOW + 3]
    assert await ats(ListQuery(filters={"tenant": None}, sort="at")) == [NOW, NOW + 2]
    assert await ats(ListQuery(any_of={"tenant": (T, None)}, sort="at")) == [NOW, NOW + 1, NOW + 2]
    assert await ats(ListQuery(any_of={"tenant": (T, T2)}, sort="at")) == [NOW + 1, NOW + 3]
    assert await ats(ListQuery(any_of={"device_uid": ("0000AB01",)}, filters={"tenant": T2})) == []


async def test_weighings_keep_their_tenant(store):
    first = await store.commit_weighing(weighing("C001", "arrival", 1000.0))
    second = await store.commit_weighing({**weighing("C002", "arrival", 1010.0), "tenant": T})
    third = await store.commit_weighing({**weighing("C003", "shipping", 1020.0), "tenant": None})
    assert "tenant" not in first and second["tenant"] == T and third["tenant"] is None
    assert (await store.search_weighings(ListQuery())).items == [first, second, third]
    page = await store.search_weighings(ListQuery(filters={"tenant": T}))
    assert page.items == [second]
    page = await store.search_weighings(ListQuery(filters={"tenant": None}))
    assert page.items == [first, third]
    page = await store.search_weighings(ListQuery(any_of={"tenant": (T, T2)}, search="c00"))
    assert page.items == [second]


async def test_registrations_name_a_tenant_and_can_be_deleted(store):
    base = {"email": "x@example.com", "flag": False, "regdate": "2025-03-06 10:00:00"}
    await store.add_registration({**base, "ID": "dave", "tenant": T})
    await store.add_registration({**base, "ID": "erin", "tenant": None, "regdate": "2025-03-06 11:00:00"})
    await store.add_registration({**base, "ID": "fay", "regdate": "2025-03-06 12:00:00"})
    assert (await store.get_registration("dave"))["tenant"] == T
    page = await store.list_registrations(ListQuery(filters={"tenant": T}))
    assert [r["ID"] for r in page.items] == ["dave"]
    page = await store.list_registrations(ListQuery(filters={"tenant": None}))
    assert [r["ID"] for r in page.items] == ["erin", "fay"]
    assert await store.delete_registration("dave") is True
    assert await store.get_registration("dave") is None
    assert await store.delete_registration("dave") is False
    assert [r["ID"] for r in (await store.list_registrations(ListQuery())).items] == ["erin", "fay"]
    await store.add_registration({**base, "ID": "dave"})  # the ID is free again
    assert (await store.get_registration("dave")).get("tenant", "<missing>") == "<missing>"


# ---------------------------------------------------------------------------- any_of with None, literal searches
async def test_none_among_any_of_matches_a_missing_field(store):
    await store.add_device(T, device("0000AB01"))
    await store.add_device(T, {"device_uid": "0000AB02", "flag": True})  # no customer_no
    await store.add_device(T, device("0000AB03", customer_no=None))
    page = await store.list_devices(T, ListQuery(any_of={"customer_no": (None,)}))
    assert [d["device_uid"] for d in page.items] == ["0000AB02", "0000AB03"]
    page = await store.list_devices(T, ListQuery(any_of={"customer_no": (None, "S0000AB01")}))
    assert [d["device_uid"] for d in page.items] == ["0000AB01", "0000AB02", "0000AB03"] and page.total == 3
    page = await store.list_devices(T, ListQuery(any_of={"customer_no": ("S0000AB01", "S-none")}))
    assert [d["device_uid"] for d in page.items] == ["0000AB01"]
    await store.record_measurements([measurement("1", NOW), measurement("2", NOW + 1, tenant=T)])
    page = await store.list_measurements(ListQuery(any_of={"tenant": (None,)}))
    assert [m["device_id"] for m in page.items] == ["1"]
    page = await store.list_measurements(ListQuery(any_of={"tenant": tuple(f"gas_{i}" for i in range(99)) + (T,)}))
    assert [m["device_id"] for m in page.items] == ["2"]


LITERAL_NAMES = {
    "u1": "100% sure",
    "u2": "a_b",
    "u3": "x.*y",
    "u4": "f(x)",
    "u5": "back\\slash",
    "u6": "Ärger",
    "u7": "cost $5 [net]",
    "u8": "axb 100 sure xAAAy fx backslash",  # what a pattern (LIKE or regex) would match instead
}


@pytest.mark.parametrize(
    "text, found",
    [
        ("%", ["u1"]),
        ("100%", ["u1"]),
        ("_", ["u2"]),
        ("a_b", ["u2"]),
        (".*", ["u3"]),
        ("x.*y", ["u3"]),
        ("*", ["u3"]),
        (".", ["u3"]),
        ("(", ["u4"]),
        ("f(x)", ["u4"]),
        ("\\", ["u5"]),
        ("k\\s", ["u5"]),
        ("äRGER", ["u6"]),
        ("$5", ["u7"]),
        ("[net]", ["u7"]),
        ("^", []),
        ("100", ["u1", "u8"]),
        ("U1", ["u1"]),  # the ID is searched too, ignoring case
        ("SURE", ["u1", "u8"]),
    ],
)
async def test_a_search_is_taken_literally_and_ignores_case(store, text, found):
    for login_id, name in LITERAL_NAMES.items():
        await store.add_user(T, {"ID": login_id, "name": name, "role": "user", "flag": True})
    page = await store.list_users(T, ListQuery(search=text))
    assert [u["ID"] for u in page.items] == found and page.total == len(found)


async def test_a_search_combines_with_the_other_conditions(store):
    await store.add_user(T, {"ID": "alice", "name": "Alice", "email": "alice@example.com", "role": "admin"})
    await store.add_user(T, {"ID": "bob", "name": "Bob", "email": "bob@example.com", "role": "user"})
    await store.add_user(T, {"ID": "carol", "name": "Carol", "email": "carol@example.org", "role": "user"})
    await store.add_user(T2, {"ID": "dave", "name": "Dave", "email": "dave@example.com", "role": "user"})
    await store.add_user(T, {"ID": "erin", "name": 5, "email": None, "role": "user"})  # not strings: never found

    async def ids(query: ListQuery) -> list[str]:
        return [u["ID"] for u in (await store.list_users(T, query)).items]

    assert await ids(ListQuery(search="EXAMPLE.COM")) == ["alice", "bob"]
    assert await ids(ListQuery(search="example", filters={"role": "user"})) == ["bob", "carol"]
    assert await ids(ListQuery(search="example", any_of={"ID": ("alice", "carol")}, descending=True)) == [
        "carol",
        "alice",
    ]
    assert await ids(ListQuery(search="o", limit=1, offset=1)) == ["bob"]
    assert await ids(ListQuery(search="5")) == []
    with pytest.raises(InvalidInput):
        await store.list_readings(T, ListQuery(search="x"))


async def test_a_dead_letter_is_read_back_by_the_id_add_gave(store):
    at = time.time()
    entry_id = await store.add_dead_letter(
        {"device_type": "gas_meter", "ip": "198.51.100.9", "port": 5004, "at": at, "data": b"\x00\xff", "error": "x"}
        | {"path": "report"}
    )
    found = await store.get_dead_letter(entry_id)
    assert found["id"] == entry_id and found["data"] == b"\x00\xff" and found["path"] == "report"
    assert "at_date" not in found and "_id" not in found
    assert await store.get_dead_letter("424242") is None
    assert await store.get_dead_letter("not-an-id") is None
    with pytest.raises(InvalidInput):
        await store.get_dead_letter({"$ne": None})
