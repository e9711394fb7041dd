"""``specgate replay``: stored traffic decoded with today's spec and with a candidate, and what changed."""

from __future__ import annotations

import asyncio
import json
import time

import yaml

from core.cli import main
from core.store import open_store
from specs import bundled_spec_paths

NOW = float(int(time.time()) - 60)  # recent: the store's retention keeps it


def candidate_spec(tmp_path):
    """The scale spec with a GS (gross) header added and US lines taken as stable (and no examples)."""
    text = next(p for p in bundled_spec_paths() if p.stem == "fg150kal").read_text()
    text = text.replace("ST|US|OL|QT|WT)", "ST|US|OL|QT|WT|GS)").replace(
        "[ST, US, OL, QT, WT]", "[ST, US, OL, QT, WT, GS]"
    )
    text = text.replace('match: "ST|QT|WT"', 'match: "ST|QT|WT|US"')
    text = text[: text.index("\nexamples:")]  # today's examples pin today's behaviour
    path = tmp_path / "fg150kal.yaml"
    path.write_text(text)
    return path


def seed(db) -> str:
    async def run() -> str:
        async with open_store(f"sqlite:///{db}") as store:
            for n, line in enumerate((b"US,+00012.40 kg\r\n", b"ST,+00053.25 kg\r\n")):
                await store.log_exchange(
                    {"ip": "192.0.2.5", "port": 4001, "datetime": "x", "recv": line, "recv_len": len(line)}
                    | {"send": b"", "send_len": 0, "at": NOW + n, "device_type": "fg150kal"}
                )
            return await store.add_dead_letter(
                {"device_type": "fg150kal", "ip": "192.0.2.5", "port": 4001, "at": NOW}
                | {"data": b"GS,+00053.25 kg", "error": "no message matches", "path": ""}
            )

    return asyncio.run(run())


def test_replay_with_a_candidate_reports_changed_values_and_dead_letters_that_now_decode(tmp_path, capsys):
    db = tmp_path / "specgate.db"
    seed(db)
    spec = candidate_spec(tmp_path)
    assert main(["replay", "fg150kal", "--spec", str(spec), "--json", "--store", str(db)]) == 0
    captured = capsys.readouterr()
    reports = [json.loads(line) for line in captured.out.splitlines()]
    by_change = {report["change"]: report for report in reports}
    assert set(by_change) == {"values differ", "now decodes"}
    assert by_change["values differ"]["differences"] == {"[0].stable": [False, True]}
    assert by_change["values differ"]["hex"] == b"US,+00012.40 kg\r\n".hex()
    assert by_change["now decodes"]["source"] == "dead letter"
    assert by_change["now decodes"]["values"][0]["header"] == "GS"
    assert "3 checked, 1 unchanged, 1 now decodes, 0 now fails, 1 values differ" in captured.err


def test_replay_without_a_candidate_lists_nothing_for_traffic_that_still_decodes(tmp_path, capsys):
    db = tmp_path / "specgate.db"
    seed(db)
    assert main(["replay", "fg150kal", "--store", str(db)]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and "3 checked, 3 unchanged" in captured.err


def test_a_dead_letter_becomes_a_spec_example_the_candidate_accepts(tmp_path, capsys):
    db = tmp_path / "specgate.db"
    letter = seed(db)
    spec = candidate_spec(tmp_path)
    assert main(["replay", "fg150kal", "--spec", str(spec), "--example", letter, "--store", str(db)]) == 0
    [example] = yaml.safe_load(capsys.readouterr().out)
    assert example["message"] == "weight" and example["values"]["header"] == "GS"
    assert bytes.fromhex(example["hex"].replace(" ", "")) == b"GS,+00053.25 kg"
    assert main(["replay", "fg150kal", "--example", letter, "--store", str(db)]) == 1
    assert "does not decode with spec 'fg150kal' either" in capsys.readouterr().err
