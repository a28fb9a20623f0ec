"""The published OpenAPI document: generated from the app, checked in, and a superset of the
original contract (paths, methods, schema properties, enums)."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from api.app import create_app
from api.openapi_export import PUBLIC_PATHS, SPEC_PATH, build_spec, main, render
from core.settings import Settings

CONTRACT_PATH = Path(__file__).parent / "contract" / "model-trainer.original.yaml"
SHARED_CONTRACT = (
    Path(__file__).resolve().parents[2] / "shared" / "reference" / "model-trainer.original.yaml"
)
METHODS = ("get", "put", "post", "delete", "patch")
CONTRACT_SCHEMAS = (
    "TrainingJobCreate",
    "TrainingJobResponse",
    "TrainingJobList",
    "EvaluationCreate",
    "EvaluationResponse",
    "EvaluationList",
    "PromotionRequest",
    "PromotionResponse",
    "ServiceStats",
    "ErrorResponse",
)
CONTRACT_ENUMS = ("JobStatus", "EvaluationStatus", "Provider")
RESPONSES = ("Response", "List", "Stats")  # names of the contract's response schemas


@pytest.fixture(scope="module")
def generated() -> dict[str, Any]:
    return build_spec()


@pytest.fixture(scope="module")
def contract() -> dict[str, Any]:
    return yaml.safe_load(CONTRACT_PATH.read_text(encoding="utf-8"))


def test_checked_in_spec_matches_the_app(generated: dict[str, Any]) -> None:
    assert SPEC_PATH.exists(), "run `python -m api.openapi_export`"
    checked_in = SPEC_PATH.read_text(encoding="utf-8")
    assert checked_in == render(generated), (
        f"{SPEC_PATH} has drifted from the app; regenerate with `python -m api.openapi_export`"
    )
    assert yaml.safe_load(checked_in) == generated


def test_check_mode_reports_drift(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stale = tmp_path / "model-trainer.yaml"
    stale.write_text(SPEC_PATH.read_text(encoding="utf-8").replace("Model Trainer", "Old"))
    assert main(["--check", "--output", str(stale)]) == 1
    assert "out of date" in capsys.readouterr().err
    assert main(["--output", str(stale)]) == 0
    assert main(["--check", "--output", str(stale)]) == 0


def test_vendored_contract_is_the_shared_one() -> None:
    if not SHARED_CONTRACT.exists():
        pytest.skip("no shared reference checkout next to this repository")
    assert CONTRACT_PATH.read_bytes() == SHARED_CONTRACT.read_bytes()


def test_every_contract_operation_exists(
    generated: dict[str, Any], contract: dict[str, Any]
) -> None:
    expected = {
        (path, method)
        for path, item in contract["paths"].items()
        for method in item
        if method in METHODS
    }
    ours = {
        (path, method)
        for path, item in generated["paths"].items()
        for method in item
        if method in METHODS
    }
    assert len(expected) == 11  # a sanity check that the contract parsed
    assert sorted(expected - ours) == []


def test_contract_operations_keep_their_tags_and_path_parameters(
    generated: dict[str, Any], contract: dict[str, Any]
) -> None:
    for path, item in contract["paths"].items():
        for method, operation in item.items():
            ours = generated["paths"][path][method]
            assert ours["tags"] == operation["tags"], (path, method)
            theirs = {(p["name"], p["in"]) for p in operation.get("parameters", [])}
            mine = {(p["name"], p["in"]) for p in ours.get("parameters", [])}
            assert theirs <= mine, (path, method, theirs - mine)


@pytest.mark.parametrize("name", CONTRACT_SCHEMAS)
def test_contract_schema_properties_exist(
    name: str, generated: dict[str, Any], contract: dict[str, Any]
) -> None:
    theirs = set(contract["components"]["schemas"][name]["properties"])
    ours = set(generated["components"]["schemas"][name]["properties"])
    assert sorted(theirs - ours) == []


@pytest.mark.parametrize("name", CONTRACT_ENUMS)
def test_contract_enums_are_kept(
    name: str, generated: dict[str, Any], contract: dict[str, Any]
) -> None:
    """Every contract value, in the contract's order; extensions only after them (the
    provider enum gains `self_hosted`)."""
    theirs = contract["components"]["schemas"][name]["enum"]
    ours = generated["components"]["schemas"][name]["enum"]
    assert ours[: len(theirs)] == theirs
    assert ours[len(theirs) :] == (["self_hosted"] if name == "Provider" else [])


def test_servers_and_tags_follow_the_contract(
    generated: dict[str, Any], contract: dict[str, Any]
) -> None:
    assert generated["tags"] == contract["tags"]
    assert [s["url"] for s in generated["servers"]][1:] == [s["url"] for s in contract["servers"]][
        1:
    ]


def test_registry_ids_are_documented_as_integers_in_strings(generated: dict[str, Any]) -> None:
    schemas = generated["components"]["schemas"]
    for schema in ("PromotionResponse", "PromotionBrief"):
        for field in ("registry_model_id", "registry_version_id", "registry_binding_id"):
            prop = schemas[schema]["properties"][field]
            assert "integer id, as a string" in prop["description"], (schema, field)
            assert prop.get("type") == "string" or {"type": "string"} in prop["anyOf"]


def test_every_error_response_is_the_envelope(generated: dict[str, Any]) -> None:
    assert "HTTPValidationError" not in generated["components"]["schemas"]
    for path, item in generated["paths"].items():
        for method, operation in item.items():
            for code, response in operation["responses"].items():
                if code.startswith(("4", "5")) and path != "/health":
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorResponse"}, (
                        path,
                        method,
                        code,
                    )


def _allows_null(prop: dict[str, Any]) -> bool:
    return prop.get("type") == "null" or any(_allows_null(p) for p in prop.get("anyOf", []))


@pytest.mark.parametrize("name", [n for n in CONTRACT_SCHEMAS if n.endswith(RESPONSES)])
def test_contract_properties_are_nullable_only_where_the_contract_says(
    name: str, generated: dict[str, Any], contract: dict[str, Any]
) -> None:
    """A response field the contract does not mark nullable is documented (and sent) as
    absent or set, never null. Requests may be laxer than the contract."""
    theirs = contract["components"]["schemas"][name]["properties"]
    ours = generated["components"]["schemas"][name]["properties"]
    nullable = sorted(
        field
        for field, prop in theirs.items()
        if not prop.get("nullable") and _allows_null(ours[field])
    )
    assert nullable == []


def test_bearer_scheme_and_auth_errors_are_declared(generated: dict[str, Any]) -> None:
    scheme = generated["components"]["securitySchemes"]["HTTPBearer"]
    assert (scheme["type"], scheme["scheme"], scheme["bearerFormat"]) == ("http", "bearer", "JWT")
    secured = 0
    for path, item in generated["paths"].items():
        for method, operation in item.items():
            if path in PUBLIC_PATHS:
                assert "security" not in operation, (path, method)
                assert "401" not in operation["responses"], (path, method)
                continue
            secured += 1
            assert operation["security"] == [{"HTTPBearer": []}], (path, method)
            assert {"401", "403"} <= set(operation["responses"]), (path, method)
    assert secured >= 20


def test_every_operation_with_a_body_declares_413(generated: dict[str, Any]) -> None:
    for path, item in generated["paths"].items():
        for method, operation in item.items():
            if "requestBody" in operation:
                assert "413" in operation["responses"], (path, method)


async def test_every_405_names_the_allowed_methods(generated: dict[str, Any]) -> None:
    """`Allow` lists every method the path has, even when they are separate routes."""
    app = create_app(Settings(_env_file=None))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        for path, item in generated["paths"].items():
            declared = {m.upper() for m in item if m in METHODS}
            concrete = re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)
            for method in sorted({m.upper() for m in METHODS} - declared):
                response = await client.request(method, concrete)
                assert response.status_code == 405, (method, path, response.status_code)
                allowed = {m.strip() for m in response.headers["allow"].split(",")}
                assert allowed - {"HEAD"} == declared, (method, path, allowed)
                assert response.json()["error_code"] == "method_not_allowed"


def _keys(node: Any) -> set[str]:
    if isinstance(node, dict):
        return set(node).union(*(_keys(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_keys(v) for v in node))
    return set()


def test_bounds_are_documented_with_json_schema_keywords(generated: dict[str, Any]) -> None:
    """Pydantic's own names for bounds (`ge`, `le`, ...) mean nothing to a client."""
    assert _keys(generated["components"]["schemas"]) & {"ge", "le", "gt", "lt"} == set()
