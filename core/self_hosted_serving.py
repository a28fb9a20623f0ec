"""Which inference server serves a self-hosted model. vLLM serves one base model per
server (with its adapters), so each catalogue model may name its own server
(`inference_url`); the rest are on the deployment's `self_hosted_inference_url`. A
fine-tuned model's id names its base model, so either kind of name finds its server."""

from __future__ import annotations

from core.base_model_catalogue import load_catalogue
from core.settings import Settings

FINE_TUNED_PREFIX = "ft:"


def fine_tuned_model_id(base_model: str, job_id: str) -> str:
    """Stable and naming the job: the name the inference server serves the adapter under."""
    return f"{FINE_TUNED_PREFIX}{base_model}:{job_id}"


def base_model_of(model: str) -> str:
    """The catalogue name behind a served model: itself, or a fine-tuned model's base."""
    if model.startswith(FINE_TUNED_PREFIX):
        return model[len(FINE_TUNED_PREFIX) :].rsplit(":", 1)[0]
    return model


def inference_url_for(settings: Settings, model: str) -> str:
    """The OpenAI-compatible base URL (…/v1) of the server that serves `model`."""
    if settings.self_hosted_catalogue_file is not None:
        entry = load_catalogue(settings.self_hosted_catalogue_file).model(base_model_of(model))
        if entry is not None and entry.inference_url:
            return entry.inference_url.rstrip("/")
    return settings.self_hosted_inference_url.rstrip("/")


def inference_urls(settings: Settings) -> list[str]:
    """Every self-hosted inference server of the deployment, the default one first."""
    urls = [settings.self_hosted_inference_url.rstrip("/")]
    if settings.self_hosted_catalogue_file is not None:
        for entry in load_catalogue(settings.self_hosted_catalogue_file).models.values():
            if entry.inference_url and entry.inference_url.rstrip("/") not in urls:
                urls.append(entry.inference_url.rstrip("/"))
    return urls
