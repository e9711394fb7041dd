"""What the tests of the account routes share: sessions as bearer headers, and the check that no answer
carries a password hash."""

from __future__ import annotations

import httpx

from tests.web.support import PASSWORD, bearer, login


async def session(client: httpx.AsyncClient, login_id: str, password: str = PASSWORD) -> dict[str, str]:
    """Log ``login_id`` in and return its bearer header. The cookie is dropped, so the next login on the
    same client does not end this session (a login ends the session it was sent with)."""
    token = await login(client, login_id, password)
    client.cookies.clear()
    return bearer(token)


def no_password_hash(response: httpx.Response) -> httpx.Response:
    """``response``, after checking that its text names no password hash."""
    assert "passwd" not in response.text and "scrypt$" not in response.text, response.text
    return response
