"""The response encoder (``core.http.dumps_bytes``, orjson): the same text as the exact-decimal standard
encoder, decimals exact, and a fallback for what orjson refuses."""

from __future__ import annotations

import datetime
import json
from decimal import Decimal

import pytest

from core import jsonutil
from core.http import JSONResponse, dumps, dumps_bytes


def standard(data: object) -> str:
    return jsonutil.dumps(
        data, default=lambda v: v.hex() if isinstance(v, bytes) else None, ensure_ascii=False, separators=(",", ":")
    )


@pytest.mark.parametrize(
    "data",
    [
        {"weight": Decimal("53.20"), "gross_kg": Decimal("0.00"), "big": Decimal("1E+2"), "neg": Decimal("-0.050")},
        {"nested": [{"d": Decimal("12345678901234567890.12")}, (Decimal("1"), "x")]},
        {"text": '저울 \n\t\x00\x1f"\\/ \u2028', "bytes": b"\x01\xff", "n": None, "t": True, "i": -3, "f": 1.5},
        {"nan": Decimal("NaN"), "inf": Decimal("-Infinity")},
        {"huge": 2**70, "w": Decimal("1.10")},  # beyond 64 bits: the standard encoder's fallback
        {1: Decimal("2.50")},  # a non-string key: the fallback too
    ],
)
def test_the_same_text_as_the_standard_exact_decimal_encoder(data):
    assert dumps_bytes(data) == standard(data).encode("utf-8")
    assert dumps(data) == standard(data)


def test_decimals_keep_their_places_in_the_body():
    body = JSONResponse({"ok": True, "weight": Decimal("53.20")}).body
    assert body == b'{"ok":true,"weight":53.20}'
    assert json.loads(body, parse_float=Decimal)["weight"] == Decimal("53.20")


def test_what_neither_encoder_knows_is_refused():
    with pytest.raises(TypeError):
        dumps_bytes({"x": object()})
    with pytest.raises(TypeError):  # orjson would write it; json.dumps does not, so neither do we
        dumps_bytes({"t": datetime.datetime(2025, 1, 1)})
