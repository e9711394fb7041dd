"""What the dashboard's browser tests share: the seeded names, the running server, screenshots."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
from playwright.sync_api import Page

from tests.web.support import PASSWORD

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("SPECGATE_ARTIFACTS") or ROOT / "tests" / "browser" / "artifacts")
TENANT = "gas_demo"
METER = "D4245A90"
#: a cylinder whose usual weight is 53 kg (four earlier shipments)
CYLINDER = "CY-TEST-0001"
USERS = {"kim": ("admin", "kor"), "lee": ("operator", "eng"), "park": ("viewer", "eng")}


@dataclass
class Server:
    url: str
    scale_port: int
    meter_port: int
    store_url: str
    config: Path

    @contextlib.contextmanager
    def client(self, login: str, password: str = PASSWORD) -> Iterator[httpx.Client]:
        """An API client logged in as ``login`` (a bearer session, as a script would use)."""
        with httpx.Client(base_url=self.url, timeout=10) as client:
            answer = client.post("/api/v1/session", json={"login": login, "password": password})
            assert answer.status_code == 200, answer.text
            client.headers["Authorization"] = f"Bearer {answer.json()['token']}"
            yield client


def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
