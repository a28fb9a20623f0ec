"""How an injected fault looks on the OpenAI wire: its error envelope and headers."""

from __future__ import annotations

from emulators.faults import DOWN, FaultRegistry, FaultSpec, retry_after_headers

from .errors import APIError

OVERLOADED = "The server is overloaded or not ready yet."


def openai_faults() -> FaultRegistry:
    """Rules scoped to `/v1`; a rule without a path prefix covers the whole API."""
    return FaultRegistry(defaults={"path_prefix": "/v1/"}, root="/v1")


def fault_error(spec: FaultSpec) -> APIError:
    status = spec.status or 500
    headers = retry_after_headers(spec)
    if spec.status == DOWN:
        headers["connection"] = "close"
        return APIError(503, spec.message or OVERLOADED, type="server_error", headers=headers)
    if status == 429:
        reset = f"{spec.retry_after if spec.retry_after is not None else 1:g}s"
        headers.update(
            {
                "x-ratelimit-limit-requests": "500",
                "x-ratelimit-remaining-requests": "0",
                "x-ratelimit-reset-requests": reset,
                "x-ratelimit-limit-tokens": "200000",
                "x-ratelimit-remaining-tokens": "0",
                "x-ratelimit-reset-tokens": reset,
            }
        )
        wait = spec.retry_after if spec.retry_after is not None else 1
        return APIError(
            429,
            spec.message
            or (
                f"Rate limit reached for requests in organization org-emulator on requests per "
                f"min (RPM): Limit 500, Used 500, Requested 1. Please try again in {wait:g}s."
            ),
            type="requests",
            code="rate_limit_exceeded",
            headers=headers,
        )
    if status == 503:
        return APIError(503, spec.message or OVERLOADED, type="server_error", headers=headers)
    if status >= 500:
        return APIError(
            status,
            spec.message
            or "The server had an error while processing your request. Sorry about that!",
            type="server_error",
            headers=headers,
        )
    return APIError(
        status, spec.message or "Injected fault.", type="invalid_request_error", headers=headers
    )
