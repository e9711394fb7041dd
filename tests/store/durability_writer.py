"""Child process of test_durability: writes batches of readings and says so after each write returns.

Usage: python durability_writer.py STORE_URL OPTIONS_JSON TENANT
Prints ``written N`` (N = batches committed so far) after every ``insert_readings`` returns, forever;
the parent kills it with SIGKILL.
"""

from __future__ import annotations

import asyncio
import json
import sys

from core.store import open_store

BASE_TS = 1741186800


async def main(url: str, options: dict, tenant: str) -> None:
    async with open_store(url, **options) as store:
        batch = 0
        while True:
            readings = [
                {"device_uid": "0000DEAD", "timestamp": BASE_TS + 3600 * (24 * batch + i), "counter_val": i}
                for i in range(24)
            ]
            await store.insert_readings(tenant, readings)
            batch += 1
            sys.stdout.write(f"written {batch}\n")
            sys.stdout.flush()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]))
