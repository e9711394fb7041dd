"""The ``web`` section of the configuration: every key once, with its environment variable and check.

``load_config`` reads the file's ``web`` mapping and the environment through this table, and
``docs/configuration.md`` lists the same keys (a test compares them).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.config.values import as_bool, as_float, as_int, as_names, as_str
from core.errors import ConfigError


@dataclass(frozen=True)
class WebSetting:
    key: str
    attribute: str
    parse: Callable[[Any, str, str], Any]
    env: str | None
    help: str


def _port(value: Any, key: str, source: str) -> int:
    return as_int(value, key, source, 0, 65535)


def _at_least_one(value: Any, key: str, source: str) -> int:
    return as_int(value, key, source, 1)


def _networks(value: Any, key: str, source: str) -> list[str]:
    names = as_names(value, key, source) if value not in ([], "") else []
    for name in names:
        try:
            ipaddress.ip_network(name, strict=False)
        except ValueError:
            origin = f" (from {source})" if source else ""
            raise ConfigError(f"{key}{origin}: {name!r} is not an IP network such as 10.0.0.0/8") from None
    return names


def _origins(value: Any, key: str, source: str) -> list[str]:
    names = as_names(value, key, source) if value not in ([], "") else []
    for name in names:
        if not (name.startswith(("http://", "https://")) and name.count("/") == 2):
            origin = f" (from {source})" if source else ""
            raise ConfigError(f"{key}{origin}: {name!r} is not an origin such as https://app.example.com")
    return names


def _optional_str(value: Any, key: str, source: str) -> str | None:
    return None if value in (None, "") else as_str(value, key, source)


def _optional_bool(value: Any, key: str, source: str) -> bool | None:
    return None if value in (None, "", "auto") else as_bool(value, key, source)


WEB_SETTINGS: tuple[WebSetting, ...] = (
    WebSetting("host", "web_host", as_str, "SPECGATE_WEB_HOST", "address the web app listens on"),
    WebSetting("port", "web_port", _port, "SPECGATE_WEB_PORT", "TCP port of the web app"),
    WebSetting("enabled", "web_enabled", as_bool, None, "run the web app in this process"),
    WebSetting(
        "max_connections",
        "web_max_connections",
        _at_least_one,
        "SPECGATE_WEB_MAX_CONNECTIONS",
        "open web connections at most; more are answered 503 and closed (descriptors are budgeted)",
    ),
    WebSetting(
        "keep_alive_timeout",
        "web_keep_alive_timeout",
        _at_least_one,
        "SPECGATE_WEB_KEEP_ALIVE_TIMEOUT",
        "whole seconds an idle keep-alive connection is kept",
    ),
    WebSetting(
        "header_timeout",
        "web_header_timeout",
        as_float,
        "SPECGATE_WEB_HEADER_TIMEOUT",
        "seconds a client has to send a complete request head",
    ),
    WebSetting(
        "live_connections_per_user",
        "web_live_connections_per_user",
        _at_least_one,
        "SPECGATE_WEB_LIVE_CONNECTIONS_PER_USER",
        "live WebSocket connections (GET /api/v1/live) one login or token may hold open; more are closed 4429",
    ),
    WebSetting(
        "trusted_networks",
        "web_trusted_networks",
        _networks,
        "SPECGATE_WEB_TRUSTED_NETWORKS",
        "networks whose anonymous callers may use the scale-gateway routes and the metrics (default loopback)",
    ),
    WebSetting(
        "cors_origins",
        "web_cors_origins",
        _origins,
        "SPECGATE_WEB_CORS_ORIGINS",
        "origins allowed to call the API from a browser page they serve (default none: CORS off)",
    ),
    WebSetting(
        "session_idle_timeout",
        "web_session_idle_timeout",
        as_float,
        "SPECGATE_WEB_SESSION_IDLE_TIMEOUT",
        "seconds without a request after which a login session ends",
    ),
    WebSetting(
        "session_lifetime",
        "web_session_lifetime",
        as_float,
        "SPECGATE_WEB_SESSION_LIFETIME",
        "seconds after login at which a session ends however active it is",
    ),
    WebSetting(
        "login_max_failures",
        "web_login_max_failures",
        _at_least_one,
        None,
        "failed logins per account within 15 minutes before further attempts are refused",
    ),
    WebSetting(
        "login_max_address_failures",
        "web_login_max_address_failures",
        _at_least_one,
        None,
        "failed logins per client address within 15 minutes before further attempts are refused",
    ),
    WebSetting(
        "registrations_per_hour",
        "web_registrations_per_hour",
        _at_least_one,
        None,
        "self-registrations accepted per client address per hour",
    ),
    WebSetting(
        "ssl_certfile", "web_ssl_certfile", _optional_str, "SPECGATE_WEB_SSL_CERTFILE", "PEM certificate: serve HTTPS"
    ),
    WebSetting(
        "ssl_keyfile", "web_ssl_keyfile", _optional_str, "SPECGATE_WEB_SSL_KEYFILE", "PEM key of the certificate"
    ),
    WebSetting(
        "cookie_secure",
        "web_cookie_secure",
        _optional_bool,
        None,
        "mark the session cookie Secure: auto (under HTTPS), true (behind an HTTPS proxy) or false",
    ),
    WebSetting(
        "compatible_api",
        "web_compatible_api",
        as_bool,
        None,
        "serve the original clients' endpoint POST /api/<script> (docs/compatibility.md)",
    ),
)
