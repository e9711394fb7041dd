"""The web server's limits in the configuration: defaults, the file, the environment and the flag."""

from __future__ import annotations

import pytest
import yaml

from core.config import Config, load_config
from core.errors import ConfigError


def test_defaults():
    config = Config()
    assert (config.web_max_connections, config.web_keep_alive_timeout, config.web_header_timeout) == (100, 5, 10.0)


def test_file_then_environment_then_flag(tmp_path):
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump({"web": {"max_connections": 20, "keep_alive_timeout": 30, "header_timeout": 2.5}}))
    config = load_config(str(path), env={}, options=[])
    assert (config.web_max_connections, config.web_keep_alive_timeout, config.web_header_timeout) == (20, 30, 2.5)
    env = {"SPECGATE_WEB_MAX_CONNECTIONS": "40", "SPECGATE_WEB_HEADER_TIMEOUT": "4"}
    config = load_config(str(path), env=env, options=[])
    assert (config.web_max_connections, config.web_header_timeout) == (40, 4.0)
    assert load_config(str(path), env=env, web_max_connections=7, options=[]).web_max_connections == 7


@pytest.mark.parametrize(
    ("web", "named"),
    [
        ({"max_connections": 0}, "web.max_connections"),
        ({"keep_alive_timeout": "soon"}, "web.keep_alive_timeout"),
        ({"header_timeout": 0}, "web.header_timeout"),
    ],
)
def test_bad_values_name_the_key(tmp_path, web, named):
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump({"web": web}))
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        load_config(str(path), env={}, options=[])
