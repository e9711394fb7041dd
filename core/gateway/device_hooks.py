"""The session hooks as one device type's sessions see them.

A session hook (connection opened and closed, decode, handle, reply) goes to the plugins that registered the
spec of the session's device type and to the plugins that register no spec (cross-cutting ones), never to
another device type's plugin. So a device plugin needs no ``device_type`` guard, and its
``specgate_handle_message`` may be ``async def``.

These hooks run several times per device session, so while none of their implementations is a wrapper
(``wrapper=True`` or ``hookwrapper=True``) :class:`DirectHook` calls the implementations itself, in pluggy's
order and with pluggy's result rules, without pluggy's per-call argument checks and copies; with a wrapper
it leaves the call to pluggy. Plugins registered or removed later are seen at the next call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import SimpleNamespace
from typing import Any

import pluggy

from core.plugins import device_owners

SESSION_HOOKS = (
    "specgate_connection_opened",
    "specgate_connection_closed",
    "specgate_decode_frame",
    "specgate_handle_message",
    "specgate_build_reply",
)

#: (implementation, the names of the arguments it takes), in calling order
_Plan = tuple[tuple[Callable[..., Any], tuple[str, ...]], ...]


class DirectHook:
    """One session hook: called like a pluggy hook (keyword arguments only), answering as pluggy would."""

    __slots__ = ("_caller", "_everything", "_firstresult", "_full", "_needed", "_plan")

    def __init__(self, caller: pluggy.HookCaller, full: pluggy.HookCaller | None = None) -> None:
        """``caller`` is the hook of the plugins called; ``full`` (by default ``caller``) the hook of every
        plugin, which lists its implementations at less cost than a subset hook (a copy, not a filter)."""
        self._caller = caller
        self._full = caller if full is None else full
        spec = caller.spec
        self._firstresult = bool(spec is not None and spec.opts.get("firstresult"))
        #: all the implementations when the plan was made: the plan is made again when they change
        self._everything: list[Any] | None = None
        self._plan: _Plan | None = None
        self._needed: frozenset[str] = frozenset()

    def get_hookimpls(self) -> list[Any]:
        return self._caller.get_hookimpls()

    def _current_plan(self) -> _Plan | None:
        everything = self._full.get_hookimpls()
        if everything != self._everything:
            self._everything = everything
            impls = self._caller.get_hookimpls()
            plain = not any(impl.hookwrapper or impl.wrapper for impl in impls)
            # pluggy calls the last registered (and tryfirst) implementations first
            self._plan = tuple((impl.function, tuple(impl.argnames)) for impl in reversed(impls)) if plain else None
            self._needed = frozenset(name for impl in impls for name in impl.argnames)
        return self._plan

    def __call__(self, **kwargs: Any) -> Any:
        plan = self._current_plan()
        if plan is None or not self._needed <= kwargs.keys():
            return self._caller(**kwargs)  # a wrapper, or a missing argument pluggy words the error for
        if self._firstresult:
            for function, argnames in plan:
                result = function(*[kwargs[name] for name in argnames])
                if result is not None:
                    return result
            return None
        results = []
        for function, argnames in plan:
            result = function(*[kwargs[name] for name in argnames])
            if result is not None:
                results.append(result)
        return results


class DeviceHooks:
    """``hook.<name>``: each session hook of ``pm`` without the other device types' plugins."""

    def __init__(
        self,
        pm: pluggy.PluginManager,
        device_type: str,
        owners: Mapping[str, Sequence[object]] | None = None,
    ) -> None:
        owners = device_owners(pm) if owners is None else owners
        mine = {id(plugin) for plugin in owners.get(device_type, ())}
        others = {id(p): p for plugins in owners.values() for p in plugins if id(p) not in mine}
        self.device_type = device_type
        self.hook = SimpleNamespace(
            **{
                name: DirectHook(
                    pm.subset_hook_caller(name, remove_plugins=list(others.values())), getattr(pm.hook, name)
                )
                for name in SESSION_HOOKS
            }
        )
