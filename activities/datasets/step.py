"""The validate step's dataset work, shared by the job and `/trainer/datasets/validate`.

Fetch to a spool file, analyse in one pass, and turn every failure into an ApplicationError
whose type says whose fault it is and whether a retry can help:

- a provider or base model without dataset rules (e.g. a self-hosted base model the
  catalogue does not know): its code (`base_model_unknown`, ...), final, before any fetch;
- a bad, refused or missing URI: its code, final;
- a store that failed for now (or our spool disk): retried;
- the tenant policy file unreadable: `dataset_policy_invalid`, final (an operator fixes it);
- anything else raised while analysing: `dataset_analysis_bug`, final. The data is checked
  by rules that report findings; an exception there is a defect in this code, and running
  it again on the same bytes fails the same way.

Messages carry no server path and no stack trace; the worker log gets the exception type
and where it was raised (module, function, line), which is enough to find the bug.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from temporalio.exceptions import ApplicationError

from activities.datasets.analysis import DatasetAnalysis, analyze_dataset
from activities.datasets.fetch import DatasetFetchUnavailable, DatasetUriError, fetch_to_file
from activities.datasets.masking import scrub
from activities.datasets.policy import PolicyFileError
from activities.datasets.rules import DatasetRules, RulesUnavailable, dataset_rules
from core.models import Provider
from core.settings import Settings

logger = logging.getLogger(__name__)

ANALYSIS_BUG = "dataset_analysis_bug"


async def fetch_and_analyse(
    path: Path,
    *,
    uri: str,
    tenant_id: str,
    fmt: str,
    base_model: str,
    datasheet: dict[str, Any] | None,
    restrictions: dict[str, Any],
    n_epochs: int | None,
    settings: Settings,
    also: Callable[[dict[str, Any]], None] | None = None,
    provider: Provider | str = Provider.openai,
    max_seq_length: int | None = None,
    rules: DatasetRules | None = None,
) -> tuple[DatasetAnalysis, dict[str, Any]]:
    """Stream the dataset to `path`, then analyse it in one pass (in a thread), by the
    dataset rules of `provider` and `base_model` (or the `rules` given).

    The report is scrubbed of NUL and lone surrogates, so storing it (jsonb) and sending
    it (Temporal, JSON) cannot fail whatever the file held.
    """
    if rules is None:
        rules = await rules_for(provider, base_model, settings, max_seq_length=max_seq_length)
    if rules.max_upload_bytes < settings.dataset_max_bytes:
        settings = settings.model_copy(update={"dataset_max_bytes": rules.max_upload_bytes})
    try:
        fetched = await fetch_to_file(uri, path, settings=settings, tenant_id=tenant_id)
    except DatasetUriError as err:
        raise ApplicationError(f"datasetUri: {err}", type=err.code, non_retryable=True) from None
    except DatasetFetchUnavailable as err:
        raise ApplicationError(f"dataset store unavailable: {err}", type=err.code) from None
    except OSError as err:  # the spool file: disk full and the like may pass
        reason = err.strerror or type(err).__name__
        raise ApplicationError(
            f"spooling the dataset failed: {reason}", type="dataset_spool_failed"
        ) from None
    try:
        analysis = await asyncio.to_thread(  # CPU-bound: keep the event loop free
            analyze_dataset,
            path,
            fmt=fmt,  # type: ignore[arg-type]
            base_model=base_model,
            datasheet=datasheet,
            tenant_id=tenant_id,
            restrictions=restrictions,
            n_epochs=n_epochs,
            settings=settings,
            also=also,
            rules=rules,
        )
    except PolicyFileError:
        logger.error("dataset policy file unreadable", extra={"tenant_id": tenant_id})
        raise ApplicationError(
            "the dataset policy configured for this service cannot be read; an operator must"
            " fix it",
            type="dataset_policy_invalid",
            non_retryable=True,
        ) from None
    except Exception as err:
        raise analysis_bug(err) from None
    report = {
        "ok": analysis.ok,
        "dataset": analysis.report.model_dump(mode="json"),
        "datasheet": [f.model_dump(mode="json") for f in analysis.datasheet],
        "findings": [f.model_dump(mode="json") for f in analysis.findings],
        "tokens": analysis.tokens.model_dump(mode="json"),
        "cost": analysis.cost.model_dump(mode="json"),
        "pii": analysis.pii.model_dump(mode="json"),
        "file": {"bytes": fetched.bytes, "sha256": fetched.sha256},
    }
    if not analysis.ok:
        report["errors_text"] = analysis.errors_text(10)
    return analysis, scrub(report)


async def rules_for(
    provider: Provider | str,
    base_model: str,
    settings: Settings,
    *,
    max_seq_length: int | None = None,
) -> DatasetRules:
    """The job's dataset rules; none for its provider or base model is a final error."""
    try:
        # In a thread: a self-hosted model's catalogue and files are read from disk.
        return await asyncio.to_thread(
            dataset_rules, provider, base_model, settings, max_seq_length=max_seq_length
        )
    except RulesUnavailable as err:
        raise ApplicationError(err.message, type=err.code, non_retryable=True) from None


def analysis_bug(err: BaseException) -> ApplicationError:
    """A final error for an exception the analysis should never raise, logged by place."""
    where = raised_at(err)
    logger.error("dataset analysis raised %s at %s", type(err).__name__, where)
    return ApplicationError(
        f"the dataset analysis failed on an internal error ({type(err).__name__} in {where});"
        " this is a defect in the trainer, not in the dataset, so the step is not retried",
        type=ANALYSIS_BUG,
        non_retryable=True,
    )


def raised_at(err: BaseException) -> str:
    """`module.function:line` of the innermost frame, without the file's path."""
    frames = traceback.extract_tb(err.__traceback__)
    if not frames:
        return "unknown place"
    frame = frames[-1]
    module = Path(frame.filename).stem
    return f"{module}.{frame.name}:{frame.lineno}"
