"""The SQLite schema: the ordered migration steps and the function that applies them."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from core.errors import StoreUnavailable

# Each entry upgrades the schema by one version; append new steps, never edit shipped ones.
MIGRATIONS: list[tuple[str, ...]] = [
    # 1: the original collections
    (
        "CREATE TABLE tenants (name TEXT PRIMARY KEY)",
        "CREATE TABLE device_route (device_uid TEXT PRIMARY KEY, db_name TEXT NOT NULL)",
        "CREATE INDEX device_route_db_name ON device_route (db_name)",
        "CREATE TABLE user_route (ID TEXT PRIMARY KEY, db_name TEXT NOT NULL)",
        "CREATE TABLE floating_users (ID TEXT PRIMARY KEY, doc TEXT NOT NULL)",
        "CREATE INDEX floating_users_regdate ON floating_users (json_extract(doc, '$.regdate'))",
        "CREATE TABLE misc_data (id INTEGER PRIMARY KEY, at REAL NOT NULL, ip TEXT, port INTEGER,"
        " device_type TEXT, doc TEXT NOT NULL)",
        "CREATE INDEX misc_data_at ON misc_data (at)",
        "CREATE INDEX misc_data_ip ON misc_data (ip, at)",
        "CREATE TABLE users (tenant TEXT NOT NULL, ID TEXT NOT NULL, doc TEXT NOT NULL, PRIMARY KEY (tenant, ID))",
        "CREATE TABLE device (tenant TEXT NOT NULL, device_uid TEXT NOT NULL, doc TEXT NOT NULL,"
        " PRIMARY KEY (tenant, device_uid))",
        "CREATE INDEX device_meter_id ON device (tenant, json_extract(doc, '$.meter_id'))",
        "CREATE INDEX device_customer_no ON device (tenant, json_extract(doc, '$.customer_no'))",
        "CREATE INDEX device_installer_id ON device (tenant, json_extract(doc, '$.installer_id'))",
        "CREATE INDEX device_last_timestamp ON device (tenant, json_extract(doc, '$.last_timestamp'))",
        "CREATE TABLE data (id INTEGER PRIMARY KEY, tenant TEXT NOT NULL, device_uid TEXT NOT NULL,"
        " timestamp INTEGER NOT NULL, counter_val INTEGER NOT NULL, year INTEGER, month INTEGER, day INTEGER,"
        " hour INTEGER, wday INTEGER, week INTEGER, UNIQUE (tenant, device_uid, timestamp))",
        "CREATE INDEX data_tenant_timestamp ON data (tenant, timestamp)",
        "CREATE TABLE subscriber (tenant TEXT NOT NULL, customer_no TEXT NOT NULL, doc TEXT NOT NULL,"
        " PRIMARY KEY (tenant, customer_no))",
        "CREATE INDEX subscriber_meter_id ON subscriber (tenant, json_extract(doc, '$.meter_id'))",
        "CREATE INDEX subscriber_bind_device_id ON subscriber (tenant, json_extract(doc, '$.bind_device_id'))",
    ),
    # 2: collections specgate added
    (
        "CREATE TABLE event (tenant TEXT NOT NULL, event_id TEXT NOT NULL, device_uid TEXT NOT NULL,"
        " event_time REAL NOT NULL, doc TEXT NOT NULL, PRIMARY KEY (tenant, event_id))",
        "CREATE INDEX event_device_time ON event (tenant, device_uid, event_time)",
        "CREATE INDEX event_time ON event (tenant, event_time)",
        "CREATE TABLE dead_letter (id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, doc TEXT NOT NULL)",
        "CREATE INDEX dead_letter_at ON dead_letter (at)",
        "CREATE TABLE scale_latest (scale_id TEXT PRIMARY KEY, doc TEXT NOT NULL)",
        "CREATE TABLE scale_weight_log (id INTEGER PRIMARY KEY AUTOINCREMENT, scale_id TEXT NOT NULL,"
        " cylinder_no TEXT NOT NULL, event_type TEXT NOT NULL, committed_at REAL NOT NULL, doc TEXT NOT NULL)",
        "CREATE INDEX scale_weight_log_cylinder ON scale_weight_log (cylinder_no)",
        "CREATE INDEX scale_weight_log_committed_at ON scale_weight_log (committed_at)",
        "CREATE TABLE sessions (token_hash TEXT PRIMARY KEY, login_id TEXT NOT NULL, expires_at REAL NOT NULL,"
        " revoked INTEGER NOT NULL DEFAULT 0, doc TEXT NOT NULL)",
        "CREATE INDEX sessions_login_id ON sessions (login_id)",
    ),
    # 3: measurements of devices that are not gas meters
    (
        "CREATE TABLE measurement (id INTEGER PRIMARY KEY, device_type TEXT NOT NULL, device_id TEXT NOT NULL,"
        " at REAL NOT NULL, tenant TEXT, doc TEXT NOT NULL, UNIQUE (device_type, device_id, at))",
        "CREATE INDEX measurement_at ON measurement (at)",
        "CREATE INDEX measurement_tenant_at ON measurement (tenant, at)",
    ),
    # 4: idle expiry of sessions, API tokens, login throttling, exchanges and weighings named by tenant
    (
        "ALTER TABLE sessions ADD COLUMN idle_expires_at REAL",
        "CREATE INDEX sessions_expires_at ON sessions (expires_at)",
        "CREATE TABLE api_tokens (token_id TEXT PRIMARY KEY, token_hash TEXT NOT NULL UNIQUE, tenant TEXT,"
        " name TEXT NOT NULL, created_at REAL NOT NULL, expires_at REAL, revoked INTEGER NOT NULL DEFAULT 0,"
        " doc TEXT NOT NULL)",
        "CREATE INDEX api_tokens_created_at ON api_tokens (created_at)",
        "CREATE INDEX api_tokens_tenant ON api_tokens (tenant, created_at)",
        "CREATE TABLE login_failures (id INTEGER PRIMARY KEY, key TEXT NOT NULL, at REAL NOT NULL)",
        "CREATE INDEX login_failures_key_at ON login_failures (key, at)",
        "CREATE INDEX login_failures_at ON login_failures (at)",
        "ALTER TABLE misc_data ADD COLUMN device_uid TEXT",
        "ALTER TABLE misc_data ADD COLUMN tenant TEXT",
        "CREATE INDEX misc_data_tenant_at ON misc_data (tenant, at)",
        "CREATE INDEX misc_data_device_uid_at ON misc_data (device_uid, at)",
        "ALTER TABLE scale_weight_log ADD COLUMN tenant TEXT",
        "CREATE INDEX scale_weight_log_tenant ON scale_weight_log (tenant, id)",
        "CREATE INDEX floating_users_tenant ON floating_users (json_extract(doc, '$.tenant'))",
    ),
    # 5: the live feed web processes follow (core.store.sqlite.live), bounded by count
    (
        "CREATE TABLE live_feed (id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, kind TEXT NOT NULL,"
        " tenant TEXT, doc TEXT NOT NULL)",
    ),
]
SCHEMA_VERSION = len(MIGRATIONS)


def migrate(conn: sqlite3.Connection, migrations: Sequence[tuple[str, ...]] = MIGRATIONS) -> int:
    """Create or upgrade the schema to ``len(migrations)`` in one transaction; returns the version."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("CREATE TABLE IF NOT EXISTS specgate_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        version = schema_version(conn)
        if version > len(migrations):
            raise StoreUnavailable(
                f"the database has schema version {version}, newer than this specgate knows ({len(migrations)})"
            )
        for steps in migrations[version:]:
            for statement in steps:
                conn.execute(statement)
        conn.execute(
            "INSERT OR REPLACE INTO specgate_meta (key, value) VALUES ('schema_version', ?)", (str(len(migrations)),)
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return len(migrations)


def schema_version(conn: sqlite3.Connection) -> int:
    """The version recorded in the file (0 for a new file)."""
    row = conn.execute("SELECT value FROM specgate_meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else 0
