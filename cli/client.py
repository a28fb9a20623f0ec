"""The REST API of the Model Trainer Service, over httpx. Every failure becomes a CliError:
ApiFailure for an error answer, Unreachable when the API cannot be reached."""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self

import httpx

from cli.errors import ApiFailure, CliError, Unreachable, UsageError, api_failure

USER_AGENT = "trainer-cli/1.0"
DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=5.0)
# Error codes of a route the server does not have (not of a missing resource).
ROUTE_ERRORS = {"not_found", "method_not_allowed"}


class TrainerApi:
    def __init__(
        self, base_url: str, token: str | None = None, timeout: httpx.Timeout = DEFAULT_TIMEOUT
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise UsageError(f"the API URL must start with http:// or https:// (got {base_url!r})")
        self.base_url = base_url.rstrip("/")
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # ---- transport ------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """Send one request; the decoded JSON body (None for an empty one)."""
        query = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = self._http.request(method, path, json=json, params=query, headers=headers)
        except httpx.TimeoutException:
            raise Unreachable(
                f"the trainer API at {self.base_url} did not answer in time"
            ) from None
        except httpx.TransportError as err:
            raise Unreachable(
                f"cannot reach the trainer API at {self.base_url}: {_transport_reason(err)}",
                ["set --api-url or TRAINER_API_URL to the API's address"],
            ) from None
        if response.is_error:
            failure = api_failure(response.status_code, response.content, response.reason_phrase)
            if failure.error_code in ROUTE_ERRORS:
                failure.message = (
                    f"{method} {path}: {failure.message} (this API does not offer the route; "
                    "is it an older version of the service?)"
                )
            raise failure
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise CliError(
                f"the API answered {method} {path} with a body that is not JSON"
            ) from None

    # ---- jobs -----------------------------------------------------------------------

    def create_job(self, body: dict[str, Any], idempotency_key: str | None = None) -> Any:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        return self.request("POST", "/trainer/jobs", json=body, headers=headers)

    def list_jobs(self, status: str | None, provider: str | None, limit: int, offset: int) -> Any:
        params = {
            "status_filter": status,
            "provider_filter": provider,
            "limit": limit,
            "offset": offset,
        }
        return self.request("GET", "/trainer/jobs", params=params)

    def get_job(self, job_id: str) -> Any:
        return self.request("GET", f"/trainer/jobs/{job_id}")

    def cancel_job(self, job_id: str, reason: str | None = None) -> Any:
        if reason is None:
            return self.request("DELETE", f"/trainer/jobs/{job_id}")
        return self.request("POST", f"/trainer/jobs/{job_id}/cancel", json={"reason": reason})

    def decide(self, job_id: str, decision: str, reviewer: str | None, note: str) -> Any:
        """`decision` is `approve` or `reject`."""
        body = {"reviewer": reviewer, "note": note}
        return self.request("POST", f"/trainer/jobs/{job_id}/{decision}", json=body)

    # ---- evaluation and promotion ---------------------------------------------------

    def get_evaluation(self, job_id: str) -> Any | None:
        """The job's latest evaluation, or None when it has none."""
        try:
            return self.request("GET", f"/trainer/jobs/{job_id}/evaluation")
        except ApiFailure as err:
            if err.error_code == "evaluation_not_found":
                return None
            raise

    def start_evaluation(self, job_id: str, body: dict[str, Any]) -> Any:
        return self.request("POST", f"/trainer/jobs/{job_id}/evaluate", json=body)

    def promote(self, job_id: str, force: bool, reason: str | None) -> Any:
        metadata = {"reason": reason} if reason else {}
        body = {"force": force, "metadata": metadata}
        return self.request("POST", f"/trainer/jobs/{job_id}/promote", json=body)

    # ---- datasets -------------------------------------------------------------------

    def validate_dataset(
        self, uri: str, base_model: str | None, datasheet: dict[str, Any] | None
    ) -> Any:
        body: dict[str, Any] = {"datasetUri": uri}
        if base_model:
            body["baseModel"] = base_model
        if datasheet is not None:
            body["datasheet"] = datasheet
        return self.request("POST", "/trainer/datasets/validate", json=body)


def _transport_reason(err: httpx.TransportError) -> str:
    if isinstance(err, httpx.ConnectError):
        text = str(err).lower()
        if "refused" in text:
            return "connection refused"
        if "name or service not known" in text or "nodename" in text or "resolution" in text:
            return "unknown host"
        return "could not connect"
    if isinstance(err, httpx.RemoteProtocolError):
        return "the server closed the connection unexpectedly"
    return type(err).__name__
