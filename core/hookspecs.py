"""Every hook a specgate plugin can implement.

Plugins are modules or objects with functions marked ``@hookimpl`` (``from core.api import hookimpl``). The
built-in device plugins use exactly these hooks, so an installed package registered under the entry-point
group ``specgate.plugins`` can add a device type, or replace built-in behaviour (mark it ``tryfirst=True``).

Session hooks (connections, messages, replies) go to the plugins that registered the spec of the session's
device type, and to plugins that register no spec at all (cross-cutting ones); a device plugin never sees
another device type's sessions, so it needs no ``device_type`` guard.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from starlette.routing import BaseRoute

    from core.config import Config, ListenerConfig
    from core.config.options import DeviceOption
    from core.gateway.types import Outcome, Session
    from core.spec import Decoded

hookspec = pluggy.HookspecMarker("specgate")
hookimpl = pluggy.HookimplMarker("specgate")


# --------------------------------------------------------------------------- specs


@hookspec
def specgate_register_specs() -> list[Path | str]:
    """Return paths of YAML spec files this plugin provides.

    Each spec's ``meta.name`` becomes a device type this plugin owns (its sessions' hooks come here). A
    later plugin's spec of the same name replaces an earlier one everywhere (``serve``, ``decode``,
    ``specs``), while both plugins keep receiving that device type's session hooks.

    :return: a list of file paths.
    """


# --------------------------------------------------------------------------- configuration


@hookspec
def specgate_declare_options() -> list[DeviceOption]:
    """Return the device options this plugin reads from the configuration.

    Each ``core.api.DeviceOption`` names a key of the file's ``devices.<section>`` mapping, the function
    that checks and converts it, an optional environment variable that overrides it and a default. Core
    applies them at load time: an unknown key or a bad value stops start-up with a clear message. Read
    them back with ``config.device_options(section)``.

    :return: a list of ``DeviceOption``.
    """


@hookspec
def specgate_declare_listeners(config: Config) -> list[ListenerConfig]:
    """Return the TCP listeners this plugin wants by default.

    The configuration file can replace or disable them (``listeners:`` section); a configured listener of
    the same device type takes its unset fields and missing options from the default declared here.

    :param config: the loaded configuration, device options already checked.
    """


# --------------------------------------------------------------------------- connections


@hookspec
def specgate_connection_opened(session: Session) -> None:
    """A device connected and was accepted.

    :param session: the new session; plugins may keep per-connection data in ``session.state``.
    """


@hookspec
def specgate_connection_closed(session: Session, reason: str) -> None:
    """A device connection ended.

    :param session: the session.
    :param reason: ``"done"``, ``"peer_closed"``, ``"idle_timeout"``, ``"junk"``, ``"oversize"``,
        ``"store_unavailable"``, ``"replaced"``, ``"shutdown"``, ``"frame_timeout"`` or ``"error"`` (a
        plugin hook raised).
    """


# --------------------------------------------------------------------------- messages


@hookspec(firstresult=True)
def specgate_decode_frame(session: Session, frame: bytes) -> Decoded | None:
    """Decode one frame instead of the spec's default parser.

    Stops at first non-None result. The default (``trylast``) decodes with ``session.spec``.
    Raise ``core.api.FrameError`` for bytes that are not a valid message.

    :param session: the session the frame arrived on.
    :param frame: the frame's bytes as cut by the spec's framer.
    """


@hookspec(firstresult=True)
def specgate_handle_message(session: Session, message: Decoded) -> Outcome | None:
    """Decide what to store and what to reply for one decoded message.

    Stops at first non-None result. May be ``async def``: the runtime awaits what it returns. (A
    cross-cutting plugin, one that registers no spec, sees every device type's messages and must return
    None for those it leaves alone, so it should not be ``async def``.) Raise ``FrameError`` for a message
    that decodes but is not acceptable (a malformed device id): it is then handled as a bad frame.

    :param session: the session the message arrived on.
    :param message: the decoded message.
    :return: an ``Outcome`` (or an awaitable of one), or None to leave the message unanswered.
    """


@hookspec(firstresult=True)
def specgate_build_reply(session: Session, outcome: Outcome) -> bytes | None:
    """Build the reply bytes for an outcome.

    Stops at first non-None result. The default (``trylast``) encodes ``outcome.reply`` with the spec
    message ``outcome.reply_message``.

    :param session: the session.
    :param outcome: the outcome returned by ``specgate_handle_message``.
    """


# --------------------------------------------------------------------------- command line


@hookspec
def specgate_register_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add ``specgate`` commands for this plugin's devices (e.g. ``specgate devices ...``).

    Each command is an ``argparse`` parser added with ``subparsers.add_parser(...)`` that sets ``func``
    (called with the parsed arguments, returns the exit status). Raise ``ConfigError`` for bad input: the
    CLI prints it as one sentence and exits 1.

    :param subparsers: the top-level ``specgate`` subparsers.
    """


@hookspec
def specgate_register_simulators(subparsers: argparse._SubParsersAction) -> None:
    """Add a ``specgate simulate NAME`` subcommand that drives a gateway with simulated devices.

    :param subparsers: the subparsers of ``specgate simulate``.
    """


# --------------------------------------------------------------------------- web


@hookspec
def specgate_register_routes(config: Config) -> list[BaseRoute]:
    """Return Starlette routes to mount in the web app.

    Handlers read ``request.app.state``: ``config``, ``store``, ``pm``, ``clock``.

    :param config: the loaded configuration.
    """


@dataclass(frozen=True)
class DashboardModule:
    """A page a plugin adds to the dashboard at ``/``: ``script`` (a JavaScript module inside ``directory``)
    is loaded by the page shell from ``/static/plugins/<name>/<script>`` and registers its page there;
    ``label`` is its navigation entry by language (``eng``, ``kor``), English when the user's is missing."""

    name: str
    directory: Path
    script: str
    label: dict[str, str] = field(default_factory=dict)


@hookspec
def specgate_register_dashboard(config: Config) -> list[DashboardModule]:
    """Return the dashboard modules (``core.api.DashboardModule``) this plugin adds to the web pages.

    Each module's ``directory`` is served under ``/static/plugins/<name>/`` to anyone (it holds code, never
    data: the module reads the API as the logged-in user), and the page shell loads its ``script``.

    :param config: the loaded configuration.
    :return: a list of ``DashboardModule``.
    """
