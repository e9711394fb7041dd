"""Listing requests and results, and the one table of what every listing accepts.

Both backends check a :class:`ListQuery` against the :class:`Listing` of the method it was passed to
(:func:`core.store.validation.check_listing`) and take its default order from there, so the fields a
listing filters (``filters`` and ``any_of``), ranges, sorts and searches on are written only here. The
contract suite runs every field of this table against every backend.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

Scalar = str | int | float | bool | None


@dataclass(frozen=True)
class ListQuery:
    """A paged, filtered listing request.

    ``filters`` are equality matches; ``any_of`` maps a field to a tuple of values the field must be one
    of (at most 100; None in the tuple matches a missing or None field, an empty tuple matches nothing);
    ``ranges`` map a field to ``(low, high)`` meaning ``low <= value < high`` (either bound may be None).
    ``search`` (at most 100 characters) keeps the items one of whose ``searches`` fields contains it,
    ignoring case; the text is taken literally (no wildcards, no patterns), and an empty text is no
    search. All conditions hold together. Each listing accepts the fields its :data:`LISTINGS` entry
    names (``any_of`` those of ``filters``); any other field, and a search on a listing without
    ``searches``, raises ``InvalidInput``. ``limit`` is capped at 1000.
    """

    filters: Mapping[str, Scalar] = field(default_factory=dict)
    ranges: Mapping[str, tuple[Scalar, Scalar]] = field(default_factory=dict)
    sort: str | None = None
    descending: bool = False
    limit: int = 100
    offset: int = 0
    any_of: Mapping[str, tuple[Scalar, ...]] = field(default_factory=dict)
    search: str | None = None


@dataclass
class Page:
    """One page of a listing: ``items`` in order and ``total`` matching items across all pages."""

    items: list[dict[str, Any]]
    total: int


@dataclass(frozen=True)
class Listing:
    """The equality ``filters`` (also those of ``any_of``), ``ranges``, ``sorts`` and ``searches`` (the
    text fields a ``search`` looks into) one listing accepts, and its order when a query names no
    ``sort``: ``default_sort``, descending when ``default_descending`` (or the query asks)."""

    name: str
    filters: tuple[str, ...]
    ranges: tuple[str, ...]
    sorts: tuple[str, ...]
    default_sort: str
    default_descending: bool = False
    searches: tuple[str, ...] = ()

    def order(self, query: ListQuery) -> tuple[str, bool]:
        """``(field, descending)`` to sort ``query`` by."""
        return sort_order(query, self.default_sort, self.default_descending)

    def describe(self) -> str:
        """The rules as one docstring paragraph."""
        direction = "descending" if self.default_descending else "ascending"
        return (
            f"Listing ``{self.name}``: filters (and any_of) {_names(self.filters)}; ranges {_names(self.ranges)}; "
            f"sorts {_names(self.sorts)}; searches {_names(self.searches)}; "
            f"default order {self.default_sort} {direction}."
        )


def sort_order(query: ListQuery, default_sort: str, default_descending: bool = False) -> tuple[str, bool]:
    """The query's own sort as asked, else ``default_sort`` (descending if either side says so)."""
    if query.sort is None:
        return default_sort, default_descending or query.descending
    return query.sort, query.descending


def _names(fields: tuple[str, ...]) -> str:
    return ", ".join(fields) if fields else "none"


_DEVICE_FIELDS = ("device_uid", "meter_id", "installer_id", "flag", "customer_no", "status")

LISTINGS: dict[str, Listing] = {
    listing.name: listing
    for listing in (
        Listing(
            "devices",
            _DEVICE_FIELDS,
            (),
            _DEVICE_FIELDS + ("last_timestamp", "last_access"),
            "device_uid",
            searches=("device_uid", "meter_id", "customer_no", "customer_name", "installer_id"),
        ),
        Listing("readings", ("device_uid",), ("timestamp",), ("timestamp",), "timestamp"),
        Listing("events", ("device_uid", "event_type", "event_status"), ("event_time",), ("event_time",), "event_time"),
        Listing(
            "exchanges",
            ("ip", "port", "device_type", "device_uid", "tenant"),
            ("at", "datetime"),
            ("at",),
            "at",
            default_descending=True,
        ),
        Listing("dead_letters", ("device_type", "ip"), ("at",), ("at",), "at", default_descending=True),
        Listing(
            "weighings",
            ("cylinder_no", "event_type", "scale_id", "tenant"),
            ("committed_at",),
            ("id", "committed_at"),
            "id",
            searches=("cylinder_no",),
        ),
        Listing(
            "users",
            ("ID", "role", "flag", "email", "system_admin"),
            (),
            ("ID",),
            "ID",
            searches=("ID", "name", "email"),
        ),
        Listing("registrations", ("flag", "category", "tenant"), (), ("regdate",), "regdate"),
        Listing(
            "subscribers",
            ("customer_no", "meter_id", "subscriber_no", "bind_device_id", "binded"),
            (),
            ("customer_no",),
            "customer_no",
            searches=("customer_no", "customer_name", "meter_id", "subscriber_no"),
        ),
        Listing(
            "measurements", ("device_type", "device_id", "tenant"), ("at",), ("at",), "at", default_descending=True
        ),
        Listing(
            "api_tokens", ("tenant", "name", "revoked"), (), ("created_at",), "created_at", default_descending=True
        ),
    )
}
