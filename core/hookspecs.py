"""Every hook a specgate plugin can implement.

Plugins are modules or objects with functions marked ``@hookimpl`` (``from core.hookspecs import
hookimpl``). The built-in device plugins (``plugins.gas_meter``, ``plugins.fg150kal``) use exactly these
hooks, so an installed package registered under the entry-point group ``specgate.plugins`` can add a
device type or replace built-in behaviour (mark it ``tryfirst=True``).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from pathlib import Path

    from core.gateway.types import ListenerConfig, Outcome, Session
    from core.spec import Decoded

hookspec = pluggy.HookspecMarker("specgate")
hookimpl = pluggy.HookimplMarker("specgate")


# --------------------------------------------------------------------------- specs

@hookspec
def specgate_register_specs() -> list["Path | str"]:
    """Return paths of YAML spec files this plugin provides.

    :return: a list of file paths; each spec's ``meta.name`` becomes a device type.
    """


# --------------------------------------------------------------------------- listeners

@hookspec
def specgate_declare_listeners(config: Any) -> list["ListenerConfig"]:
    """Return the TCP listeners this plugin wants by default.

    The configuration file can replace or disable them (``listeners:`` section).

    :param config: the loaded ``core.config.Config``.
    """


# --------------------------------------------------------------------------- connections

@hookspec
def specgate_connection_opened(session: "Session") -> None:
    """A device connected and was accepted.

    :param session: the new session; plugins may keep per-connection data in ``session.state``.
    """


@hookspec
def specgate_connection_closed(session: "Session", reason: str) -> None:
    """A device connection ended.

    :param session: the session.
    :param reason: ``"done"``, ``"peer_closed"``, ``"idle_timeout"``, ``"junk"``, ``"oversize"``,
        ``"store_unavailable"``, ``"replaced"``, ``"shutdown"``, ``"frame_timeout"`` or ``"error"`` (a
        plugin hook raised).
    """


# --------------------------------------------------------------------------- messages

@hookspec(firstresult=True)
def specgate_decode_frame(session: "Session", frame: bytes) -> "Decoded | None":
    """Decode one frame instead of the spec's default parser.

    Stops at first non-None result. The default (``trylast``) decodes with ``session.spec``.
    Raise ``core.errors.FrameError`` for bytes that are not a valid message.

    :param session: the session the frame arrived on.
    :param frame: the frame's bytes as cut by the spec's framer.
    """


@hookspec(firstresult=True)
def specgate_handle_message(session: "Session", message: "Decoded") -> "Outcome | Any | None":
    """Decide what to store and what to reply for one decoded message.

    Stops at first non-None result. May be ``async def``: the runtime awaits a returned awaitable.

    :param session: the session the message arrived on.
    :param message: the decoded message.
    :return: an ``Outcome`` (or an awaitable of one).
    """


@hookspec(firstresult=True)
def specgate_build_reply(session: "Session", outcome: "Outcome") -> "bytes | None":
    """Build the reply bytes for an outcome.

    Stops at first non-None result. The default (``trylast``) encodes ``outcome.reply`` with the spec
    message ``outcome.reply_message``.

    :param session: the session.
    :param outcome: the outcome returned by ``specgate_handle_message``.
    """


# --------------------------------------------------------------------------- web

@hookspec
def specgate_register_routes(config: Any) -> list[Any]:
    """Return Starlette routes to mount in the web app.

    :param config: the loaded ``core.config.Config``.
    """
