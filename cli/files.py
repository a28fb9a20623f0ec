"""Reading the JSON files a user hands to the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cli.errors import UsageError


def load_json_object(path: Path) -> dict[str, Any]:
    """The JSON object in `path`; a UsageError (exit 2) naming the file otherwise."""
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise UsageError(f"{path}: {err.strerror or err}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not UTF-8 text") from None
    except json.JSONDecodeError as err:
        raise UsageError(f"{path}: invalid JSON at line {err.lineno}: {err.msg}") from None
    if not isinstance(body, dict):
        raise UsageError(f"{path}: expected a JSON object")
    return body
