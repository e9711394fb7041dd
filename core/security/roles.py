"""Who may do what: the one table of roles and permissions every HTTP route is checked against.

A caller is a :class:`Principal`: a user's login session, a machine's API token, or an anonymous client of
a trusted network (the scale-gateway clients the original served behind its firewall). Its tenant, role
and system-administrator flag come from the session or the token, never from a request.

Each permission names the roles of a tenant that hold it, whether a system administrator holds it beyond
them, the API-token scope that grants it, and whether an anonymous caller from ``web.trusted_networks``
holds it. ``docs/security.md`` prints this table; a test keeps the two equal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

#: the roles of a tenant, most powerful first, with the numeric level the original's v3 login returned
ROLE_LEVELS: dict[str, int] = {"admin": 16, "operator": 8, "installer": 4, "user": 2, "viewer": 1}
ROLES: tuple[str, ...] = tuple(ROLE_LEVELS)
#: roles of the original system stored under another name
ROLE_ALIASES: dict[str, str] = {"guest": "viewer"}
#: API-token scopes and what they are for
TOKEN_SCOPES: dict[str, str] = {
    "scale": "the scale-gateway routes (a scale's latest weight, committing a weighing)",
    "read": "read-only access to the tenant's devices, readings, events, weighings and measurements",
    "metrics": "the Prometheus and JSON metrics",
}

CallerKind = Literal["session", "token", "trusted"]


def canonical_role(role: object) -> str | None:
    """The role as specgate names it (``guest`` is ``viewer``), or None for an unknown one."""
    if not isinstance(role, str):
        return None
    role = ROLE_ALIASES.get(role, role)
    return role if role in ROLE_LEVELS else None


@dataclass(frozen=True)
class Principal:
    """An authenticated caller.

    ``tenant`` is None only for an anonymous trusted-network caller and for a token of no tenant (a
    system administrator's). ``token_hash`` identifies the session or token it came from.
    """

    login_id: str
    tenant: str | None
    role: str
    kind: CallerKind = "session"
    system_admin: bool = False
    scopes: frozenset[str] = field(default_factory=frozenset)
    token_hash: str | None = None
    #: how a session's token arrived: ``cookie`` (ambient, so writes are checked for CSRF) or ``bearer``
    via: Literal["cookie", "bearer", "body", "none"] = "none"

    @property
    def level(self) -> int:
        return ROLE_LEVELS.get(self.role, 0)


@dataclass(frozen=True)
class Permission:
    name: str
    description: str
    roles: frozenset[str]
    #: a system administrator holds it even without one of ``roles`` in its tenant
    system_admin: bool = False
    #: an API token with this scope holds it
    scope: str | None = None
    #: an anonymous caller from ``web.trusted_networks`` holds it
    trusted_networks: bool = False


def _roles(*names: str) -> frozenset[str]:
    unknown = set(names) - set(ROLES)
    assert not unknown, unknown
    return frozenset(names)


_EVERYONE = _roles(*ROLES)
_STAFF = _roles("admin", "operator")

PERMISSIONS: dict[str, Permission] = {
    permission.name: permission
    for permission in (
        Permission("self", "see and end one's own session, change one's own password", _EVERYONE, True),
        Permission(
            "devices.read", "list and read devices (an installer: only those it installed)", _EVERYONE, True, "read"
        ),
        Permission(
            "devices.update",
            "change a device's fields its role may change (an installer: only its own devices)",
            _roles("admin", "operator", "installer"),
            True,
        ),
        Permission(
            "devices.release", "release manufactured devices to the tenant and an installer", _roles("admin"), True
        ),
        Permission(
            "data.read", "readings, usage, events and measurements of the devices one may read", _EVERYONE, True, "read"
        ),
        Permission("exchanges.read", "the raw exchange log of the tenant's devices", _STAFF, True),
        Permission("dead_letters.read", "frames that failed to parse, from every tenant and none", frozenset(), True),
        Permission("users.manage", "list, create, update and disable the tenant's users", _roles("admin"), True),
        Permission("registrations.manage", "approve or reject self-registrations", _roles("admin"), True),
        Permission("subscribers.read", "list and read subscribers", _roles("admin", "operator", "installer"), True),
        Permission("subscribers.manage", "create, import and delete subscribers", _STAFF, True),
        Permission(
            "subscribers.bind",
            "bind a subscriber to a device and unbind it",
            _roles("admin", "operator", "installer"),
            True,
        ),
        Permission("weighings.read", "the weighing log and cylinder histories", _EVERYONE, True, "read"),
        Permission("scale.read", "a scale's latest weight", _STAFF, True, "scale", True),
        Permission("scale.commit", "commit a weighing from a scale's latest weight", _STAFF, True, "scale", True),
        Permission("tokens.manage", "create, list and revoke the tenant's API tokens", _roles("admin"), True),
        Permission(
            "database.browse", "the legacy database viewer, over the tenant's own collections", _roles("admin"), True
        ),
        Permission("metrics.read", "the Prometheus and JSON metrics", frozenset(), True, "metrics", True),
        Permission("plugins.read", "the plugins, specs and device types this server runs", _STAFF, True),
        Permission("tenants.manage", "list and create tenants and their first administrator", frozenset(), True),
    )
}


def allowed(caller: Principal, permission: str) -> bool:
    """Whether ``caller`` holds ``permission``; the only place the table above is read."""
    rule = PERMISSIONS[permission]
    if caller.kind == "trusted":
        return rule.trusted_networks
    if caller.kind == "token":
        return rule.scope is not None and rule.scope in caller.scopes
    if caller.system_admin and rule.system_admin:
        return True
    return caller.role in rule.roles


def holders(permission: str) -> list[str]:
    """Who holds ``permission``, as the role matrix in docs/security.md lists them."""
    rule = PERMISSIONS[permission]
    names = [role for role in ROLES if role in rule.roles]
    if rule.system_admin:
        names.append("system administrator")
    if rule.scope:
        names.append(f"token scope `{rule.scope}`")
    if rule.trusted_networks:
        names.append("anonymous from a trusted network")
    return names
