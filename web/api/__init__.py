"""The REST API under ``/api/v1/``: one module per subject, each with its ``ROUTES``."""

from __future__ import annotations

from starlette.routing import BaseRoute

from web.api import data, devices, logs, registrations, session, subscribers, tenants, tokens, users

ROUTES: list[BaseRoute] = [*session.ROUTES]
ROUTES += [*users.ROUTES, *registrations.ROUTES, *subscribers.ROUTES, *tokens.ROUTES, *tenants.ROUTES]
ROUTES += [*devices.ROUTES, *data.ROUTES, *logs.ROUTES]
