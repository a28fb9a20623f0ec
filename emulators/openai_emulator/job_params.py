"""Parameters of a fine-tuning job create: which are known, and what values they may take."""

from __future__ import annotations

from typing import Any

from .errors import invalid_request

JOB_CREATE_PARAMS = frozenset(
    {
        "model",
        "training_file",
        "validation_file",
        "hyperparameters",
        "method",
        "suffix",
        "seed",
        "metadata",
        "integrations",
    }
)
HYPERPARAMETER_RULES: dict[str, tuple[type, float, float]] = {
    "n_epochs": (int, 1, 50),
    "batch_size": (int, 1, 256),
    "learning_rate_multiplier": (float, 1e-9, 10),
    "beta": (float, 1e-9, 2),
}
MAX_SUFFIX = 64
MAX_METADATA_KEYS = 16


def method_and_hyperparameters(body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(training method, the hyperparameters asked for: a value or "auto" per name)."""
    top = body.get("hyperparameters")
    if top is not None and not isinstance(top, dict):
        raise invalid_request(
            "Invalid type for 'hyperparameters': expected an object.", "hyperparameters"
        )
    method, nested = _method(body.get("method"))
    if top and nested:
        raise invalid_request(
            "Specify hyperparameters either in 'method' or at the top level, not both.",
            "hyperparameters",
        )
    prefix = f"method.{method}.hyperparameters" if nested else "hyperparameters"
    allowed = {"n_epochs", "batch_size", "learning_rate_multiplier"}
    if method == "dpo":
        allowed.add("beta")
    requested: dict[str, Any] = {}
    for key, value in dict(nested or top or {}).items():
        if key not in allowed:
            raise invalid_request(f"Unrecognized hyperparameter: {key}.", f"{prefix}.{key}")
        requested[key] = _hyperparameter(key, value, prefix)
    return method, requested


def _method(method_body: Any) -> tuple[str, dict[str, Any] | None]:
    """(method type, the hyperparameters nested in its config) of a `method` object."""
    if method_body is None:
        return "supervised", None
    if not isinstance(method_body, dict):
        raise invalid_request("Invalid type for 'method': expected an object.", "method")
    method = method_body.get("type")
    if not isinstance(method, str) or method not in ("supervised", "dpo", "reinforcement"):
        raise invalid_request(
            f"Invalid value for 'method.type': {method!r}. Supported values are: "
            "'supervised', 'dpo' and 'reinforcement'.",
            "method.type",
        )
    if method == "reinforcement":
        raise invalid_request(
            "The reinforcement method requires a reasoning model and is not supported "
            "for this model.",
            "method.type",
        )
    config = method_body.get(method) or {}
    if not isinstance(config, dict):
        raise invalid_request(f"Invalid type for 'method.{method}'.", f"method.{method}")
    nested = config.get("hyperparameters")
    if nested is not None and not isinstance(nested, dict):
        raise invalid_request(
            "Invalid type for hyperparameters: expected an object.",
            f"method.{method}.hyperparameters",
        )
    return method, nested


def _hyperparameter(key: str, value: Any, prefix: str) -> Any:
    if value == "auto" or value is None:
        return "auto"
    kind, low, high = HYPERPARAMETER_RULES[key]
    ok_type = isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int and ok_type and float(value) != int(value):
        ok_type = False
    if not ok_type or not low <= value <= high:
        raise invalid_request(
            f"Invalid value for '{key}': {value!r}. Expected 'auto' or a "
            f"{'integer' if kind is int else 'number'} between {low:g} and {high:g}.",
            f"{prefix}.{key}",
        )
    return int(value) if kind is int else float(value)


def validate_metadata(metadata: Any) -> dict[str, str] | None:
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        raise invalid_request("Invalid type for 'metadata': expected an object.", "metadata")
    if len(metadata) > MAX_METADATA_KEYS:
        raise invalid_request(
            f"Invalid 'metadata': at most {MAX_METADATA_KEYS} keys are allowed.", "metadata"
        )
    for key, value in metadata.items():
        if len(key) > 64:
            raise invalid_request(
                f"Invalid 'metadata': key {key!r} is longer than 64 characters.", "metadata"
            )
        if not isinstance(value, str) or len(value) > 512:
            raise invalid_request(
                f"Invalid 'metadata.{key}': expected a string of at most 512 characters.",
                f"metadata.{key}",
            )
    return dict(metadata)
