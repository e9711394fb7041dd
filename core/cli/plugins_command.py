"""``specgate plugins``: every loaded plugin with its hooks, specs and options (the data ``GET /-/plugins``
serves)."""

from __future__ import annotations

import argparse
import json
from typing import Any

import pluggy

from core.config import load_config
from core.plugins import describe_plugins, get_plugin_manager


def _print_text(data: dict[str, Any]) -> None:
    for plugin in data["plugins"]:
        origin = f"  ({plugin['package']} {plugin['version']})" if plugin["package"] else ""
        print(f"{plugin['name']}{origin}")
        print(f"  hooks: {', '.join(plugin['hooks']) or '-'}")
        print(f"  specs: {', '.join(plugin['specs']) or '-'}")
        for option in plugin["options"]:
            default = "none" if option["default"] is None else json.dumps(option["default"])
            env = f", {option['env']}" if option["env"] else ""
            print(f"  option {option['name']} (default {default}{env}): {option['help']}")


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    data = describe_plugins(get_plugin_manager(config.plugins, config.disable_plugins))
    if args.format == "json":
        print(json.dumps(data, indent=2))
    else:
        _print_text(data)
    return 0


def register(subparsers: argparse._SubParsersAction, pm: pluggy.PluginManager) -> None:
    parser = subparsers.add_parser("plugins", help="list loaded plugins, their hooks, specs and options")
    parser.add_argument("--config", help="configuration file (default: SPECGATE_CONFIG)")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.set_defaults(func=run)
