"""Checks applied to every value before it reaches a database, shared by all backends."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from core.errors import InvalidInput
from core.store.listings import Listing, ListQuery

TENANT_RE = re.compile(r"^[A-Za-z0-9_]{1,63}$")
MAX_LIMIT = 1000
MAX_ANY_OF = 100
MAX_SEARCH = 100
MAX_KEY = 200
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_SCALARS = (str, int, float, bool, type(None))


def check_identifier(name: str, value: Any) -> str:
    """An identifier must be a non-empty ``str`` without NUL, not starting with ``$``, at most 256 chars."""
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be a string, got {type(value).__name__}: {value!r}")
    if not value or len(value) > 256:
        raise InvalidInput(f"{name} must be 1 to 256 characters, got {len(value)}")
    if value.startswith("$") or "\x00" in value:
        raise InvalidInput(f"{name} may not start with '$' or contain NUL: {value!r}")
    return value


def check_tenant(value: Any) -> str:
    """Tenants are database names: letters, digits and underscore, 1 to 63 characters."""
    if not isinstance(value, str) or not TENANT_RE.fullmatch(value):
        raise InvalidInput(f"tenant must match {TENANT_RE.pattern}, got {value!r}")
    return value


def check_key(name: str, value: Any, max_length: int = MAX_KEY) -> str:
    """A counter key such as ``account:alice`` or ``address:192.0.2.7``: a non-empty ``str`` of at most
    ``max_length`` characters, not starting with ``$``, without NUL or other control characters."""
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be a string, got {type(value).__name__}: {value!r}")
    if not value or len(value) > max_length:
        raise InvalidInput(f"{name} must be 1 to {max_length} characters, got {len(value)}")
    if value.startswith("$") or _CONTROL_RE.search(value):
        raise InvalidInput(f"{name} may not start with '$' or contain control characters: {value!r}")
    return value


def check_optional_tenant(value: Any) -> str | None:
    """None (no tenant) or a tenant name."""
    return None if value is None else check_tenant(value)


def check_scalar(name: str, value: Any) -> Any:
    """Filter values are scalars; a dict or list (``{"$ne": null}``) is refused, never executed."""
    if not isinstance(value, _SCALARS):
        raise InvalidInput(f"{name} must be a string, number, bool or null, got {type(value).__name__}: {value!r}")
    if isinstance(value, str) and value.startswith("$"):
        raise InvalidInput(f"{name} may not start with '$': {value!r}")
    return value


#: field names that passed :func:`check_field_name`. Stored documents reuse a small vocabulary, so most are
#: checked with one set comparison; bounded, as names can come from requests.
_GOOD_NAMES: set[str] = set()
_GOOD_NAMES_MAX = 10_000
#: value types that are not mappings: a document holding only these has no inner keys to check
_NOT_MAPPINGS = frozenset({str, int, float, bool, type(None), bytes, bytearray, list, tuple})


def check_field_name(name: Any) -> str:
    """Document keys: non-empty strings without ``$`` prefix, ``.`` or NUL."""
    if type(name) is str and name in _GOOD_NAMES:
        return name
    if not isinstance(name, str) or not name or name.startswith("$") or "." in name or "\x00" in name:
        raise InvalidInput(f"invalid field name {name!r}: field names may not be empty, start with '$' or contain '.'")
    if len(_GOOD_NAMES) < _GOOD_NAMES_MAX:
        _GOOD_NAMES.add(name)
    return name


def check_document(doc: Mapping[str, Any], what: str = "document") -> dict[str, Any]:
    """A document to store: a mapping whose keys pass :func:`check_field_name` at every depth."""
    if type(doc) is dict and doc.keys() <= _GOOD_NAMES and set(map(type, doc.values())) <= _NOT_MAPPINGS:
        return dict(doc)  # the usual document: known names, no inner document
    if not isinstance(doc, Mapping):
        raise InvalidInput(f"{what} must be an object, got {type(doc).__name__}")
    out: dict[str, Any] = {}
    for key, value in doc.items():
        check_field_name(key)
        if isinstance(value, Mapping):
            value = check_document(value, f"{what}.{key}")
        out[key] = value
    return out


def check_query(
    query: ListQuery,
    filters: Iterable[str],
    ranges: Iterable[str] = (),
    sorts: Iterable[str] = (),
    any_field: bool = False,
    searches: Iterable[str] = (),
) -> ListQuery:
    """Refuse filter, one-of, range, sort or search fields a listing does not offer, non-scalar values,
    bad search text and bad paging."""
    if not isinstance(query, ListQuery):
        raise InvalidInput(f"query must be a ListQuery, got {type(query).__name__}")
    allowed_filters, allowed_ranges, allowed_sorts = set(filters), set(ranges), set(sorts)
    for part in ("filters", "ranges", "any_of"):
        if not isinstance(getattr(query, part), Mapping):
            raise InvalidInput(f"{part} must be a mapping of field names, got {type(getattr(query, part)).__name__}")
    for name, value in query.filters.items():
        _check_filter_field(name, allowed_filters, any_field)
        check_scalar(name, value)
    for name, values in query.any_of.items():
        _check_filter_field(name, allowed_filters, any_field)
        if not isinstance(values, (tuple, list)):
            raise InvalidInput(f"any_of {name!r} must be a tuple of values, got {type(values).__name__}: {values!r}")
        if len(values) > MAX_ANY_OF:
            raise InvalidInput(f"any_of {name!r} may list at most {MAX_ANY_OF} values, got {len(values)}")
        for value in values:
            check_scalar(name, value)
    _check_search(query.search, tuple(searches))
    for name, bounds in query.ranges.items():
        if name not in allowed_ranges:
            raise InvalidInput(f"cannot range over {name!r}; allowed: {', '.join(sorted(allowed_ranges)) or 'none'}")
        if not isinstance(bounds, (tuple, list)) or len(bounds) != 2:
            raise InvalidInput(f"range of {name!r} must be (low, high)")
        for bound in bounds:
            check_scalar(name, bound)
    if query.sort is not None:
        if any_field:
            check_field_name(query.sort)
        elif query.sort not in allowed_sorts:
            raise InvalidInput(f"cannot sort on {query.sort!r}; allowed: {', '.join(sorted(allowed_sorts)) or 'none'}")
    for name in ("limit", "offset"):
        value = getattr(query, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise InvalidInput(f"{name} must be a non-negative integer, got {value!r}")
    if query.limit > MAX_LIMIT:
        raise InvalidInput(f"limit may be at most {MAX_LIMIT}, got {query.limit}")
    return query


def _check_filter_field(name: Any, allowed: set[str], any_field: bool) -> None:
    if any_field:
        check_field_name(name)
    elif name not in allowed:
        raise InvalidInput(f"cannot filter on {name!r}; allowed: {', '.join(sorted(allowed)) or 'none'}")


def _check_search(search: Any, searches: tuple[str, ...]) -> None:
    if search is None:
        return
    if not isinstance(search, str):
        raise InvalidInput(f"search must be a string, got {type(search).__name__}: {search!r}")
    if len(search) > MAX_SEARCH:
        raise InvalidInput(f"search may be at most {MAX_SEARCH} characters, got {len(search)}")
    if "\x00" in search:
        raise InvalidInput("search may not contain NUL")
    if search and not searches:
        raise InvalidInput("this listing has no fields to search")


def check_listing(query: ListQuery, listing: Listing) -> ListQuery:
    """``query`` checked against the fields ``listing`` declares (see :data:`core.store.listings.LISTINGS`)."""
    return check_query(query, listing.filters, listing.ranges, listing.sorts, searches=listing.searches)
