"""Exceptions reach the JSON logs as type, error code and place: no traceback, no path."""

from __future__ import annotations

import io
import json
import logging

from temporalio.exceptions import ApplicationError

from core.logging import json_handler


def _raise_with_a_path() -> None:
    try:
        open("/srv/data/tenant_123/maria.lopez@example.org.jsonl")
    except OSError:
        raise ApplicationError("could not read the file", type="dataset_not_found") from None


def test_a_logged_exception_has_no_traceback_and_no_server_path() -> None:
    stream = io.StringIO()
    logger = logging.getLogger("tests.log_exceptions")
    handler = json_handler("model-trainer-test", stream)
    logger.addHandler(handler)
    logger.propagate = False
    try:
        try:
            _raise_with_a_path()
        except ApplicationError:
            logger.warning("Completing activity as failed", exc_info=True)
        try:
            open("/srv/data/secret-dir/file.jsonl")
        except OSError:
            logger.exception("unexpected")
    finally:
        logger.removeHandler(handler)

    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["exception"]["type"] == "ApplicationError"
    assert first["exception"]["error_code"] == "dataset_not_found"
    assert first["exception"]["where"].startswith("tests.test_log_exceptions._raise_with_a_path:")
    assert second["exception"]["type"] == "FileNotFoundError"
    text = stream.getvalue()
    assert "Traceback" not in text
    assert "/srv/data" not in text and "maria.lopez" not in text
    assert ".py" not in text
