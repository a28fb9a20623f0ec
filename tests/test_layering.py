"""Imports run one way: api -> store -> core, api -> core, and workflows -> activities ->
store -> core. Every import statement in the source tree is read with `ast` (also those
inside functions and `TYPE_CHECKING` blocks), so a back edge fails here before it becomes an
import cycle or drags worker code into the API process."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Which top-level packages each layer must never import.
FORBIDDEN: dict[str, frozenset[str]] = {
    "api": frozenset({"activities"}),
    "core": frozenset({"api", "activities", "workflows"}),
    "store": frozenset({"api", "activities", "workflows"}),
    "activities": frozenset({"api", "workflows"}),
    "workflows": frozenset({"api"}),
}


def _module_parts(path: Path) -> list[str]:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return parts[:-1] if parts[-1] == "__init__" else parts


def _imported_modules(path: Path) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) for every import in the file; relative imports are
    resolved against the file's own package."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = _module_parts(path)
    if path.name != "__init__.py":
        package = package[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                name = ".".join([*base, *([node.module] if node.module else [])])
            else:
                name = node.module or ""
            yield node.lineno, name


def _violations(layer: str) -> list[str]:
    found = []
    for path in sorted((REPO / layer).rglob("*.py")):
        for line, module in _imported_modules(path):
            if module.split(".")[0] in FORBIDDEN[layer]:
                found.append(f"{path.relative_to(REPO)}:{line} imports {module}")
    return found


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_run_one_way(layer: str) -> None:
    assert (REPO / layer).is_dir()
    violations = _violations(layer)
    assert not violations, (
        f"{layer}/ must not import {', '.join(sorted(FORBIDDEN[layer]))}:\n" + "\n".join(violations)
    )


def test_routers_share_only_api_deps() -> None:
    """One route file per resource: what routers share lives in api/deps.py, so no router
    imports another."""
    found = [
        f"{path.relative_to(REPO)}:{line} imports {module}"
        for path in sorted((REPO / "api" / "routers").glob("*.py"))
        for line, module in _imported_modules(path)
        if module.startswith("api.routers.") or module == "api.routers"
    ]
    assert not found, "\n".join(found)


def test_api_process_loads_no_worker_code() -> None:
    """What the API process loads, not only what api/ names: the API starts workflows by
    type name, so activities/ (the provider code with it) stays out, even through
    workflows/. The OpenAI SDK itself is the API's too (it lists base models)."""
    probe = (
        "import sys, api.app; "
        "print('\\n'.join(m for m in sys.modules "
        "if m.split('.')[0] == 'activities' or 'openai_provider' in m))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    loaded = sorted(done.stdout.split())
    assert not loaded, "importing api.app loads worker code:\n" + "\n".join(loaded)
