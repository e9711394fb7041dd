"""Helpers shared by the web and scale tests: a hand-moved clock."""

from __future__ import annotations

#: 2025-12-18 12:00:00 +09:00
T0 = 1_766_026_800.0


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# --------------------------------------------------------------------------- accounts and logins

import contextlib  # noqa: E402
import time  # noqa: E402

import httpx  # noqa: E402

from core.config import Config  # noqa: E402
from core.security.passwords import hash_password  # noqa: E402
from core.security.tokens import new_session_token, token_hash  # noqa: E402

PASSWORD = "correct horse battery"
#: one test password hashed once (scrypt is slow on purpose)
PASSWORD_HASH = hash_password(PASSWORD)
ORIGIN = "http://specgate.test"


async def add_user(store, tenant: str, login: str, role: str, *, system_admin: bool = False, **fields) -> dict:
    """A user of ``tenant`` with ``PASSWORD``, as ``specgate users add`` creates one."""
    await store.add_tenant(tenant)
    user = {
        "ID": login,
        "name": login.title(),
        "email": f"{login}@example.com",
        "role": role,
        "lang": "eng",
        "flag": True,
        "passwd": PASSWORD_HASH,
        "regdate": "2025-03-06 00:00:00",
        **fields,
    }
    if system_admin:
        user["system_admin"] = True
    await store.add_user(tenant, user)
    return user


async def login(client: httpx.AsyncClient, login_id: str, password: str = PASSWORD) -> str:
    """Log in through the API; returns the session token (the client also keeps the cookie)."""
    response = await client.post("/api/v1/session", json={"login": login_id, "password": password})
    assert response.status_code == 200, response.text
    return response.json()["token"]


async def stored_session(
    store, tenant: str | None, login: str, role: str, system_admin: bool = False, now: float | None = None
) -> str:
    """A live session made directly in the store (no password hashing, for tests that make many); its token."""
    token = new_session_token()
    now = time.time() if now is None else now
    await store.create_session(
        {
            "token_hash": token_hash(token),
            "login_id": login,
            "tenant": tenant,
            "role": role,
            "system_admin": system_admin,
            "created_at": now,
            "expires_at": now + 3600,
            "idle_expires_at": now + 3600,
        }
    )
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@contextlib.asynccontextmanager
async def app_client(store, config: Config | None = None, clock=None, client_host: str = "203.0.113.9", **kwargs):
    """An httpx client on a new app over ``store``, calling from ``client_host`` (not a trusted network by
    default, so anonymous callers are refused as on the Internet)."""
    from web.app import create_app

    app = create_app(config or Config(), store, clock=clock or Clock(), **kwargs)
    transport = httpx.ASGITransport(app=app, client=(client_host, 50000))
    async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as client:
        client.app = app
        yield client
