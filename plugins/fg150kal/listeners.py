"""The default scale listener, from ``devices.fg150kal`` options and the ``SCALE_GATEWAY_*`` variables."""
from __future__ import annotations

from typing import Any

from core.config import DEFAULT_SCALE_IDLE_TIMEOUT
from core.gateway.types import ListenerConfig

DEFAULT_PORT = 4001
DEFAULT_HOST = "0.0.0.0"
DEFAULT_SCALE_ID = "default"
#: an A&D line is 17 bytes; a converter heartbeat glued in front may add some
MAX_LINE = 256


def default_listener(config: Any) -> ListenerConfig:
    """One listener for the scale: ``SCALE_GATEWAY_LISTEN_HOST``/``_PORT`` (0.0.0.0:4001), idle timeout
    ``SCALE_GATEWAY_IDLE_TIMEOUT_SEC`` (10 s). A converter that reconnects replaces its half-open socket;
    junk is skipped, not fatal; a stream has no request/response exchanges to log."""
    options = config.device_options("fg150kal") if config is not None else {}
    listener_options: dict[str, Any] = {
        "scale_id": options.get("scale_id", DEFAULT_SCALE_ID),
        "replace_same_peer": True,
        "on_bad_frame": "skip",
        "log_exchanges": False,
    }
    if options.get("scale_by_peer"):
        listener_options["scale_by_peer"] = dict(options["scale_by_peer"])
    return ListenerConfig(
        device_type="fg150kal",
        port=int(options.get("listen_port", DEFAULT_PORT)),
        host=str(options.get("listen_host", DEFAULT_HOST)),
        options=listener_options,
        idle_timeout=float(options.get("idle_timeout_sec", DEFAULT_SCALE_IDLE_TIMEOUT)),
        max_frame_length=MAX_LINE,
        max_connections=64,
    )
