"""``specgate weighings import``: the CYNOW scale gateway's ScaleWeightLog rows from a CSV export."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

from core.cli import main
from core.store import ListQuery, open_store

EXPORT = """id,scale_id,cylinder_no,event_type,gross_kg,raw_line,received_at,committed_at,arrival_shipping_no,move_report_no
1,default,CY123456789,SHIP,53.26,"ST , +000053.26 _kg",2025-12-18T12:00:00+09:00,2025-12-18T12:01:00+09:00,AS20251218-0001,
2,default,CY123456789,RETURN,17.5,"ST,+00017.50 kg",2025-12-19 08:00:00,2025-12-19 08:00:05,,MR20251219-0001
3,default,CY000000001,WEIGH,10,x,2025-12-19T08:00:00,2025-12-19T08:00:05,,
4,default,,SHIP,10,x,2025-12-19T08:00:00,2025-12-19T08:00:05,,
5,default,CY000000002,SHIP,heavy,x,2025-12-19T08:00:00,2025-12-19T08:00:05,,
"""


def weighings(backend_url) -> list[dict]:
    url, options = backend_url

    async def run():
        async with open_store(url, **options) as store:
            return (await store.search_weighings(ListQuery(limit=100))).items

    return asyncio.run(run())


def test_an_export_is_imported_with_a_report_of_refused_rows_and_can_be_run_again(
    config_file, backend_url, tmp_path, capsys
):
    export = tmp_path / "ScaleWeightLog.csv"
    export.write_text(EXPORT)
    capsys.readouterr()
    assert main(["weighings", "import", str(export), "--format", "json", "--config", config_file]) == 1
    captured = capsys.readouterr()
    refused = {row["id"]: row["reason"] for row in json.loads(captured.out)}
    assert set(refused) == {"3", "4", "5"}
    assert "event_type must be SHIP or RETURN" in refused["3"] and "cylinder_no" in refused["4"]
    assert "gross_kg must be a number" in refused["5"]
    assert "2 imported, 0 imported before, 3 refused" in captured.err
    stored = sorted(weighings(backend_url), key=lambda w: w["committed_at"])
    assert [(w["source_id"], w["event_type"], w["gross_kg"]) for w in stored] == [
        ("1", "SHIP", Decimal("53.26")),
        ("2", "RETURN", Decimal("17.50")),
    ]
    assert stored[0]["committed_at"] == 1766026860.0  # 2025-12-18 12:01:00 +09:00
    assert stored[1]["committed_at"] == 1766098805.0  # no offset: the configured +09:00
    assert stored[0]["arrival_shipping_no"] == "AS20251218-0001" and stored[1]["move_report_no"] == "MR20251219-0001"
    assert main(["weighings", "import", str(export), "--config", config_file]) == 1
    assert "0 imported, 2 imported before, 3 refused" in capsys.readouterr().err
    assert len(weighings(backend_url)) == 2


def test_a_dry_run_imports_nothing(config_file, backend_url, tmp_path, capsys):
    export = tmp_path / "ScaleWeightLog.csv"
    export.write_text(EXPORT.split("\n3,")[0] + "\n")
    assert main(["weighings", "import", str(export), "--dry-run", "--config", config_file]) == 0
    assert "2 would be imported" in capsys.readouterr().err
    assert weighings(backend_url) == []
