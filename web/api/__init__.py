"""The REST API under ``/api/v1/``: one module per subject, each with its ``ROUTES``."""

from __future__ import annotations

from starlette.routing import BaseRoute

from web.api import data, devices, logs, session

ROUTES: list[BaseRoute] = [*session.ROUTES, *devices.ROUTES, *data.ROUTES, *logs.ROUTES]
