"""``specgate weighings import FILE.csv``: the CYNOW scale gateway's ``ScaleWeightLog`` rows, exported as
CSV, into the weighing log.

Columns (a header row, as a Django admin or ``psql \\copy ... CSV HEADER`` export writes them): ``id``,
``scale_id``, ``cylinder_no``, ``event_type`` (SHIP or RETURN), ``gross_kg``, ``raw_line``, ``received_at``,
``committed_at`` (ISO 8601; without an offset in the configured time zone), ``arrival_shipping_no``,
``move_report_no``. Each row gets a new ``id`` in the shared sequence and keeps the original one as
``source_id``; a row whose ``source_id`` was imported before is skipped, so an import can be run again.
"""

from __future__ import annotations

import argparse
import csv
import sys
from datetime import datetime, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any

from core.api import (
    BadRequest,
    ListQuery,
    Store,
    add_store_flags,
    fail,
    load_config_for,
    need_subcommand,
    print_rows,
    run_with_store,
    tenant_name,
)
from plugins.fg150kal.options import DEFAULT_SCALE_ID
from plugins.fg150kal.routes import EVENT_TYPES, check_text, two_decimals

MAX_ROWS = 200_000
_BATCH = 500


def _moment(text: str, name: str, tz: tzinfo) -> float:
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{name} must be ISO 8601, got {text!r}") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=tz)).timestamp()


def weighing_row(row: dict[str, str], tz: tzinfo, tenant: str | None) -> dict[str, Any]:
    """One CSV row as a weighing record; ``ValueError`` names the bad column."""

    def text(name: str, required: bool) -> str | None:
        value = (row.get(name) or "").strip() or None
        try:
            return check_text(value, name, required)
        except BadRequest as exc:
            raise ValueError(str(exc)) from None

    event_type = (row.get("event_type") or "").strip().upper()
    if event_type not in EVENT_TYPES:
        raise ValueError(f"event_type must be SHIP or RETURN, got {row.get('event_type')!r}")
    try:
        gross = two_decimals(Decimal((row.get("gross_kg") or "").strip()))
    except (InvalidOperation, ValueError):
        raise ValueError(f"gross_kg must be a number, got {row.get('gross_kg')!r}") from None
    committed_at = _moment(row.get("committed_at") or "", "committed_at", tz)
    received = (row.get("received_at") or "").strip()
    return {
        "scale_id": text("scale_id", False) or DEFAULT_SCALE_ID,
        "cylinder_no": text("cylinder_no", True),
        "event_type": event_type,
        "gross_kg": gross,
        "raw_line": (row.get("raw_line") or "")[:200],
        "received_at": _moment(received, "received_at", tz) if received else committed_at,
        "committed_at": committed_at,
        "arrival_shipping_no": text("arrival_shipping_no", False),
        "move_report_no": text("move_report_no", False),
        "source_id": text("id", False),
        "tenant": tenant,
    }


async def _imported_ids(store: Store) -> set[str]:
    seen: set[str] = set()
    offset = 0
    while True:
        page = await store.search_weighings(ListQuery(limit=1000, offset=offset))
        seen.update(str(item["source_id"]) for item in page.items if item.get("source_id") is not None)
        offset += len(page.items)
        if not page.items or offset >= page.total:
            return seen


def run_import(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    tz = load_config_for(args).tz
    try:
        with open(args.file, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        return fail(f"cannot read {args.file}: {exc}")
    if len(rows) > MAX_ROWS:
        return fail(f"{args.file} has {len(rows)} rows; import at most {MAX_ROWS} at a time")
    if rows and "cylinder_no" not in rows[0]:
        return fail(f"{args.file} has no cylinder_no column (see specgate weighings import --help)")

    async def action(store: Store) -> int:
        already = await _imported_ids(store)
        report: list[dict[str, Any]] = []
        imported = skipped = 0
        for line, row in enumerate(tqdm(rows, desc="weighings", unit="row", disable=not sys.stderr.isatty()), start=2):
            try:
                record = weighing_row(row, tz, args.tenant)
            except ValueError as exc:
                report.append({"line": line, "id": row.get("id"), "result": "refused", "reason": str(exc)})
                continue
            if record["source_id"] is not None and record["source_id"] in already:
                skipped += 1
                continue
            if not args.dry_run:
                await store.commit_weighing(record)
            if record["source_id"] is not None:
                already.add(record["source_id"])
            imported += 1
        print_rows(report, ["line", "id", "result", "reason"], args.format == "json")
        verb = "would be imported" if args.dry_run else "imported"
        print(f"{imported} {verb}, {skipped} imported before, {len(report)} refused", file=sys.stderr)
        return 1 if report else 0

    return run_with_store(args, action)


def register_commands(subparsers: argparse._SubParsersAction) -> None:
    weighings = subparsers.add_parser("weighings", help="the weighing log of the scales")
    weighing_commands = weighings.add_subparsers(metavar="ACTION")
    weighings.set_defaults(func=need_subcommand(weighings))
    parser = weighing_commands.add_parser(
        "import",
        help="import the CYNOW scale gateway's ScaleWeightLog rows from a CSV export",
        description=(__doc__ or "").split("\n\n", 1)[1],
    )
    parser.add_argument("file", help="the CSV export")
    parser.add_argument("--tenant", type=tenant_name, help="the tenant the weighings belong to (default: shared)")
    parser.add_argument("--dry-run", action="store_true", help="check every row, import nothing")
    parser.add_argument("--format", choices=("text", "json"), default="text", help="the report of refused rows")
    add_store_flags(parser)
    parser.set_defaults(func=run_import)
