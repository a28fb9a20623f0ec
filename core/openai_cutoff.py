"""OpenAI's self-serve fine-tuning accepts no new jobs after a date (a setting): past it, a
new OpenAI job is refused with the self-hosted alternative named, unless the deployment
declares an exception."""

from __future__ import annotations

from datetime import date

from core.settings import Settings

CUTOFF_CODE = "openai_fine_tuning_closed"


def openai_cutoff_problem(settings: Settings, today: date) -> str | None:
    """Why a new OpenAI fine-tuning job cannot start today, or None when it can."""
    cutoff = settings.openai_fine_tuning_cutoff
    if today <= cutoff or settings.openai_fine_tuning_exception:
        return None
    return (
        f"provider: OpenAI accepts no new fine-tuning jobs after {cutoff.isoformat()};"
        " submit the job with provider 'self_hosted' and a base model from this"
        " deployment's catalogue instead"
    )
