"""A third-party plugin as an installed package would ship it (loaded through a fake entry point)."""
from __future__ import annotations

from starlette.responses import PlainTextResponse
from starlette.routing import Route

from core.hookspecs import hookimpl


async def hello(request):
    return PlainTextResponse("hello from a plugin")


@hookimpl
def specgate_register_routes(config):
    return [Route("/thirdparty/hello", hello)]
