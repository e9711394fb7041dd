"""The deployment files in deploy/: systemd units that systemd accepts and that run commands specgate
knows, and an example configuration that loads."""

from __future__ import annotations

import configparser
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from core.cli import build_parser
from core.config import load_config

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))


def test_there_are_units_for_one_process_and_for_gateway_and_web_apart():
    assert {unit.name for unit in UNITS} == {"specgate.service", "specgate-gateway.service", "specgate-web.service"}


@pytest.mark.parametrize("unit", UNITS, ids=lambda path: path.name)
def test_each_unit_runs_a_specgate_command_line_that_parses(unit):
    parser = configparser.ConfigParser(strict=True, interpolation=None)
    parser.optionxform = str  # keys are case-sensitive in systemd
    parser.read_string(unit.read_text())
    assert {"Unit", "Service", "Install"} <= set(parser.sections())
    command = shlex.split(parser["Service"]["ExecStart"])
    assert Path(command[0]).name == "specgate"
    args = build_parser().parse_args(command[1:])
    assert args.command == "serve"
    env = dict(item.split("=", 1) for item in parser["Service"]["Environment"].split())
    assert env["SPECGATE_CONFIG"] == "/etc/specgate/specgate.yaml"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed here")
@pytest.mark.parametrize("unit", UNITS, ids=lambda path: path.name)
def test_systemd_accepts_each_unit(unit, tmp_path):
    # verify checks that ExecStart exists: point it at this environment's specgate
    local = tmp_path / unit.name
    local.write_text(
        unit.read_text().replace("/opt/specgate/venv/bin/specgate", str(Path(sys.executable).parent / "specgate"))
    )
    result = subprocess.run(["systemd-analyze", "verify", str(local)], capture_output=True, text=True, timeout=60)
    complaints = [line for line in (result.stdout + result.stderr).splitlines() if unit.name in line]
    assert result.returncode == 0 and complaints == []


def test_the_example_configuration_loads():
    config = load_config(str(DEPLOY / "specgate.yaml"), env={})
    assert config.web_cookie_secure is True and config.web_secure_cookies
    assert config.log_format == "json"
    assert [listener.device_type for listener in config.listeners] == ["gas_meter", "fg150kal"]
