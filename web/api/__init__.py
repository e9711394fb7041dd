"""The REST API under ``/api/v1/``: one module per subject, each with its ``ROUTES``."""

from __future__ import annotations

from starlette.routing import BaseRoute

from web.api import session

ROUTES: list[BaseRoute] = [*session.ROUTES]
