"""``user`` (list, view, modify, add, delete, approve) and ``floating_user`` (list, approve), with the v2
``users`` page that maps to them.

Managing users and approving registrations is an administrator's (``users.manage``,
``registrations.manage``); anyone logged in may read and edit its own profile, but not its own role or
flag. A password hash is never shown, and a new one is always salted.
"""

from __future__ import annotations

import functools
from typing import Any

from core.errors import Conflict
from core.security.accounts import PasswordRejected, check_new_password, public_user
from core.security.roles import ROLE_LEVELS, canonical_role
from core.store import ListQuery
from web.api.forms import LANGUAGES, email_field, lang_field, new_user, role_field
from web.api.forms import login_id as checked_login_id
from web.api.users import check_may_change, ensure_login_free
from web.compat.context import Call, all_items
from web.compat.envelope import PERMISSION_DENIED, Refused, Reply, bad_request, listing, row
from web.compat.inputs import field_names, identifier, object_of, text

HIDDEN = frozenset({"passwd", "userseq"})


def _target(call: Call, *sources: dict[str, Any] | None, names: tuple[str, ...] = ("ID", "user_id")) -> str | None:
    for source in sources:
        for name in names:
            value = identifier(source, name) if source is not None else None
            if value:
                return value
    return None


def _self_or_manager(call: Call, login_id: str) -> None:
    if login_id != call.caller.login_id:
        call.require("users.manage")


async def list_users(call: Call) -> Reply:
    """Every user of the tenant for an administrator; one's own record for anyone else."""
    fields = field_names(call.body)
    login_id = identifier(call.body, "user_id")
    if not call.may("users.manage"):
        login_id = call.caller.login_id
    query = ListQuery(filters={"ID": login_id} if login_id else {})
    users, total = await all_items(functools.partial(call.store.list_users, call.tenant), query)
    rows = [row(public_user(user), fields, call.tz, HIDDEN) for user in users]
    return listing(rows, total, elasped_time=call.elapsed())


async def view_user(call: Call) -> Reply:
    login_id = _target(call, call.body, object_of(call.body, "data"), names=("user_id", "ID"))
    if not login_id:
        raise bad_request("데이터베이스 이름과 사용자 ID가 필요합니다.")
    _self_or_manager(call, login_id)
    user = await call.store.get_user(call.tenant, login_id)
    return {
        "code": 200,
        "data": None if user is None else row(public_user(user), field_names(call.body), call.tz, HIDDEN),
    }


def _role_change(call: Call, login_id: str, role: str | None, flag: object) -> None:
    """Nobody changes its own role or disables itself (an administrator would lock itself out)."""
    if login_id != call.caller.login_id:
        return
    if (role is not None and canonical_role(role) != call.caller.role) or flag is False:
        if not call.may("users.manage"):
            raise Refused(PERMISSION_DENIED)
        raise bad_request("you cannot change your own role or disable your own account")


def _role(value: str | None) -> str | None:
    """A role as specgate stores it (``guest`` is ``viewer``)."""
    return None if value is None else role_field(value)


async def _changeable(call: Call, login_id: str) -> dict[str, Any] | None:
    """The tenant's user ``login_id`` when the caller may change it (a system administrator's account
    only by a system administrator, as in the REST API)."""
    user = await call.store.get_user(call.tenant, login_id)
    if user is not None:
        check_may_change(call.caller, login_id, user)
    return user


async def modify_user(call: Call) -> Reply:
    data = object_of(call.body, "data")
    if data is None:
        return await _modify_v2(call)
    login_id = identifier(data, "ID")
    values = {name: text(data, name) for name in ("name", "email", "user_role", "lang")}
    if not login_id or not all(values.values()):
        raise bad_request("데이터베이스 이름, 사용자 ID, 수정할 데이터가 필요합니다.")
    _self_or_manager(call, login_id)
    role, flag = _role(values["user_role"]), data.get("flag")
    if flag is not None and not isinstance(flag, bool):
        raise bad_request("flag must be true or false")
    _role_change(call, login_id, role, flag)
    assert role is not None
    changes: dict[str, Any] = {
        "name": values["name"],
        "email": email_field(data),
        "role": role,
        "level": ROLE_LEVELS[role],
        "lang": lang_field(values["lang"]),
        "groups": text(data, "groups") or "",
        "comment": text(data, "comment", max_length=1000) or "",
    }
    if flag is not None:
        changes["flag"] = flag
    before = await _changeable(call, login_id)
    updated = before is not None and await call.store.update_user(call.tenant, login_id, changes)
    if updated and before is not None and (canonical_role(before.get("role")) != role or flag is False):
        await call.accounts.end_sessions(login_id)
    count = int(updated)
    result = {"n": count, "nModified": count, "ok": 1.0, "updatedExisting": bool(updated)}
    return {"code": 200, "data": {"update_result": result}}


async def _modify_v2(call: Call) -> Reply:
    """v2 updateUser: a password change of the caller itself (the current password checked), or a
    profile change (``name``, ``email``, ``lang``, ``role``)."""
    body = call.body
    login_id = _target(call, body)
    if not login_id:
        raise bad_request("ID is required")
    _self_or_manager(call, login_id)
    if await _changeable(call, login_id) is None:
        return {"data": [], "elasped_time": 0, "code": 400, "message": "User not found"}
    current, new = body.get("currentPassword"), body.get("newPassword")
    if current is not None and new is not None:
        if login_id != call.caller.login_id:
            raise Refused(PERMISSION_DENIED)
        try:
            check_new_password(new)
        except PasswordRejected as rejected:
            return {"data": [], "elasped_time": call.elapsed(), "code": 400, "message": str(rejected)}
        try:
            await call.accounts.change_password(call.caller, current, new)
        except PasswordRejected:
            return {"data": [], "elasped_time": call.elapsed(), "code": 400, "message": "Current password is incorrect"}
        return {"data": [], "elasped_time": call.elapsed(), "code": 200, "message": "User updated"}
    changes: dict[str, Any] = {}
    if text(body, "name"):
        changes["name"] = text(body, "name")
    if text(body, "email"):
        changes["email"] = email_field(body)
    if text(body, "lang"):
        changes["lang"] = lang_field(body["lang"])
    role = _role(text(body, "role"))
    _role_change(call, login_id, role, None)
    if role is not None and login_id != call.caller.login_id:
        changes.update(role=role, level=ROLE_LEVELS[role])
    if changes:
        await call.store.update_user(call.tenant, login_id, changes)
        if "role" in changes:
            await call.accounts.end_sessions(login_id)
    return {"data": [], "elasped_time": call.elapsed(), "code": 200, "message": "User updated"}


async def add_user(call: Call) -> Reply:
    """v3 add, with the REST API's rules: a login ID of letters, digits and ``. _ @ -``, a role of
    specgate's, a password of at least 8 characters, an ID free in every tenant and registration."""
    data = object_of(call.body, "data") or {}
    login_id, name, email, password = data.get("ID"), text(data, "name"), text(data, "email"), data.get("password")
    if not login_id or not name or not email or not password:
        raise bad_request("database name, user id, name, password are required.")
    login_id = checked_login_id(login_id)
    role = _role(text(data, "role")) or "user"
    flag = data.get("flag", True)
    if not isinstance(flag, bool):
        raise bad_request("flag must be true or false")
    try:
        password = check_new_password(password)
    except PasswordRejected as rejected:
        raise bad_request(str(rejected)) from None
    try:
        await ensure_login_free(call.store, login_id)
    except Conflict:
        raise bad_request("user id already exists.") from None
    email = email_field(data)
    assert email is not None
    if (await call.store.list_users(call.tenant, ListQuery(filters={"email": email}, limit=1))).total:
        raise bad_request("email already exists.")
    user = new_user(
        login_id,
        name=name,
        email=email,
        role=role,
        lang=lang_field(text(data, "lang") or "kor"),
        now=call.now(),
        tz=call.tz,
        password=password,
    )
    user.update(flag=flag, comment=text(data, "comment", max_length=1000) or "")
    try:
        await call.store.add_user(call.tenant, user)
    except Conflict:
        raise bad_request("user id already exists.") from None
    return {"code": 200, "data": {"user_id": login_id, "user_name": name, "user_role": role, "created": True}}


async def delete_user(call: Call) -> Reply:
    """v3 delete by ``data.ID`` (the original's ``$or`` with ``code`` could delete any row); the user's
    sessions end and its approved registration goes with it."""
    data = object_of(call.body, "data") or {}
    login_id = identifier(data, "ID")
    if not login_id:
        raise bad_request("데이터베이스 이름과 사용자 ID가 필요합니다.")
    if login_id == call.caller.login_id:
        raise bad_request("you cannot delete your own account")
    deleted = await _changeable(call, login_id) is not None and await call.store.delete_user(call.tenant, login_id)
    if deleted:
        await call.accounts.end_sessions(login_id)
        registration = await call.store.get_registration(login_id)
        if registration is not None and registration.get("flag") is True:
            await call.store.delete_registration(login_id)
    return {"code": 200, "data": {"deleted_count": int(deleted)}}


# --------------------------------------------------------------------------- registrations


def _visible(call: Call, registration: dict[str, Any] | None) -> bool:
    """A tenant's administrator sees the registrations naming its tenant; a system administrator all of
    them (as in the REST API)."""
    if registration is None:
        return False
    return call.caller.system_admin or registration.get("tenant") == call.tenant


async def list_registrations(call: Call) -> Reply:
    fields = field_names(call.body)
    filters: dict[str, Any] = {"flag": False} if call.caller.system_admin else {"flag": False, "tenant": call.tenant}
    query = ListQuery(filters=filters)
    registrations, total = await all_items(call.store.list_registrations, query)
    return listing([row(item, fields, call.tz, HIDDEN | {"tenant"}) for item in registrations], total)


async def approve_registration(call: Call) -> Reply:
    """v3 approve (``user_id``), v2 update_floating_user and the Flutter client's ``user`` approve
    (``ID``, which wins: a v2 body's ``user_id`` is the caller itself): the pending user becomes a user of
    the caller's tenant, ``user`` when it registered as a company and ``viewer`` otherwise. An existing
    account is never re-pointed to another tenant."""
    v2 = call.body.get("action") == "update_floating_user"
    login_id = _target(call, call.body)
    registration = await call.store.get_registration(login_id) if login_id else None
    if (
        login_id is None
        or registration is None
        or registration.get("flag") is not False
        or not _visible(call, registration)
    ):
        return {"data": [], "elasped_time": 0, "code": 400, "message": "user_not_found"}
    lang = registration.get("lang")
    user = new_user(
        login_id,
        name=str(registration.get("name") or login_id),
        email=str(registration.get("email") or ""),
        role="user" if registration.get("category") == "company" else "viewer",
        lang=lang if isinstance(lang, str) and lang in LANGUAGES else "eng",
        now=call.now(),
        tz=call.tz,
        passwd=str(registration.get("passwd") or ""),
    )
    try:
        await call.store.add_user(call.tenant, user)
    except Conflict:
        return {"data": [], "elasped_time": call.elapsed(), "code": 400, "message": "user_already_exists"}
    await call.store.set_registration_flag(login_id, True)
    if v2:
        return {"data": [], "elasped_time": call.elapsed(), "code": 200}
    return {"code": 200, "data": {"approved": True, "user_id": login_id}}
