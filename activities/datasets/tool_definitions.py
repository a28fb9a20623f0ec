"""Tool and function definitions at the record (or DPO input) level: `tools`,
`functions` and `parallel_tool_calls`."""

from __future__ import annotations

from typing import Any

from activities.datasets.example_check import ExampleCheck
from activities.datasets.report import json_type


def check_tool_definitions(obj: dict[str, Any], prefix: str, out: ExampleCheck) -> None:
    """`tools`, `functions` and `parallel_tool_calls` at the record (or DPO input) level."""
    if "tools" in obj:
        _check_definition_list(obj["tools"], _join(prefix, "tools"), out, wrapped=True)
    if "functions" in obj:
        _check_definition_list(obj["functions"], _join(prefix, "functions"), out, wrapped=False)
    parallel = obj.get("parallel_tool_calls")
    if "parallel_tool_calls" in obj and not isinstance(parallel, bool):
        path = _join(prefix, "parallel_tool_calls")
        out.error("invalid_tools", path, f"must be a boolean, got {json_type(parallel)}")


def _check_definition_list(value: Any, path: str, out: ExampleCheck, *, wrapped: bool) -> None:
    # `tools` entries wrap the function ({type, function: {...}}); legacy `functions` do not.
    if not isinstance(value, list):
        out.error("invalid_tools", path, f"must be an array, got {json_type(value)}")
        return
    for i, item in enumerate(value):
        fn: Any = item
        fn_path = f"{path}[{i}]"
        if wrapped and isinstance(item, dict):
            if item.get("type") != "function":
                out.error("invalid_tools", f"{fn_path}.type", "must be 'function'")
            fn = item.get("function")
            fn_path = f"{fn_path}.function"
        if not isinstance(fn, dict):
            out.error("invalid_tools", fn_path, f"must be an object, got {json_type(fn)}")
            continue
        if not _non_blank(fn.get("name")):
            out.error("invalid_tools", f"{fn_path}.name", "must be a non-empty string")
        if "parameters" in fn and not isinstance(fn["parameters"], dict):
            got = json_type(fn["parameters"])
            out.error(
                "invalid_tools", f"{fn_path}.parameters", f"must be a JSON schema object, got {got}"
            )


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _non_blank(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())
