"""The Store contract for ``list_scales``: the latest reading of each scale a tenant may see. Every backend
passes exactly these tests (the ``store`` fixture of tests/conftest.py)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.errors import InvalidInput

NOW = 1741219200.0


def reading(weight: str, tenant: str | None = None, **extra) -> dict:
    doc = {"status": "ST", "weight": Decimal(weight), "unit": "kg", "raw": f"ST,+{weight} kg", "received_at": NOW}
    if tenant is not None:
        doc["tenant"] = tenant
    return {**doc, **extra}


async def fill(store) -> None:
    await store.set_scale_latest("dock-b", reading("53.25", "gas_b"))
    await store.set_scale_latest("dock-a", reading("12.50", "gas_a"))
    await store.set_scale_latest("open", reading("1.00"))  # no tenant key: shared
    await store.set_scale_latest("yard", {**reading("7.75"), "tenant": None})  # shared, written as None


async def test_a_tenant_sees_its_scales_and_shared_ones_sorted(store):
    await fill(store)
    listed = await store.list_scales("gas_a")
    assert [scale["scale_id"] for scale in listed] == ["dock-a", "open", "yard"]
    dock = listed[0]
    assert dock["weight"] == Decimal("12.50") and isinstance(dock["weight"], Decimal)
    assert dock["tenant"] == "gas_a" and dock["received_at"] == NOW and dock["raw"] == "ST,+12.50 kg"
    assert "_id" not in dock
    assert [scale["scale_id"] for scale in await store.list_scales("gas_b")] == ["dock-b", "open", "yard"]


async def test_without_a_tenant_every_scale_is_listed(store):
    await fill(store)
    assert [scale["scale_id"] for scale in await store.list_scales(None)] == ["dock-a", "dock-b", "open", "yard"]


async def test_a_scale_moved_to_another_tenant_leaves_the_first(store):
    await store.set_scale_latest("dock", reading("1.00", "gas_a"))
    await store.set_scale_latest("dock", reading("2.00", "gas_b"))
    assert await store.list_scales("gas_a") == []
    assert [scale["weight"] for scale in await store.list_scales("gas_b")] == [Decimal("2.00")]


async def test_no_scales_list_empty(store):
    assert await store.list_scales(None) == []
    assert await store.list_scales("gas_a") == []


@pytest.mark.parametrize("bad", ["$where", "gas-a", "", 7, {"$ne": None}])
async def test_a_tenant_that_cannot_be_one_is_refused(store, bad):
    await fill(store)
    with pytest.raises(InvalidInput, match="tenant"):
        await store.list_scales(bad)
