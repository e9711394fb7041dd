"""The document checks every backend applies: their fast path for the usual flat document (names seen before,
plain values) refuses exactly what the full checks refuse."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from core.errors import InvalidInput
from core.store.documents import check_event, check_exchange, check_fields, check_storable
from core.store.validation import check_document

BAD_DOCUMENTS = [
    ("inner $ key", {"name": {"$where": "1"}}),
    ("inner dotted key", {"name": {"a.b": 1}}),
    ("NaN", {"name": math.nan}),
    ("infinity", {"name": -math.inf}),
    ("int beyond 64 bits", {"name": 2**63}),
    ("negative int beyond 64 bits", {"name": -(2**63) - 1}),
    ("a set", {"name": {1, 2}}),
    ("an object", {"name": object()}),
    ("NaN in a list", {"name": [1.0, math.nan]}),
    ("big int in an inner document", {"name": {"inner": 2**64}}),
]


@pytest.mark.parametrize("label, doc", BAD_DOCUMENTS, ids=[label for label, _ in BAD_DOCUMENTS])
@pytest.mark.parametrize("known_names", [False, True], ids=["new names", "known names"])
def test_bad_values_are_refused_whether_or_not_the_names_were_seen(label, doc, known_names):
    if known_names:
        check_fields({"name": 1, "inner": 2}, "warm-up", "device_uid")
    with pytest.raises(InvalidInput):
        check_fields(doc, "device fields", "device_uid")


@pytest.mark.parametrize("bad_key", ["$set", "a.b", "", "nul\x00", 7])
def test_a_bad_name_is_never_taken_for_a_known_one(bad_key):
    for _ in range(2):  # a refused name is not remembered as a good one
        with pytest.raises(InvalidInput):
            check_document({bad_key: 1})


def test_good_documents_are_copied_with_their_values():
    fields = {"battery": 90, "ratio": 0.5, "flag": True, "note": None, "raw": b"\x01", "tags": ["a", 1]}
    for _ in range(2):
        checked = check_fields(fields, "device fields", "device_uid")
        assert checked == fields and checked is not fields
    nested = {"inner": {"weight": Decimal("1.5")}}
    assert check_document(nested) == nested
    check_storable(nested)


def test_gateway_records_pass_and_keep_their_checks():
    exchange = {"at": 1.0, "ip": "192.0.2.1", "port": 5004, "recv": bytearray(b"\x01"), "send": b"", "tenant": "t1"}
    for _ in range(2):
        assert check_exchange(exchange)["recv"] == b"\x01"
    with pytest.raises(InvalidInput):
        check_exchange({**exchange, "tenant": "not a tenant!"})
    with pytest.raises(InvalidInput):
        check_exchange({**exchange, "at": math.nan})
    event = {"device_uid": "0000AB01", "event_time": 1.0, "event_code": 1}
    assert check_event(event) == event
    with pytest.raises(InvalidInput):
        check_event({**event, "event_code": 2**64})
