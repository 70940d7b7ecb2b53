"""The rules file: shipped defaults (rules.toml) merged with a deployment's override."""

from __future__ import annotations

import tomllib
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


class Rules:
    """Typed access to the rule numbers; `data` holds the merged TOML."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    @classmethod
    def load(cls, override: Path | None = None) -> Rules:
        text = (resources.files("credgraph") / "rules.toml").read_text(encoding="utf-8")
        data = tomllib.loads(text)
        if override is not None:
            with override.open("rb") as handle:
                data = _merge(data, tomllib.load(handle))
        return cls(data)

    def section(self, name: str) -> dict[str, Any]:
        value = self.data.get(name, {})
        return value if isinstance(value, dict) else {}

    @cached_property
    def relation_weights(self) -> dict[str, float]:
        section = self.section("relations")
        return {k: float(v) for k, v in section.items() if not isinstance(v, dict)}

    def shareholder_weight(self, ratio: float | None) -> float:
        holder = self.section("relations")["shareholder"]
        if ratio is None:
            return float(holder["unknown_ratio_weight"])
        for minimum, weight in holder["bands"]:
            if ratio >= minimum:
                return float(weight)
        return float(holder["bands"][-1][1])
