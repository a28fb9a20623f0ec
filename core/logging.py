"""One JSON object per log line, for the API and the worker (structlog over stdlib logging).

Every line carries `timestamp`, `level`, `logger`, `message` and `service`, plus whatever
the current context bound with `structlog.contextvars` (`request_id` in the API;
`workflow_id`, `activity`, `job_id`, `tenant_id` in activities) and any `extra=` fields.
Secrets and e-mail addresses are masked (`core.redaction`) before a line is written.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from core.log_exceptions import summarise_exc_info
from core.redaction import redact

HANDLER_NAME = "model-trainer-json"
_LEADING_KEYS = ("timestamp", "level", "logger", "message", "service")


class RedactingFilter(logging.Filter):
    """Masks secrets and e-mail addresses in a record's message (arguments included)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        return True


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {k: _redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(v) for v in value]
    return value


def _redact_fields(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    """Bound values, extras and tracebacks can hold secrets too, not only the message."""
    return {key: _redact_value(value) for key, value in event.items()}


def _leading_keys_first(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    """The fixed fields first, so lines read well without a log viewer too."""
    ordered = {key: event.pop(key) for key in _LEADING_KEYS if key in event}
    ordered.update(event)
    return ordered


def _drop_terminal_colours(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    event.pop("color_message", None)  # uvicorn's ANSI-coloured copy of the message
    return event


def _service(name: str) -> Processor:
    def add(_: WrappedLogger, __: str, event: MutableMapping[str, Any]) -> EventDict:
        event.setdefault("service", name)
        return event

    return add


def _shared_processors(service: str) -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        _service(service),
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
    ]


def json_formatter(service: str) -> logging.Formatter:
    """The formatter that renders stdlib and structlog records as one JSON line each."""
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            *_shared_processors(service),
            structlog.stdlib.ExtraAdder(),
            _drop_terminal_colours,
        ],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            summarise_exc_info,  # type, code and place; never a traceback
            structlog.processors.EventRenamer("message"),
            _redact_fields,
            _leading_keys_first,
            structlog.processors.JSONRenderer(sort_keys=False),
        ],
    )


def json_handler(service: str, stream: TextIO | None = None) -> logging.Handler:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(json_formatter(service))
    handler.addFilter(RedactingFilter())
    return handler


def configure_logging(level: str | int, service: str) -> None:
    """Send every logger's records, uvicorn's included, through one JSON handler on stderr.

    Safe to call again (it replaces its own handler only, leaving others such as pytest's
    capture handlers in place).
    """
    root = logging.getLogger()
    for existing in list(root.handlers):
        if existing.get_name() == HANDLER_NAME:
            root.removeHandler(existing)
    handler = json_handler(service)
    handler.set_name(HANDLER_NAME)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
    # The API writes its own access line (`api.access`, with request and job ids);
    # uvicorn's would repeat it with the client's address. The HTTP clients' line per
    # request is what trainer_provider_requests_total already counts.
    for chatty in ("uvicorn.access", "httpx", "httpcore"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    structlog.configure(
        processors=[
            *_shared_processors(service),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
