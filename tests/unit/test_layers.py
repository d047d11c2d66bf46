"""The layer rules of DESIGN.md, checked on the source: who may import whom."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "behindglass"

FORBIDDEN: dict[str, set[str]] = {
    "core": {"omop", "engine", "deid", "analyses", "privacy", "governance", "site", "hub",
             "client", "lhs", "synth", "cli", "web"},
    "analyses": {"omop", "engine", "deid", "governance", "site", "hub", "client", "synth",
                 "cli", "web", "privacy"},
    "privacy": {"omop", "engine", "deid", "analyses", "governance", "site", "hub", "client",
                "synth", "cli", "web"},
    "hub": {"engine", "omop", "deid", "site", "synth"},
    "site": {"hub"},
}


def imported_layers(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] == "behindglass" and len(parts) > 1:
                found.add(parts[1])
    return found


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports(layer: str) -> None:
    bad = []
    for path in sorted((SRC / layer).rglob("*.py")):
        wrong = imported_layers(path) & FORBIDDEN[layer]
        if wrong:
            bad.append(f"{path.relative_to(SRC)} imports {sorted(wrong)}")
    assert not bad, "\n".join(bad)


def test_only_cli_and_web_read_the_environment() -> None:
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        layer = path.relative_to(SRC).parts[0]
        if layer in {"cli", "web"}:
            continue
        text = path.read_text(encoding="utf-8")
        if "os.environ" in text or "getenv(" in text:
            offenders.append(str(path.relative_to(SRC)))
    assert not offenders, f"only cli/ and web/ may read the environment: {offenders}"
