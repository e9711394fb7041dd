"""A third-party plugin as an installed package would ship it (loaded through a fake entry point): its own
spec, its own listener, message handling and reply framing, and a web route."""
from __future__ import annotations

from pathlib import Path

from starlette.responses import PlainTextResponse
from starlette.routing import Route

from core.api import ListenerConfig, Outcome
from core.hookspecs import hookimpl

DEVICE_TYPE = "thirdparty_counter"


async def hello(request):
    return PlainTextResponse("hello from a plugin")


@hookimpl
def specgate_register_routes(config):
    return [Route("/thirdparty/hello", hello)]


@hookimpl
def specgate_register_specs():
    return [Path(__file__).with_name("thirdparty_counter.yaml")]


@hookimpl
def specgate_declare_listeners(config):
    return [ListenerConfig(DEVICE_TYPE, 0, host="127.0.0.1", on_bad_frame='skip', log_exchanges=False)]


@hookimpl
def specgate_handle_message(session, message):
    if session.device_type != DEVICE_TYPE:
        return None
    return Outcome(reply_message="ack", reply={"n": message.values["n"]})


@hookimpl
def specgate_build_reply(session, outcome):
    if session.device_type != DEVICE_TYPE:
        return None
    return session.spec.encode(outcome.reply_message, outcome.reply) + b"\r\n"
