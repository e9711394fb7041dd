"""Specs by device type name (``core.plugins.spec_registry`` fills one from the loaded plugins)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import ConfigError, SpecError

if TYPE_CHECKING:
    from core.spec.runtime import Spec


class SpecRegistry:
    def __init__(self, specs: Iterable[Spec] = ()) -> None:
        self._specs: dict[str, Spec] = {}
        for spec in specs:
            self.add(spec)

    def add(self, spec: Spec) -> None:
        existing = self._specs.get(spec.name)
        if existing is not None and existing.path != spec.path:
            raise SpecError(f"two specs are named {spec.name!r}: {existing.path} and {spec.path}")
        self._specs[spec.name] = spec

    def load(self, path: str | Path) -> Spec:
        from core.spec import load_spec

        spec = load_spec(path)
        self.add(spec)
        return spec

    def get(self, name: str) -> Spec:
        try:
            return self._specs[name]
        except KeyError:
            raise ConfigError(f"unknown spec {name!r}; known specs: {', '.join(self.names()) or '(none)'}") from None

    def names(self) -> list[str]:
        return sorted(self._specs)

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __iter__(self) -> Iterator[Spec]:
        return iter(self._specs[name] for name in self.names())

    def __len__(self) -> int:
        return len(self._specs)
