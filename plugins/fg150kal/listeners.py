"""The default scale listener, from the ``devices.fg150kal`` options (see :mod:`plugins.fg150kal.options`)."""

from __future__ import annotations

from typing import Any

from core.api import Config, ListenerConfig
from plugins.fg150kal.options import DEFAULT_SCALE_ID, DEVICE_TYPE, stale_after

#: an A&D line is 17 bytes; a converter heartbeat glued in front may add some
MAX_LINE = 256
#: seconds a line may take from its first byte to its newline: 17 bytes take under 0.1 s even at 2400 baud,
#: and a converter holds bytes back for milliseconds, so 5 s is generous and still ends a byte-a-second drip
FRAME_TIMEOUT = 5.0


def default_listener(config: Config) -> ListenerConfig:
    """One listener for the scale: ``SCALE_GATEWAY_LISTEN_HOST``/``_PORT`` (0.0.0.0:4001), idle timeout
    ``SCALE_GATEWAY_IDLE_TIMEOUT_SEC`` (10 s). A converter that reconnects replaces its half-open socket;
    junk is skipped, not fatal (a run of it longer than ``MAX_LINE`` closes the connection); a line must end
    within ``FRAME_TIMEOUT``; one address may hold a quarter of the slots; a stream has no request/response
    exchanges to log. Its scales belong to ``devices.fg150kal.tenant`` when set, else to every tenant."""
    options = config.device_options(DEVICE_TYPE)
    listener_options: dict[str, Any] = {"scale_id": options.get("scale_id", DEFAULT_SCALE_ID)}
    if options.get("tenant"):
        listener_options["tenant"] = options["tenant"]
    if options.get("scale_by_peer"):
        listener_options["scale_by_peer"] = dict(options["scale_by_peer"])
    return ListenerConfig(
        device_type=DEVICE_TYPE,
        port=int(options.get("listen_port", 4001)),
        host=str(options.get("listen_host", "0.0.0.0")),
        options=listener_options,
        idle_timeout=stale_after(config),
        max_frame_length=MAX_LINE,
        max_connections=64,
        max_share_per_address=0.25,
        frame_timeout=FRAME_TIMEOUT,
        replace_same_peer=True,
        on_bad_frame="skip",
        log_exchanges=False,
    )
