"""One request to the compatible endpoint as its handlers see it: the body, the caller the body's
``userseq`` belongs to, and what the app offers (store, accounts, time zone, clock).

Tenant and role always come from the session. The body's ``login_id`` and ``db_name`` are the original
clients' claims of who they are: when present they must match the session, so a client never acts on
another tenant while believing it acts on its own; ``role``, ``level`` and ``user_id`` grant nothing.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any

from starlette.requests import Request

from core.security.accounts import Accounts
from core.security.roles import Principal, allowed
from core.store import ListQuery, Page, Store
from web.api.devices import installer_scope
from web.compat.envelope import PERMISSION_DENIED, UNAUTHORIZED, Refused

#: most rows one answer lists when the original listed everything (its listings had no limit)
MAX_ROWS = 10_000
PAGE = 1000


@dataclass
class Exchange:
    """A request before (or without) authentication: login, logout, register."""

    request: Request
    body: dict[str, Any]
    #: ``time.monotonic()`` when the request arrived
    started: float

    @property
    def store(self) -> Store:
        store: Store = self.request.app.state.store
        return store

    @property
    def accounts(self) -> Accounts:
        accounts: Accounts = self.request.app.state.accounts
        return accounts

    @property
    def tz(self) -> tzinfo:
        zone: tzinfo = self.request.app.state.config.tz
        return zone

    def now(self) -> float:
        return float(self.request.app.state.clock())

    def elapsed(self) -> float:
        """Seconds spent on the request so far, for the original timing keys (``elasped_time``, ...)."""
        return round(time.monotonic() - self.started, 2)


@dataclass
class Call(Exchange):
    """An authenticated request; ``caller`` is the session's principal."""

    caller: Principal

    @property
    def tenant(self) -> str:
        assert self.caller.tenant is not None
        return self.caller.tenant

    def may(self, permission: str) -> bool:
        return allowed(self.caller, permission)

    def require(self, permission: str) -> None:
        if not self.may(permission):
            raise Refused(PERMISSION_DENIED)

    @property
    def own_devices_only(self) -> bool:
        """An installer sees and changes only the devices it installed (``installer_id``), as in the REST
        API."""
        return installer_scope(self.caller) is not None

    def sees(self, device: dict[str, Any] | None) -> bool:
        return device is not None and (not self.own_devices_only or device.get("installer_id") == self.caller.login_id)

    async def device(self, device_uid: str) -> dict[str, Any] | None:
        """The tenant's device ``device_uid`` when the caller may see it, else None (whether it exists or
        not: an installer learns nothing of other installers' devices)."""
        found = await self.store.get_device(self.tenant, device_uid)
        return found if self.sees(found) else None

    def device_query(self, filters: dict[str, Any], **options: Any) -> ListQuery:
        """A device listing limited to what the caller may see (an installer: ``installer_id`` is itself,
        whatever the body's filter said)."""
        if self.own_devices_only:
            filters = {**filters, "installer_id": self.caller.login_id}
        return ListQuery(filters=filters, **options)


async def authenticate(exchange: Exchange) -> Principal:
    """The session the body's ``userseq`` belongs to, checked against the body's claims; ``Refused``
    with the original ``{"code": 403, "message": "Unauthorized"}`` otherwise."""
    body = exchange.body
    token = body.get("userseq")
    caller = await exchange.accounts.authenticate(token) if isinstance(token, str) else None
    if caller is None or caller.kind != "session" or caller.tenant is None:
        raise Refused(UNAUTHORIZED)
    for claim, actual in (("login_id", caller.login_id), ("db_name", caller.tenant)):
        value = body.get(claim)
        if value not in (None, "") and value != actual:
            raise Refused(UNAUTHORIZED)
    return caller


async def all_items(
    fetch: Callable[[ListQuery], Awaitable[Page]], query: ListQuery, cap: int = MAX_ROWS
) -> tuple[list[dict[str, Any]], int]:
    """Every item of a listing (at most ``cap``) and the listing's total, page by page."""
    items: list[dict[str, Any]] = []
    total = 0
    while len(items) < cap:
        limit = min(PAGE, cap - len(items))
        page = await fetch(dataclasses.replace(query, limit=limit, offset=query.offset + len(items)))
        total = page.total
        items.extend(page.items)
        if len(page.items) < limit or len(items) >= total - query.offset:
            break
    return items, total
