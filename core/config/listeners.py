"""One TCP listener's configuration, validated where it is made.

A :class:`ListenerConfig` checks itself on construction, whoever builds it (a plugin's default, the
configuration file, a ``--listen`` flag, a test): a value of the wrong type or outside its closed set raises
:class:`~core.errors.ConfigError`. Text from files and flags is converted first, by
:func:`listener_from_mapping`, so ``replace_same_peer: "false"`` there means false, while
``ListenerConfig(replace_same_peer="false")`` in code is refused.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Mapping
from dataclasses import InitVar, dataclass, field, replace
from typing import Any, Literal, get_args

from core.config.values import as_bool, as_float, as_int, as_mapping, as_str, check_keys
from core.errors import ConfigError

BadFramePolicy = Literal["close", "skip"]
BAD_FRAME_POLICIES: tuple[str, ...] = get_args(BadFramePolicy)


@dataclass
class ListenerConfig:
    """A port bound to a device type (the name of a spec), with its limits and runtime behaviour.

    ``options`` holds the device type's own options (``{"scale_id": "scale-02"}``); everything the runtime
    reads is a field. The runtime fields are described in :mod:`core.gateway.listener`.
    """

    device_type: str
    port: int
    host: str = "0.0.0.0"
    options: dict[str, Any] = field(default_factory=dict)
    idle_timeout: float = 60.0
    max_frame_length: int = 4096
    max_connections: int = 1000
    #: share of ``max_connections`` one peer address may hold (0-1]; 1 = no limit beyond max_connections
    max_share_per_address: float = 1.0
    #: seconds a new connection may take to send its first byte (its PROXY header, when that is on)
    first_byte_timeout: float = 10.0
    #: the listen backlog: connection attempts the kernel queues before they are accepted
    backlog: int = 1024
    #: IPs or CIDR networks allowed to connect; empty means everyone
    allow: list[str] = field(default_factory=list)
    replace_same_peer: bool = False
    on_bad_frame: BadFramePolicy = "close"
    log_exchanges: bool = True
    #: seconds a frame may take from its first byte to its last; None = no limit
    frame_timeout: float | None = None
    #: load balancers (addresses or networks) whose PROXY protocol header is trusted; None = off
    proxy_protocol: list[str] | None = None
    #: the fields a file entry or ``--listen`` flag set; the others may come from the plugin's default
    given: frozenset[str] = field(default=frozenset(), compare=False, repr=False)
    #: how an error names this listener (a file entry, a flag); by default ``listener TYPE:PORT``
    place: InitVar[str] = ""

    def __post_init__(self, place: str) -> None:
        self.check(place or f"listener {self.device_type}:{self.port}")

    @property
    def max_per_address(self) -> int:
        """Connections one peer address may hold at once: ``max_share_per_address`` of ``max_connections``."""
        return max(1, int(self.max_share_per_address * self.max_connections))

    def check(self, place: str) -> None:
        """Raise ``ConfigError`` naming ``place`` for any field that cannot be used."""
        at = _field_prefix(place)
        if not isinstance(self.device_type, str) or not self.device_type:
            raise ConfigError(f"{at}device_type must be a non-empty string, got {self.device_type!r}")
        _check_int(self.port, f"{at}port", 0, 65535)
        _check_int(self.max_frame_length, f"{at}max_frame_length", 1)
        _check_int(self.max_connections, f"{at}max_connections", 1)
        _check_int(self.backlog, f"{at}backlog", 1)
        share = self.max_share_per_address
        if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share <= 1:
            raise ConfigError(f"{at}max_share_per_address must be a number above 0 and at most 1, got {share!r}")
        if not isinstance(self.host, str) or not self.host:
            raise ConfigError(f"{at}host must be a non-empty string, got {self.host!r}")
        if not isinstance(self.options, dict):
            raise ConfigError(f"{at}options must be a mapping, got {self.options!r}")
        misplaced = sorted(set(self.options) & set(LISTENER_FIELDS))
        if misplaced:
            raise ConfigError(f"{place}: {', '.join(misplaced)} is a listener field, not a device option")
        _check_seconds(self.idle_timeout, f"{at}idle_timeout")
        _check_seconds(self.first_byte_timeout, f"{at}first_byte_timeout")
        if self.frame_timeout is not None:
            _check_seconds(self.frame_timeout, f"{at}frame_timeout")
        for name in ("replace_same_peer", "log_exchanges"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{at}{name} must be true or false, got {getattr(self, name)!r}")
        if self.on_bad_frame not in BAD_FRAME_POLICIES:
            raise ConfigError(f"{at}on_bad_frame must be 'close' or 'skip', got {self.on_bad_frame!r}")
        _check_networks(self.allow, f"{at}allow", "a list of IP addresses or networks", allow_empty=True)
        if self.proxy_protocol is not None:
            _check_networks(
                self.proxy_protocol,
                f"{at}proxy_protocol",
                "a list of the load balancers' addresses or networks",
                allow_empty=False,
            )


def _field_prefix(place: str) -> str:
    """What a field's name follows in an error: a file entry's fields read as "site.yaml: listeners[0].port";
    a flag's as "--listen TEXT: port" (a dot would glue the flag's value to the key)."""
    return f"{place}: " if place.startswith("--listen") else f"{place}."


def _check_int(value: Any, key: str, low: int, high: int | None = None) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ConfigError(f"{key} must be an integer {bounds}, got {value!r}")


def _check_seconds(value: Any, key: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ConfigError(f"{key} must be a positive number of seconds, got {value!r}")


def _check_networks(value: Any, key: str, what: str, allow_empty: bool) -> None:
    if (
        not isinstance(value, list)
        or not all(isinstance(item, str) for item in value)
        or (not value and not allow_empty)
    ):
        raise ConfigError(f"{key} must be {what}, got {value!r}")
    for item in value:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ConfigError(f"{key}: {item!r} is not an IP address or network") from None


#: every field a file entry may set, besides device_type, port and options
LISTENER_FIELDS = tuple(
    f.name for f in dataclasses.fields(ListenerConfig) if f.name not in ("device_type", "port", "options", "given")
)
_ENTRY_KEYS = ("device_type", "port", "options") + LISTENER_FIELDS


def _network_list(value: Any, key: str) -> Any:
    """Networks from text are separated by ``;`` (a ``--listen`` flag already uses ``,``)."""
    if isinstance(value, str):
        return [item.strip() for item in value.split(";") if item.strip()]
    return value


_CONVERTERS: dict[str, Any] = {
    "host": as_str,
    "idle_timeout": as_float,
    "frame_timeout": as_float,
    "max_frame_length": lambda v, k: as_int(v, k, low=1),
    "max_connections": lambda v, k: as_int(v, k, low=1),
    "max_share_per_address": as_float,
    "first_byte_timeout": as_float,
    "backlog": lambda v, k: as_int(v, k, low=1),
    "replace_same_peer": as_bool,
    "log_exchanges": as_bool,
    "on_bad_frame": as_str,
    "allow": _network_list,
    "proxy_protocol": _network_list,
}


def listener_from_mapping(entry: Any, place: str) -> ListenerConfig:
    """One listener entry of the file (``{device_type, port, ...}``) as a :class:`ListenerConfig`."""
    if not isinstance(entry, Mapping):
        raise ConfigError(f"{place} must be a mapping with device_type and port, got {entry!r}")
    check_keys(entry, _ENTRY_KEYS, place)
    if "device_type" not in entry or "port" not in entry:
        raise ConfigError(f"{place} needs device_type and port, got {dict(entry)!r}")
    at = _field_prefix(place)
    kwargs: dict[str, Any] = {
        "device_type": as_str(entry["device_type"], f"{at}device_type"),
        "port": as_int(entry["port"], f"{at}port", low=0, high=65535),
        "options": as_mapping(entry.get("options"), f"{at}options"),
    }
    for name in LISTENER_FIELDS:
        if name in entry:
            kwargs[name] = _CONVERTERS[name](entry[name], f"{at}{name}")
    kwargs["given"] = frozenset(name for name in LISTENER_FIELDS if name in entry)
    return ListenerConfig(**kwargs, place=place)


def parse_listen_flag(text: str) -> ListenerConfig:
    """``DEVICE_TYPE:PORT[:key=value,...]`` (``--listen scale:4002:scale_id=scale-02``).

    Keys naming a listener field (``host``, ``idle_timeout``, ``max_connections``, ``allow`` with ``;``
    between networks, ...) set it; any other key is a device option.
    """
    parts = text.split(":", 2)
    if len(parts) < 2 or not parts[0]:
        raise ConfigError(f"--listen {text!r} is not DEVICE_TYPE:PORT[:key=value,...]")
    entry: dict[str, Any] = {"device_type": parts[0], "port": parts[1], "options": {}}
    if len(parts) == 3 and parts[2]:
        for pair in parts[2].split(","):
            key, sep, value = pair.partition("=")
            key = key.strip()
            if not sep or not key:
                raise ConfigError(f"--listen {text!r}: {pair!r} is not key=value")
            if key in LISTENER_FIELDS:
                entry[key] = value
            else:
                entry["options"][key] = value
    return listener_from_mapping(entry, f"--listen {text}")


def with_listener_defaults(listener: ListenerConfig, default: ListenerConfig | None) -> ListenerConfig:
    """``listener`` completed by the plugin-declared ``default`` of its device type: fields the entry did
    not set and options it does not name come from the default, so ``--listen scale:4002`` keeps the scale
    listener's host, idle timeout and runtime behaviour."""
    if default is None:
        return listener
    plain = ListenerConfig(device_type=listener.device_type, port=listener.port)
    changes: dict[str, Any] = {}
    for name in LISTENER_FIELDS:
        unset = name not in listener.given if listener.given else getattr(listener, name) == getattr(plain, name)
        if unset:
            changes[name] = getattr(default, name)
    changes["options"] = {**default.options, **listener.options}
    return replace(listener, **changes)
