"""Logins, sessions and API tokens over the store: what every HTTP surface (the REST API, the compatible
endpoint, the live feed) authenticates with.

Everything lives in the store, so any web process can check a session another one issued, and a logout,
a password change or a disabled user ends that user's sessions everywhere at once. Login failures are
counted in the store as well (per account and per address), so the limit holds across processes.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from core.errors import InvalidInput
from core.security.passwords import hash_password, needs_rehash, verify_password
from core.security.roles import Principal, canonical_role
from core.security.tokens import API_TOKEN_PREFIX, new_api_token, new_session_token, plausible_token, token_hash
from core.store import Store

log = logging.getLogger("specgate.auth")

#: checked when the login ID is unknown, so an unknown ID costs as much as a wrong password
_DUMMY_HASH = hash_password("specgate-no-such-user")
#: a session's idle expiry is moved forward at most once per this many seconds (one write, not one per request)
TOUCH_INTERVAL = 60.0
#: ended sessions are removed from the store by a login at most once per this many seconds per process
PURGE_INTERVAL = 3600.0


@dataclass(frozen=True)
class AuthSettings:
    session_idle_timeout: float = 30 * 60.0
    session_lifetime: float = 12 * 3600.0
    #: failed logins allowed per account, and per client address, within ``failure_window`` seconds
    max_account_failures: int = 5
    max_address_failures: int = 20
    failure_window: float = 15 * 60.0
    #: self-registrations accepted per client address per hour
    registrations_per_hour: int = 5


class LoginRefused(Exception):
    """A login that did not succeed. ``reason`` is for the log only; the caller always gets one generic
    answer, so nobody learns whether an ID exists, a password was wrong or an account is disabled."""

    def __init__(self, reason: str, throttled: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.throttled = throttled


class PasswordRejected(Exception):
    """A password change refused: the current password is wrong or the new one too weak."""


MIN_PASSWORD_LENGTH = 8
#: a login ID, as the API and ``specgate users add`` both take it
LOGIN_RE = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")


def check_new_password(password: object) -> str:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordRejected(f"a password must have at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > 1024:
        raise PasswordRejected("a password must have at most 1024 characters")
    return password


def public_user(user: Mapping[str, Any]) -> dict[str, Any]:
    """A user document as the API shows it: never the password hash."""
    return {key: value for key, value in user.items() if key not in ("passwd", "userseq")}


@dataclass(frozen=True)
class LoginResult:
    principal: Principal
    token: str
    user: dict[str, Any]


class Accounts:
    """Authentication over ``store``; ``clock`` says what "now" is (tests move it)."""

    def __init__(self, store: Store, settings: AuthSettings, clock: Callable[[], float]) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self._next_purge = 0.0

    # ------------------------------------------------------------------ login and logout
    async def login(self, login_id: object, password: object, address: str) -> LoginResult:
        """Check the password, open a new session (a new token: sessions rotate at every login) and upgrade
        a legacy or outdated hash. Raises :class:`LoginRefused`."""
        if not isinstance(login_id, str) or not login_id or len(login_id) > 64 or not isinstance(password, str):
            raise LoginRefused("no login ID or password")
        now = self.clock()
        keys = (f"account:{login_id}", f"address:{address}")
        await self._check_throttle(keys, now)
        try:
            found = await self.store.find_user(login_id)
        except InvalidInput:
            found = None
        encoded = found[1].get("passwd") if found else None
        if not verify_password(password, encoded if isinstance(encoded, str) else _DUMMY_HASH) or found is None:
            await self._fail(keys, now)
            raise LoginRefused("unknown login ID" if found is None else "wrong password")
        tenant, user = found
        role = canonical_role(user.get("role"))
        if user.get("flag") is not True or role is None:
            await self._fail(keys, now)
            raise LoginRefused("account disabled" if role else f"unknown role {user.get('role')!r}")
        await self.store.clear_login_failures(keys[0])
        if now >= self._next_purge:  # logins open sessions, so they also sweep the ended ones away
            self._next_purge = now + PURGE_INTERVAL
            await self.store.purge_sessions(now)
        if isinstance(encoded, str) and needs_rehash(encoded):
            await self.store.update_user(tenant, login_id, {"passwd": hash_password(password)})
            log.info("login %s: password hash upgraded to a salted one", login_id)
        token = new_session_token()
        principal = Principal(
            login_id=login_id,
            tenant=tenant,
            role=role,
            system_admin=user.get("system_admin") is True,
            token_hash=token_hash(token),
        )
        await self.store.create_session(
            {
                "token_hash": principal.token_hash,
                "login_id": login_id,
                "tenant": tenant,
                "role": role,
                "system_admin": principal.system_admin,
                "created_at": now,
                "last_seen": now,
                "expires_at": now + self.settings.session_lifetime,
                "idle_expires_at": now + self.settings.session_idle_timeout,
                "address": address,
            }
        )
        return LoginResult(principal, token, public_user(user))

    async def _check_throttle(self, keys: tuple[str, str], now: float) -> None:
        since = now - self.settings.failure_window
        limits = (self.settings.max_account_failures, self.settings.max_address_failures)
        for key, limit in zip(keys, limits, strict=True):
            if await self.store.count_login_failures(key, since) >= limit:
                raise LoginRefused(f"too many failed logins for {key}", throttled=True)

    async def _fail(self, keys: tuple[str, str], now: float) -> None:
        for key in keys:
            await self.store.note_login_failure(key, now)

    async def logout(self, caller: Principal) -> None:
        if caller.kind == "session" and caller.token_hash:
            await self.store.revoke_session(caller.token_hash)

    async def end_sessions(self, login_id: str) -> int:
        """End every session of ``login_id`` (password change, disabled user, changed role)."""
        return await self.store.revoke_user_sessions(login_id)

    # ------------------------------------------------------------------ who is calling
    async def authenticate(self, token: object) -> Principal | None:
        """The caller a session or API token belongs to; None when it is unknown, expired or revoked."""
        if not plausible_token(token):
            return None
        assert isinstance(token, str)
        hashed = token_hash(token)
        now = self.clock()
        if token.startswith(API_TOKEN_PREFIX):
            record = await self.store.get_api_token(hashed, now)
            if record is None:
                return None
            return Principal(
                login_id=f"token:{record['token_id']}",
                tenant=record.get("tenant"),
                role="token",
                kind="token",
                scopes=frozenset(record.get("scopes") or ()),
                token_hash=hashed,
            )
        session = await self.store.get_session(hashed, now)
        if session is None:
            return None
        role = canonical_role(session.get("role"))
        if role is None:
            return None
        idle = self.settings.session_idle_timeout
        if float(session.get("idle_expires_at") or now + idle) - now < idle - TOUCH_INTERVAL:
            await self.store.touch_session(hashed, now + idle, now)
        return Principal(
            login_id=session["login_id"],
            tenant=session.get("tenant"),
            role=role,
            system_admin=session.get("system_admin") is True,
            token_hash=hashed,
        )

    # ------------------------------------------------------------------ passwords
    async def change_password(self, caller: Principal, current: object, new: object) -> None:
        """Check ``current`` and store ``new``; every session of the user ends (the caller logs in again)."""
        if caller.kind != "session" or caller.tenant is None:
            raise PasswordRejected("only a logged-in user can change its password")
        user = await self.store.get_user(caller.tenant, caller.login_id)
        encoded = user.get("passwd") if user else None
        if not isinstance(current, str) or not verify_password(current, encoded if isinstance(encoded, str) else ""):
            raise PasswordRejected("the current password is not correct")
        await self.set_password(caller.tenant, caller.login_id, check_new_password(new))

    async def set_password(self, tenant: str, login_id: str, password: str) -> None:
        await self.store.update_user(tenant, login_id, {"passwd": hash_password(check_new_password(password))})
        await self.end_sessions(login_id)

    # ------------------------------------------------------------------ registrations
    async def registration_allowed(self, address: str) -> bool:
        """Whether ``address`` may register once more (and counts this attempt)."""
        key, now = f"register:{address}", self.clock()
        if await self.store.count_login_failures(key, now - 3600.0) >= self.settings.registrations_per_hour:
            return False
        await self.store.note_login_failure(key, now)
        return True

    # ------------------------------------------------------------------ API tokens
    async def create_api_token(
        self, tenant: str | None, name: str, scopes: list[str], created_by: str, expires_at: float | None
    ) -> tuple[str, dict[str, Any]]:
        """A new token: ``(secret, record)``. The secret is shown once; the store keeps its hash."""
        token_id, secret = new_api_token()
        record = {
            "token_id": token_id,
            "token_hash": token_hash(secret),
            "tenant": tenant,
            "name": name,
            "scopes": list(scopes),
            "created_by": created_by,
            "created_at": self.clock(),
            "expires_at": expires_at,
        }
        await self.store.create_api_token(record)
        shown = {key: value for key, value in record.items() if key != "token_hash"}
        shown["revoked"] = False
        return secret, shown


def legacy_userseq(login_id: str) -> str:
    """The token the original server derived from a login ID (``md5(ID + "hanskim")``): what a forged
    request carries. Only tests and the compatibility notes use it, to show it is refused."""
    return hashlib.md5((login_id + "hanskim").encode("utf-8")).hexdigest()
