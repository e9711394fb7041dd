"""The Prometheus metrics of ``GET /metrics``, in one registry per app (tests build many apps).

One collector reads, at each scrape: the in-process gateway's listener counters
(:meth:`core.gateway.runtime.Gateway.metrics`), the store call durations recorded by
:mod:`core.observability`, and the HTTP requests counted by :class:`web.middleware.RequestCounting`. Every
label has a bounded set of values: listeners are configured, operations are the Store interface's methods,
routes are path templates (never a raw path), methods outside the HTTP standard ones count as ``OTHER``.
``docs/api.md`` lists every metric; a test keeps the list equal to what is exported.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.datastructures import State

from core.observability import store_timings

__all__ = ["CONTENT_TYPE_LATEST", "RequestCounts", "WebMetrics"]

LISTENER_LABELS = ["listener", "device_type"]

#: (name without ``_total``, help, the listener counter it reads)
LISTENER_COUNTERS: tuple[tuple[str, str, str], ...] = (
    ("specgate_connections_accepted", "Device connections accepted", "accepted"),
    ("specgate_junk_bytes", "Bytes received that were not part of a frame", "junk_bytes"),
    ("specgate_replies", "Replies sent to devices", "replies"),
    ("specgate_dead_letters", "Frames kept as dead letters (failed to parse)", "dead_letters"),
    ("specgate_store_failures", "Device sessions' writes that the store refused or timed out", "store_failures"),
    ("specgate_handler_errors", "Device plugin handlers that raised", "handler_errors"),
    ("specgate_exchange_log_failures", "Exchanges that could not be logged", "exchange_log_failures"),
)
#: (name without ``_total``, help, the listener counter by reason it reads)
LISTENER_REASONS: tuple[tuple[str, str, str], ...] = (
    ("specgate_connections_refused", "Device connections refused, by reason", "rejected"),
    ("specgate_connections_closed", "Device sessions closed, by reason", "closed"),
)

HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: the route label of a request no route answered (no such path, a CORS preflight)
NO_ROUTE = "none"


class RequestCounts:
    """HTTP requests answered, by method, route template and status."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str, str]] = Counter()

    def add(self, method: str, route: str | None, status: int) -> None:
        method = method if method in HTTP_METHODS else "OTHER"
        self.counts[(method, route or NO_ROUTE, str(status))] += 1


class SpecgateCollector(Collector):
    """Everything ``/metrics`` exports, read from the app's state at each scrape."""

    def __init__(self, state: State, requests: RequestCounts) -> None:
        self.state = state
        self.requests = requests

    def collect(self) -> Iterator[Metric]:
        yield from self._listeners()
        yield self._store_seconds()
        http = CounterMetricFamily(
            "specgate_http_requests", "HTTP requests answered, by route template and status", labels=_HTTP_LABELS
        )
        for labels, count in sorted(self.requests.counts.items()):
            http.add_metric(list(labels), count)
        yield http

    def _listeners(self) -> Iterator[Metric]:
        gateway = getattr(self.state, "gateway", None)
        listeners: list[dict[str, Any]] = gateway.metrics()["listeners"] if gateway is not None else []
        open_ = GaugeMetricFamily("specgate_connections_open", "Device connections open now", labels=LISTENER_LABELS)
        frames = CounterMetricFamily(
            "specgate_frames", "Frames received, by result (ok: decoded, bad: not)", labels=[*LISTENER_LABELS, "result"]
        )
        counters = {
            key: CounterMetricFamily(name, text, labels=LISTENER_LABELS) for name, text, key in LISTENER_COUNTERS
        }
        reasons = {
            key: CounterMetricFamily(name, text, labels=[*LISTENER_LABELS, "reason"])
            for name, text, key in LISTENER_REASONS
        }
        plugin = CounterMetricFamily(
            "specgate_plugin_events", "Counters kept by device plugins, by name", labels=[*LISTENER_LABELS, "name"]
        )
        for entry in listeners:
            labels = [str(entry["name"]), str(entry["device_type"])]
            open_.add_metric(labels, entry["active"])
            frames.add_metric([*labels, "ok"], entry["frames_ok"])
            frames.add_metric([*labels, "bad"], entry["frames_bad"])
            for key, family in counters.items():
                family.add_metric(labels, entry[key])
            for key, family in reasons.items():
                for reason, count in sorted(entry[key].items()):
                    family.add_metric([*labels, str(reason)], count)
            for name, count in sorted(entry["plugin"].items()):
                plugin.add_metric([*labels, str(name)], count)
        yield open_
        yield frames
        yield from counters.values()
        yield from reasons.values()
        yield plugin

    def _store_seconds(self) -> Metric:
        family = HistogramMetricFamily(
            "specgate_store_seconds", "Duration of store calls, by operation", labels=["operation"]
        )
        timings = store_timings(self.state.store)
        if timings is not None:
            for operation, entry in sorted(timings.operations.items()):
                buckets = [(_bound(bound), count) for bound, count in timings.cumulative(operation)]
                family.add_metric([operation], buckets, entry.total)
        return family


_HTTP_LABELS = ["method", "route", "status"]


def _bound(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(bound)


class WebMetrics:
    """One app's registry, and the request counts its middleware adds to."""

    def __init__(self, state: State) -> None:
        self.requests = RequestCounts()
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(SpecgateCollector(state, self.requests))

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)

    def names(self) -> set[str]:
        """The exported metric names (counters with their ``_total``), as docs/api.md lists them."""
        found = set()
        for family in self.registry.collect():
            found.add(f"{family.name}_total" if family.type == "counter" else family.name)
        return found
