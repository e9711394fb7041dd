"""The worked third-party plugin in ``examples/nmea_gps``, installed as a user would install it (into a
temporary target, never into the test venv, whose plugin list other tests check) and run by the real CLI."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import socket
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from core.store import ListQuery, open_store
from tests.gateway.serving import clean_env, serving, stop

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "nmea_gps"
# public example sentences (see examples/nmea_gps/README.md), one with its altitude changed after the checksum
GGA = b"$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47\r\n"
BAD_CHECKSUM = b"$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.5,M,46.9,M,,*47\r\n"
GSV = b"$GPGSV,3,1,11,03,03,111,00,04,15,270,00,06,01,010,00,13,06,292,00*74\r\n"
NO_FIX = b"$GPRMC,,V,,,,,,,,,,N*53\r\n"
RMC = b"$GPRMC,225446,A,4916.45,N,12311.12,W,000.5,054.7,191194,020.3,E*68\r\n"


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The example package installed with the venv's own setuptools, offline, into a fresh target."""
    work = tmp_path_factory.mktemp("nmea_gps")
    source = work / "source"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__", ".*"))
    target = work / "target"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index"]
        + ["--disable-pip-version-check", "--target", str(target), str(source)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return target


def env_with(target: Path) -> dict[str, str]:
    return clean_env(PYTHONPATH=str(target))


def specgate(target: Path, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "core", *args], capture_output=True, text=True, env=env_with(target), timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_the_installed_plugin_is_listed_with_its_hooks(installed):
    plugins = {p["name"]: p for p in json.loads(specgate(installed, "plugins", "--format", "json"))["plugins"]}
    assert plugins["nmea_gps"]["package"] == "specgate-nmea-gps"
    assert plugins["nmea_gps"]["specs"] == ["nmea_gps"]
    assert [(o["name"], o["default"]) for o in plugins["nmea_gps"]["options"]] == [
        ("devices.nmea_gps.listen_host", "0.0.0.0"),
        ("devices.nmea_gps.listen_port", 10110),
        ("devices.nmea_gps.device_id", None),
    ]
    assert {"specgate_decode_frame", "specgate_handle_message", "specgate_declare_listeners"} <= set(
        plugins["nmea_gps"]["hooks"]
    )


def test_its_spec_is_listed_from_the_installed_package(installed):
    specs = {s["name"]: s for s in json.loads(specgate(installed, "specs", "--format", "json"))}
    assert Path(specs["nmea_gps"]["file"]) == installed / "specgate_nmea_gps" / "nmea_gps.yaml"
    assert [(m["name"], m["direction"]) for m in specs["nmea_gps"]["messages"]] == [
        ("gga", "uplink"),
        ("rmc", "uplink"),
        ("vtg", "uplink"),
    ]
    assert specs["nmea_gps"]["framing"]["kind"] == "lines"


async def read_store(url: str) -> tuple[list[dict], list[dict]]:
    async with open_store(url) as store:
        measurements = (await store.list_measurements(ListQuery(sort="at"))).items
        dead = (await store.list_dead_letters(ListQuery())).items
    return measurements, dead


def test_serve_keeps_the_fixes_a_tracker_streams(installed, tmp_path):
    store_url = f"sqlite:///{tmp_path / 'x.db'}"
    args = ["--no-web", "--no-listeners", "--store", store_url]
    args += ["--listen", "nmea_gps:0:host=127.0.0.1,device_id=tracker-7"]
    with serving(args, tmp_path, env=env_with(installed)) as (proc, output):
        lines = output.until("  web disabled", 30)
        listener = re.search(r"listener nmea_gps on 127\.0\.0\.1:(\d+)", "\n".join(lines))
        assert listener, lines
        with socket.create_connection(("127.0.0.1", int(listener.group(1))), timeout=5) as tracker:
            tracker.sendall(GGA + BAD_CHECKSUM + GSV + NO_FIX + RMC[:30])
            tracker.sendall(RMC[30:])
            tracker.shutdown(socket.SHUT_WR)
            tracker.settimeout(5)
            assert tracker.recv(64) == b""  # no replies; the gateway closes once every line is handled
        stop(proc)
    measurements, dead = asyncio.run(read_store(store_url))
    assert [(m["device_id"], m["device_type"], m["values"]["sentence"]) for m in measurements] == [
        ("tracker-7", "nmea_gps", "GPGGA"),
        ("tracker-7", "nmea_gps", "GPRMC"),
    ]
    gga, rmc = (m["values"] for m in measurements)
    assert (gga["latitude"], gga["longitude"], gga["altitude_m"]) == (
        Decimal("48.1173000000"),
        Decimal("11.5166666667"),
        Decimal("545.4"),
    )
    assert (rmc["date"], rmc["time"], rmc["longitude"]) == ("1994-11-19", "22:54:46", Decimal("-123.1853333333"))
    assert sorted(d["data"] for d in dead) == sorted([BAD_CHECKSUM.rstrip(b"\r\n"), GSV.rstrip(b"\r\n")])
    assert any("NMEA checksum is 47, the sentence's characters give 46" in d["error"] for d in dead), dead


def test_the_example_packages_own_tests_pass(installed):
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(EXAMPLE / "tests")],
        capture_output=True,
        text=True,
        env=env_with(installed),
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"\b\d+ passed\b", result.stdout), result.stdout
