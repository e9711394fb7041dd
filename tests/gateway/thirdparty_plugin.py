"""A third-party plugin as an installed package would ship it (loaded through a fake entry point): its own
spec, its own listener, message handling and reply framing, a device option read from an environment
variable, a command, a simulator and a web route. It imports nothing from specgate but ``core.api``."""

from __future__ import annotations

import argparse
from pathlib import Path

from starlette.responses import PlainTextResponse

from core.api import ApiRoute, Config, DeviceOption, ListenerConfig, Outcome, as_int, hookimpl

DEVICE_TYPE = "thirdparty_counter"


async def hello(request, caller):
    greeting = request.app.state.config.device_options(DEVICE_TYPE)["greeting"]
    return PlainTextResponse(f"{greeting} from a plugin")


@hookimpl
def specgate_register_routes(config):
    return [ApiRoute("/thirdparty/hello", hello, methods=["GET"], public=True, summary="A greeting")]


@hookimpl
def specgate_register_specs():
    return [Path(__file__).with_name("thirdparty_counter.yaml")]


@hookimpl
def specgate_declare_options():
    return [
        DeviceOption(
            DEVICE_TYPE, "greeting", lambda value, key: str(value), "what the hello route says", default="hello"
        ),
        DeviceOption(
            DEVICE_TYPE,
            "port",
            lambda value, key: as_int(value, key, low=0, high=65535),
            "the counter listener's port",
            env="COUNTER_PORT",
            default=0,
        ),
    ]


@hookimpl
def specgate_declare_listeners(config: Config):
    port = config.device_options(DEVICE_TYPE).get("port", 0)
    return [ListenerConfig(DEVICE_TYPE, port, host="127.0.0.1", on_bad_frame="skip", log_exchanges=False)]


@hookimpl
def specgate_handle_message(session, message):
    return Outcome(reply_message="ack", reply={"n": message.values["n"]})


@hookimpl
def specgate_build_reply(session, outcome):
    return session.spec.encode(outcome.reply_message, outcome.reply) + b"\r\n"


def _count(args: argparse.Namespace) -> int:
    print(f"counting to {args.upto}")
    return 0


@hookimpl
def specgate_register_commands(subparsers):
    counter = subparsers.add_parser("counter", help="the counter's own command")
    counter.add_argument("--upto", type=int, default=3)
    counter.set_defaults(func=_count)


@hookimpl
def specgate_register_simulators(subparsers):
    simulator = subparsers.add_parser("counter", help="a simulated counter")
    simulator.set_defaults(func=lambda args: print("ticking") or 0)
