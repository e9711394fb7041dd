"""The web app's router finds fixed paths through an index and answers exactly as Starlette's scan would."""

from __future__ import annotations

import httpx
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from web.middleware import IndexedRouter, WebApp


def answer(text: str):
    async def endpoint(request: Request) -> Response:
        return PlainTextResponse(text)

    return endpoint


def app() -> WebApp:
    return WebApp(
        routes=[
            Route("/items/{name}", answer("by name"), methods=["GET"]),
            Route("/items/new", answer("new"), methods=["GET"]),  # the scan never reaches it for GET
            Route("/fixed", answer("fixed get"), methods=["GET"]),
            Route("/fixed", answer("fixed post"), methods=["POST"]),
            Route("/later/", answer("later"), methods=["GET"]),
        ]
    )


async def test_fixed_paths_answer_as_the_scan_would():
    web = app()
    assert isinstance(web.router, IndexedRouter)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=web), base_url="http://test") as client:
        assert (await client.get("/fixed")).text == "fixed get"
        assert (await client.post("/fixed")).text == "fixed post"
        assert (await client.get("/items/new")).text == "by name"  # the earlier route with a parameter
        assert (await client.get("/items/other")).text == "by name"
        assert (await client.put("/fixed")).status_code == 405
        assert (await client.get("/missing")).status_code == 404
        redirect = await client.get("/later", follow_redirects=False)
        assert redirect.status_code == 307 and redirect.headers["location"].endswith("/later/")
    index = web.router._route_index()
    assert "/fixed" in index and "/later/" in index and "/items/new" not in index


async def test_a_route_added_later_is_found():
    web = app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=web), base_url="http://test") as client:
        assert (await client.get("/added")).status_code == 404
        web.router.routes.append(Route("/added", answer("added"), methods=["GET"]))
        assert (await client.get("/added")).text == "added"
