"""What a job records when a step fails: our own codes and messages, and for an exception
our code did not expect, only its kind (its text may name server paths or values)."""

from __future__ import annotations

from temporalio.exceptions import ApplicationError

from workflows.failures import UNEXPECTED_ERROR, describe_failure


def test_our_own_codes_keep_their_message() -> None:
    err = ApplicationError("line 3: invalid JSON", type="dataset_invalid", non_retryable=True)
    assert describe_failure(err) == ("dataset_invalid", "line 3: invalid JSON")


def test_an_unexpected_exception_records_its_kind_only() -> None:
    # What the SDK makes of an OSError raised inside an activity.
    err = ApplicationError(
        "[Errno 36] File name too long: '/srv/trainer/datasets/tenant_123/000'", type="OSError"
    )
    code, message = describe_failure(err)
    assert code == UNEXPECTED_ERROR
    assert "OSError" in message
    assert "/srv" not in message and "tenant_123" not in message
