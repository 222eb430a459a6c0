"""What changed between two configs, key by key (nested objects flattened to dotted paths)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_MISSING: Any = type("Missing", (), {"__repr__": lambda self: "<missing>"})()


@dataclass(frozen=True)
class ConfigChange:
    path: str
    old: Any
    new: Any

    @property
    def kind(self) -> str:
        if self.old is _MISSING:
            return "added"
        if self.new is _MISSING:
            return "removed"
        return "changed"

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "kind": self.kind,
            "old": None if self.old is _MISSING else self.old,
            "new": None if self.new is _MISSING else self.new,
        }


def _flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in config.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(_flatten(value, path + "."))
        else:
            flat[path] = value
    return flat


def config_diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[ConfigChange]:
    """Sorted by path; an empty list means the configs are equal."""
    a, b = _flatten(old), _flatten(new)
    return [
        ConfigChange(path, a.get(path, _MISSING), b.get(path, _MISSING))
        for path in sorted(a.keys() | b.keys())
        if a.get(path, _MISSING) != b.get(path, _MISSING)
        or type(a.get(path, _MISSING)) is not type(b.get(path, _MISSING))
    ]
