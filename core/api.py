"""The one module plugin authors import: ``from core.api import hookimpl, Outcome, Session, ...``.

Everything a device plugin needs from specgate is here, and a plugin that imports only this module keeps
working while core's insides move (the built-in plugins are held to it by a test). Grouped by use:

- hooks: :data:`hookimpl` (every hook is documented in :mod:`core.hookspecs`), :class:`DashboardModule`;
- sessions: :class:`Session` (with ``now()``), :class:`Outcome`, :class:`ListenerConfig`, :func:`count`;
- configuration: :class:`Config`, :class:`DeviceOption` and the value checks ``as_*``;
- errors: :class:`FrameError`, :class:`ConfigError`, :class:`StoreUnavailable`, :class:`InvalidInput`, ...;
- specs: :func:`load_spec`, :class:`Spec`, :class:`Decoded`, :func:`bundled_spec_paths` (the YAML files of
  ``specs/``, where the built-in device types' layouts live); :class:`KeyRing` (keys for a spec's
  transforms, by meter) and :func:`register_transform` (a transform a spec can name in ``process:``);
- the store plugins may use: :class:`Store` (its methods are the contract), :class:`ListQuery`, :class:`Page`,
  :class:`ReadingRows` (readings of one device as rows, the fast way to hand a count table to the store),
  :class:`Report` (what one uplink reported, for ``record_report`` and ``record_routed_report``);
- time: :func:`calendar_fields` (and :func:`calendar_values`, the same as a tuple), :func:`local_string`,
  :func:`iso`, :func:`tz_from_offset`;
- HTTP routes: :class:`ApiRoute` (a route with the permission it needs), :class:`Principal` (the caller),
  :class:`JSONResponse`, :func:`error_response`, :func:`read_json_object`, query and paging helpers;
- CLI commands: :func:`run_with_store`, :func:`print_rows`, :func:`all_pages`, :func:`command_group`,
  :func:`progress_bar`, argument types;
- simulators: :func:`split_chunks`, :func:`write_chunks`, :func:`close_quietly`.
"""

from __future__ import annotations

from core.cli.common import (
    add_progress_flag,
    add_store_flags,
    all_pages,
    command_group,
    fail,
    int_range,
    load_config_for,
    need_subcommand,
    positive_int,
    print_rows,
    progress_bar,
    run_with_store,
    tenant_name,
)
from core.config import Config, DeviceOption, ListenerConfig
from core.config.values import as_bool, as_float, as_int, as_mapping, as_str
from core.errors import ConfigError, Conflict, FrameError, InvalidInput, NotFound, StoreUnavailable
from core.gateway.metrics import count
from core.gateway.types import Outcome, Session
from core.hookspecs import DashboardModule, hookimpl
from core.http import (
    BadRequest,
    BodyTooLarge,
    JSONResponse,
    PageRequest,
    error_response,
    paged_response,
    query_bool,
    query_int,
    query_str,
    query_time,
    read_json_object,
    read_limited_body,
)
from core.routing import PAGE_PARAMS, ApiRoute, Forbidden, Param, Unauthorized, caller_tenant
from core.security.roles import Principal
from core.simulate import close_quietly, split_chunks, write_chunks
from core.spec import Decoded, Spec, load_spec
from core.spec.transforms import KeyRing, register_transform
from core.store import ListQuery, Page, ReadingRows, Report, Store
from core.timeutil import DEFAULT_TZ_OFFSET, calendar_fields, calendar_values, iso, local_string, tz_from_offset
from specs import bundled_spec_paths

__all__ = [
    "DEFAULT_TZ_OFFSET",
    "PAGE_PARAMS",
    "ApiRoute",
    "BadRequest",
    "BodyTooLarge",
    "Config",
    "ConfigError",
    "Conflict",
    "DashboardModule",
    "Decoded",
    "DeviceOption",
    "Forbidden",
    "FrameError",
    "InvalidInput",
    "JSONResponse",
    "KeyRing",
    "ListQuery",
    "ListenerConfig",
    "NotFound",
    "Outcome",
    "Page",
    "PageRequest",
    "Param",
    "Principal",
    "ReadingRows",
    "Report",
    "Session",
    "Spec",
    "Store",
    "StoreUnavailable",
    "Unauthorized",
    "add_progress_flag",
    "add_store_flags",
    "all_pages",
    "as_bool",
    "as_float",
    "as_int",
    "as_mapping",
    "as_str",
    "bundled_spec_paths",
    "calendar_fields",
    "calendar_values",
    "caller_tenant",
    "close_quietly",
    "command_group",
    "count",
    "error_response",
    "fail",
    "hookimpl",
    "int_range",
    "iso",
    "load_config_for",
    "load_spec",
    "local_string",
    "need_subcommand",
    "paged_response",
    "positive_int",
    "print_rows",
    "progress_bar",
    "query_bool",
    "query_int",
    "query_str",
    "query_time",
    "read_json_object",
    "read_limited_body",
    "register_transform",
    "run_with_store",
    "split_chunks",
    "tenant_name",
    "tz_from_offset",
    "write_chunks",
]
