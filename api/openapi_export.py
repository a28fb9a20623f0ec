"""Write the service's OpenAPI document to `docs/api/rest/model-trainer.yaml`.

    python -m api.openapi_export            # regenerate the checked-in file
    python -m api.openapi_export --check    # exit 1 (with a diff summary) when it has drifted

The document is the app's own `app.openapi()` (no database or Temporal connection is
needed to build it) plus what a published document carries: the contract's servers and
tag descriptions, and the real shape of a 422 (our error envelope, not FastAPI's default
`HTTPValidationError`).
"""

from __future__ import annotations

import argparse
import copy
import difflib
import sys
from pathlib import Path
from typing import Any

import yaml

from api.app import create_app
from core.settings import Settings

REPO = Path(__file__).resolve().parents[1]
SPEC_PATH = REPO / "docs" / "api" / "rest" / "model-trainer.yaml"

SERVERS: list[dict[str, str]] = [
    {"url": "http://localhost:8000", "description": "Development server"},
    {"url": "https://trainer.aivo.ai", "description": "Production server"},
]
TAGS: list[dict[str, str]] = [
    {"name": "Training Jobs", "description": "Fine-tuning job management"},
    {"name": "Evaluation", "description": "Model evaluation and assessment"},
    {"name": "Promotion", "description": "Model promotion to registry"},
    {"name": "Health", "description": "Service health and monitoring"},
]
CONTACT = {"name": "AIVO Engineering", "email": "engineering@aivo.ai"}
LICENSE = {"name": "Proprietary", "url": "https://aivo.ai/license"}

_DEFAULT_422 = "#/components/schemas/HTTPValidationError"
_ERROR_REF = "#/components/schemas/ErrorResponse"
_METHODS = ("get", "put", "post", "delete", "patch")

# Paths served without a token (probes and scrapers); every other operation needs a bearer JWT.
PUBLIC_PATHS = frozenset({"/health", "/metrics"})
BEARER_SCHEME = "HTTPBearer"
SECURITY_SCHEMES: dict[str, dict[str, str]] = {
    BEARER_SCHEME: {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "A JWT naming the tenant and the roles trainer:read, trainer:write "
        "or trainer:admin (admins act on every tenant).",
    }
}
# Answered by any authenticated operation (api/auth.py), and by any with a body (the size cap).
AUTH_RESPONSES = {
    "401": "Missing, invalid or expired bearer token",
    "403": "The token lacks the role or the tenant this action needs",
}
BODY_RESPONSES = {"413": "Request body too large"}


def _replace_refs(node: Any, old: str, new: str) -> Any:
    if isinstance(node, dict):
        return {
            k: (new if k == "$ref" and v == old else _replace_refs(v, old, new))
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_replace_refs(v, old, new) for v in node]
    return node


def _error_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": _ERROR_REF}}},
    }


def _add_responses(operation: dict[str, Any], responses: dict[str, str]) -> None:
    """Add shared error responses, keeping a route's own wording where it has one."""
    declared = operation.setdefault("responses", {})
    for code, description in responses.items():
        declared.setdefault(code, _error_response(description))
    operation["responses"] = dict(sorted(declared.items()))


def document_security(spec: dict[str, Any]) -> None:
    """Declare the bearer scheme, and the 401/403 (and 413 for bodies) every operation can
    answer, which the routes do not list one by one."""
    spec.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
    for path, item in spec.get("paths", {}).items():
        for method in _METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            if path not in PUBLIC_PATHS:
                operation["security"] = [{BEARER_SCHEME: []}]
                _add_responses(operation, AUTH_RESPONSES)
            if "requestBody" in operation:
                _add_responses(operation, BODY_RESPONSES)


def build_spec() -> dict[str, Any]:
    """The OpenAPI document as published (a plain dict, key order preserved)."""
    app = create_app(Settings(_env_file=None))
    spec = copy.deepcopy(app.openapi())

    # Every error, 422 included, is answered with the ErrorResponse envelope (api/errors.py).
    spec = _replace_refs(spec, _DEFAULT_422, _ERROR_REF)
    schemas = spec.get("components", {}).get("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    document_security(spec)

    info = spec.setdefault("info", {})
    info.setdefault("contact", CONTACT)
    info.setdefault("license", LICENSE)
    published: dict[str, Any] = {}
    for key, value in spec.items():
        published[key] = value
        if key == "info":
            published["servers"] = SERVERS
            published["tags"] = TAGS
    return published


class _Dumper(yaml.SafeDumper):
    """Block style for multi-line strings so descriptions stay readable in review."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def render(spec: dict[str, Any]) -> str:
    return yaml.dump(
        spec,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        width=100,
        default_flow_style=False,
    )


def diff_summary(current: str, expected: str, path: Path, max_lines: int = 40) -> str:
    diff = list(
        difflib.unified_diff(
            current.splitlines(),
            expected.splitlines(),
            fromfile=f"{path} (checked in)",
            tofile=f"{path} (generated)",
            lineterm="",
        )
    )
    added = sum(1 for line in diff if line.startswith("+") and not line.startswith("+++"))
    removed = sum(1 for line in diff if line.startswith("-") and not line.startswith("---"))
    shown = diff[:max_lines]
    more = len(diff) - len(shown)
    lines = [f"{path} is out of date: {added} line(s) added, {removed} removed", *shown]
    if more > 0:
        lines.append(f"... {more} more diff line(s)")
    lines.append("regenerate with: python -m api.openapi_export")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m api.openapi_export",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--check", action="store_true", help="do not write; exit 1 when the checked-in file differs"
    )
    parser.add_argument("--output", type=Path, default=SPEC_PATH, help="where the YAML goes")
    args = parser.parse_args(argv)

    expected = render(build_spec())
    path: Path = args.output
    if args.check:
        current = path.read_text(encoding="utf-8") if path.exists() else ""
        if current != expected:
            print(diff_summary(current, expected, path), file=sys.stderr)
            return 1
        print(f"{path} is up to date")
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(expected, encoding="utf-8")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
