"""A self-hosted adapter, end to end through serving and grading on the development
inference server (real transformers + PEFT generation on CPU): the adapter goes from the
artifact store into the server's adapter folder, `serve_adapter` loads it, and the harness
asks it (and the base model, the baseline) through the evaluation's self-hosted endpoint,
while the judge would stay on OpenAI."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from openai import AsyncOpenAI

from activities.artifacts.local import LocalArtifactStore
from activities.evaluation.endpoints import InferenceClients, evaluation_endpoints, run_targets
from activities.evaluation.harness import SuiteRun, run_suite
from activities.serving import ensure_served, serve_adapter
from core.evaluation_suites import suite_from_dict
from core.models import Provider
from core.settings import Settings
from core.training_steps import ServeAdapterInput
from emulators.inference_server.app import create_app
from emulators.inference_server.settings import InferenceServerSettings
from scripts.stack.services import wait_for_http
from tests.support.servers import serve_app
from tests.support.tiny_model import TINY_MODEL_NAME, tiny_model_dir, write_catalogue

pytestmark = pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing`:FutureWarning")


def write_lora_adapter(folder: Path) -> Path:
    """A LoRA adapter for the tiny model, made with peft, with random non-zero weights."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(3)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir())
    config = LoraConfig(
        r=4, lora_alpha=64, target_modules=["q_proj", "v_proj"], init_lora_weights=False
    )
    get_peft_model(base, config).save_pretrained(folder)
    return folder


@dataclass
class InferenceServer:
    url: str
    adapter_root: Path  # the folder it loads adapters from, shared with the worker


@pytest.fixture(scope="module")
async def inference(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[InferenceServer]:
    workspace = tmp_path_factory.mktemp("serving")
    server = InferenceServerSettings(
        catalogue=write_catalogue(workspace / "catalogue.yaml"),
        adapter_root=workspace / "served",
        max_tokens_limit=16,
    )
    (workspace / "served").mkdir()
    async with serve_app(create_app(server)) as url:
        await wait_for_http(f"{url}/health")
        yield InferenceServer(url, workspace / "served")


async def grade(clients: InferenceClients, model: str) -> SuiteRun:
    suite = suite_from_dict(
        {
            "name": "speaks",
            "graders": [{"type": "regex", "pattern": r"\S"}],
            "samples": [
                {"id": f"q{i}", "messages": [{"role": "user", "content": question}]}
                for i, question in enumerate(["What is 2 + 2?", "Name a planet."])
            ],
        }
    )
    targets = run_targets(
        evaluation_endpoints(clients, "candidate", Provider.self_hosted, model),
        max_retries=0,
        max_pause_seconds=1.0,
    )
    return await run_suite(
        targets.client,
        suite,
        targets.model,
        judge_model=targets.judge_model,
        gate=targets.gate,
        model_scope=targets.model_scope,
        model_provider=targets.model_provider,
        judge_target=targets.judge_target,
        moderation_target=targets.moderation_target,
        concurrency=2,
    )


async def test_a_served_adapter_is_graded_with_real_generation(
    inference: InferenceServer, tmp_path: Path
) -> None:
    store = LocalArtifactStore(tmp_path / "artifacts")
    prefix = "adapters/tenant-a/job-77"
    await store.put_directory(prefix, write_lora_adapter(tmp_path / "trained"))
    # The worker's adapter folder is the server's adapter root (a shared volume).
    settings = Settings(
        _env_file=None,
        self_hosted_inference_url=f"{inference.url}/v1",
        self_hosted_adapter_dir=inference.adapter_root,
    )
    name = f"{TINY_MODEL_NAME}-ft-job-77"
    request = ServeAdapterInput(
        job_id="job-77", fine_tuned_model=name, adapter_uri=store.uri(prefix)
    )
    first = await serve_adapter(settings, store, request)
    again = await serve_adapter(settings, store, request)
    assert (first.already_loaded, again.already_loaded) == (False, True)
    await ensure_served(settings, store, name, store.uri(prefix))  # listed: a no-op

    openai_client = AsyncOpenAI(base_url="http://openai.invalid/v1", api_key="k")
    clients = InferenceClients(settings, lambda: openai_client)
    try:
        listed = [m.id async for m in clients.self_hosted().models.list()]
        candidate = await grade(clients, name)
        baseline = await grade(clients, TINY_MODEL_NAME)
    finally:
        await clients.close()
        await openai_client.close()
    assert name in listed and TINY_MODEL_NAME in listed
    for run in (candidate, baseline):
        assert run.score.errored == 0, [s.error for s in run.samples]
        assert all(s.output for s in run.samples)
    # The adapter changes what the model says: it is the candidate that answered.
    assert [s.output for s in candidate.samples] != [s.output for s in baseline.samples]
