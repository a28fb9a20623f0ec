"""The development inference server, driven over real HTTP by the `openai` SDK as an
evaluation would drive vLLM: real generation by the tiny local model, LoRA adapters loaded
at run time, and vLLM's answers to requests it refuses. The LoRA routes are not part of the
SDK, so they go through httpx."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from fastapi import FastAPI
from openai.types.chat import ChatCompletionMessageParam

from emulators.inference_server.app import create_app
from emulators.inference_server.models import ModelServer
from emulators.inference_server.settings import InferenceServerSettings
from scripts.stack.services import wait_for_http
from tests.support.servers import serve_app
from tests.support.tiny_model import TINY_MODEL_NAME, tiny_model_dir, write_catalogue

# peft's save_pretrained asks transformers a deprecated question; not this suite's concern.
pytestmark = pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing`:FutureWarning")

QUESTION: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Why is the sky blue?"}]


@dataclass
class Server:
    url: str
    adapter_root: Path
    models: ModelServer

    def sdk(self, api_key: str = "unused") -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(base_url=f"{self.url}/v1", api_key=api_key, max_retries=0)

    def http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, timeout=60)


@asynccontextmanager
async def serve_loaded(app: FastAPI) -> AsyncIterator[str]:
    """Serve `app` and wait until its models have loaded (on a busy machine that takes
    longer than `serve_app` waits for uvicorn to start)."""
    async with serve_app(app) as url:
        await wait_for_http(f"{url}/health")
        yield url


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("inference")


@pytest.fixture(scope="module")
async def server(workspace: Path) -> AsyncIterator[Server]:
    adapter_root = workspace / "adapters"
    adapter_root.mkdir()
    (workspace / "resolver").mkdir()
    settings = InferenceServerSettings(
        catalogue=write_catalogue(workspace / "catalogue.yaml"),
        adapter_root=adapter_root,
        lora_resolver_dir=workspace / "resolver",
        max_tokens_limit=64,
    )
    app = create_app(settings)
    async with serve_loaded(app) as url:
        yield Server(url, adapter_root, app.state.models)


@pytest.fixture(scope="module")
def tokenizer() -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir())


def write_lora_adapter(folder: Path, seed: int = 0) -> Path:
    """A LoRA adapter made with peft itself, with random non-zero weights large enough to
    change what the model says."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir())
    config = LoraConfig(
        r=8,
        lora_alpha=128,
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "up_proj", "down_proj"],
        init_lora_weights=False,
    )
    get_peft_model(base, config).save_pretrained(folder)
    return folder


async def greedy(server: Server, model: str, max_tokens: int = 16) -> str:
    completion = await server.sdk().chat.completions.create(
        model=model, messages=QUESTION, max_tokens=max_tokens, temperature=0
    )
    return completion.choices[0].message.content or ""


async def test_lists_the_catalogue_model_like_vllm(server: Server) -> None:
    models = [model async for model in server.sdk().models.list()]
    assert [model.id for model in models] == [TINY_MODEL_NAME]
    assert models[0].owned_by == "vllm"
    assert (models[0].model_extra or {})["max_model_len"] == 512
    async with server.http() as http:
        assert (await http.get("/health")).status_code == 200


async def test_generates_what_the_model_generates_with_token_counts(
    server: Server, tokenizer: Any
) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    completion = await server.sdk().chat.completions.create(
        model=TINY_MODEL_NAME, messages=QUESTION, max_completion_tokens=12, temperature=0
    )
    choice = completion.choices[0]
    assert completion.object == "chat.completion"
    assert completion.model == TINY_MODEL_NAME
    assert choice.message.role == "assistant"
    assert choice.message.content

    prompt = tokenizer.apply_chat_template(QUESTION, tokenize=False, add_generation_prompt=True)
    prompt_ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"]
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir())
    with torch.inference_mode():
        output = model.generate(
            input_ids=prompt_ids,
            attention_mask=torch.ones_like(prompt_ids),
            max_new_tokens=12,
            do_sample=False,
        )
    new_ids = output[0, prompt_ids.shape[1] :].tolist()
    assert choice.message.content == tokenizer.decode(new_ids, skip_special_tokens=True)
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == prompt_ids.shape[1]
    assert completion.usage.completion_tokens == len(new_ids)
    assert completion.usage.total_tokens == prompt_ids.shape[1] + len(new_ids)
    assert choice.finish_reason == ("length" if len(new_ids) == 12 else "stop")


async def test_greedy_decoding_is_deterministic(server: Server) -> None:
    assert await greedy(server, TINY_MODEL_NAME) == await greedy(server, TINY_MODEL_NAME)


async def test_a_seed_makes_sampling_reproducible(server: Server) -> None:
    async def sample() -> str:
        completion = await server.sdk().chat.completions.create(
            model=TINY_MODEL_NAME,
            messages=QUESTION,
            max_tokens=24,
            temperature=1.5,
            top_p=0.95,
            seed=1234,
        )
        return completion.choices[0].message.content or ""

    first = await sample()
    assert first
    assert await sample() == first


async def test_a_stop_string_ends_the_text_before_it(server: Server) -> None:
    text = await greedy(server, TINY_MODEL_NAME)
    stop = text[0]
    completion = await server.sdk().chat.completions.create(
        model=TINY_MODEL_NAME, messages=QUESTION, max_tokens=16, temperature=0, stop=[stop]
    )
    choice = completion.choices[0]
    assert choice.message.content == text[: text.index(stop)]
    assert choice.finish_reason == "stop"
    assert (choice.model_extra or {})["stop_reason"] == stop


async def test_a_loaded_lora_adapter_is_served_and_changes_the_output(server: Server) -> None:
    folder = await asyncio.to_thread(write_lora_adapter, server.adapter_root / "tutor")
    async with server.http() as http:
        loaded = await http.post(
            "/v1/load_lora_adapter", json={"lora_name": "tutor-v1", "lora_path": "tutor"}
        )
        assert loaded.status_code == 200, loaded.text
        assert loaded.text == "Success: LoRA adapter 'tutor-v1' added successfully."

        cards = {model.id: model async for model in server.sdk().models.list()}
        adapter_card = cards["tutor-v1"].model_extra or {}
        assert adapter_card["parent"] == TINY_MODEL_NAME
        assert adapter_card["root"] == "tutor"
        assert cards["tutor-v1"].owned_by == "vllm"

        adapted = await greedy(server, "tutor-v1")
        assert adapted != await greedy(server, TINY_MODEL_NAME)
        assert await greedy(server, "tutor-v1") == adapted

        # By absolute path too, under another name; both stay served.
        again = await http.post(
            "/v1/load_lora_adapter", json={"lora_name": "tutor-v2", "lora_path": str(folder)}
        )
        assert again.status_code == 200, again.text
        assert await greedy(server, "tutor-v2") == adapted

        for name in ("tutor-v1", "tutor-v2"):
            unloaded = await http.post("/v1/unload_lora_adapter", json={"lora_name": name})
            assert unloaded.status_code == 200, unloaded.text
            assert unloaded.text == f"Success: LoRA adapter '{name}' removed successfully."
    with pytest.raises(openai.NotFoundError):
        await greedy(server, "tutor-v1")
    assert server.models.bases[TINY_MODEL_NAME].peft is None


async def test_the_resolver_loads_an_adapter_a_request_names(
    server: Server, workspace: Path
) -> None:
    await asyncio.to_thread(write_lora_adapter, workspace / "resolver" / "resolved-tutor")
    assert "resolved-tutor" not in server.models.adapters
    adapted = await greedy(server, "resolved-tutor")
    assert adapted != await greedy(server, TINY_MODEL_NAME)
    cards = {model.id: model async for model in server.sdk().models.list()}
    assert (cards["resolved-tutor"].model_extra or {})["parent"] == TINY_MODEL_NAME
    assert str(workspace) not in str(cards["resolved-tutor"].model_extra)
    async with server.http() as http:
        body = {"lora_name": "resolved-tutor"}
        assert (await http.post("/v1/unload_lora_adapter", json=body)).status_code == 200
    # Only a folder directly in the resolver's directory resolves.
    await asyncio.to_thread(write_lora_adapter, workspace / "beside-the-resolver")
    with pytest.raises(openai.NotFoundError):
        await greedy(server, "../beside-the-resolver")


async def test_lora_routes_refuse_as_vllm_does(server: Server, workspace: Path) -> None:
    await asyncio.to_thread(write_lora_adapter, server.adapter_root / "twice")
    outside = await asyncio.to_thread(write_lora_adapter, workspace / "outside")
    async with server.http() as http:
        body = {"lora_name": "twice", "lora_path": "twice"}
        assert (await http.post("/v1/load_lora_adapter", json=body)).status_code == 200
        duplicate = await http.post("/v1/load_lora_adapter", json=body)
        assert duplicate.status_code == 400
        assert duplicate.json() == {
            "error": {
                "message": "The lora adapter 'twice' has already been loaded. If you want "
                "to load the adapter in place, set 'load_inplace' to True.",
                "type": "InvalidUserInput",
                "param": None,
                "code": 400,
            }
        }
        in_place = await http.post("/v1/load_lora_adapter", json=body | {"load_inplace": True})
        assert in_place.status_code == 200
        assert (await http.post("/v1/unload_lora_adapter", json=body)).status_code == 200

        unknown = await http.post("/v1/unload_lora_adapter", json={"lora_name": "twice"})
        assert unknown.status_code == 404
        assert unknown.json()["error"] == {
            "message": "The lora adapter 'twice' cannot be found.",
            "type": "NotFoundError",
            "param": None,
            "code": 404,
        }

        missing = await http.post("/v1/load_lora_adapter", json={"lora_name": "x"})
        assert missing.status_code == 400
        assert missing.json()["error"]["type"] == "InvalidUserInput"

        absent = await http.post(
            "/v1/load_lora_adapter", json={"lora_name": "x", "lora_path": "no-such-adapter"}
        )
        assert absent.status_code == 404
        assert absent.json()["error"]["message"] == (
            "Loading lora x failed: No adapter found for no-such-adapter"
        )

        for path in (str(outside), "../outside"):
            refused = await http.post(
                "/v1/load_lora_adapter", json={"lora_name": "x", "lora_path": path}
            )
            assert refused.status_code == 400
            assert refused.json()["error"]["param"] == "lora_path"
            assert str(server.adapter_root) not in refused.text
    assert "x" not in server.models.adapters


def write_adapter_for_another_model(folder: Path) -> Path:
    """A LoRA adapter trained for a model of another width: its weights cannot fit."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(1)
    shape = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2}
    config = Qwen2Config(vocab_size=128, num_attention_heads=4, num_key_value_heads=2, **shape)
    lora = LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    get_peft_model(Qwen2ForCausalLM(config), lora).save_pretrained(folder)
    return folder


async def test_an_adapter_that_does_not_fit_leaves_the_base_model_intact(
    server: Server,
) -> None:
    before = await greedy(server, TINY_MODEL_NAME)
    await asyncio.to_thread(write_adapter_for_another_model, server.adapter_root / "other")
    async with server.http() as http:
        refused = await http.post(
            "/v1/load_lora_adapter", json={"lora_name": "other", "lora_path": "other"}
        )
    assert refused.status_code == 500
    error = refused.json()["error"]
    assert error["type"] == "InternalServerError"
    assert error["message"].startswith("Loading lora other failed:")
    assert str(server.adapter_root) not in refused.text
    assert "other" not in server.models.adapters
    assert server.models.bases[TINY_MODEL_NAME].peft is None
    assert await greedy(server, TINY_MODEL_NAME) == before


async def test_chat_refusals_are_the_sdk_errors_vllm_gives(server: Server) -> None:
    sdk = server.sdk()
    with pytest.raises(openai.NotFoundError) as not_found:
        await sdk.chat.completions.create(model="no-such-model", messages=QUESTION)
    assert not_found.value.body == {
        "message": "The model `no-such-model` does not exist.",
        "type": "NotFoundError",
        "param": "model",
        "code": 404,
    }
    refusals: list[dict[str, Any]] = [
        {"n": 2},
        {"max_tokens": 65},
        {"messages": [{"role": "user", "content": "tide " * 600}]},
        {"messages": []},
        {"temperature": -1},
    ]
    for change in refusals:
        request: dict[str, Any] = {"model": TINY_MODEL_NAME, "messages": QUESTION} | change
        with pytest.raises(openai.BadRequestError) as refused:
            await sdk.chat.completions.create(**request)
        assert refused.value.status_code == 400
        assert isinstance(refused.value.body, dict)
        assert refused.value.body["code"] == 400


async def test_an_unexpected_failure_answers_500_without_its_details(
    server: Server, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*_: object) -> list[int]:
        raise RuntimeError("tokenizer state under /srv/secret-path")

    monkeypatch.setattr("emulators.inference_server.app.prompt_token_ids", broken)
    with pytest.raises(openai.InternalServerError) as failed:
        await server.sdk().chat.completions.create(model=TINY_MODEL_NAME, messages=QUESTION)
    assert isinstance(failed.value.body, dict)
    assert failed.value.body["type"] == "InternalServerError"
    assert "secret-path" not in failed.value.response.text
    assert not [record for record in caplog.records if record.exc_info]
    assert "secret-path" not in caplog.text


async def test_health_answers_while_a_generation_runs(server: Server) -> None:
    # The generation's thread waits on the model lock held here, so it is surely running.
    server.models.lock.acquire()
    try:
        generation = asyncio.create_task(greedy(server, TINY_MODEL_NAME, max_tokens=4))
        async with server.http() as http:
            for _ in range(3):
                assert (await http.get("/health")).status_code == 200
        assert not generation.done()
    finally:
        server.models.lock.release()
    assert await generation


async def test_an_api_key_guards_every_v1_route(workspace: Path) -> None:
    settings = InferenceServerSettings(
        catalogue=write_catalogue(workspace / "keyed.yaml"), api_key="sk-local"
    )
    async with serve_loaded(create_app(settings)) as url:
        keyed = Server(url, workspace, ModelServer(settings))
        with pytest.raises(openai.AuthenticationError):
            await keyed.sdk("sk-wrong").models.list()
        async with keyed.http() as http:
            refused = await http.post("/v1/chat/completions", json={"messages": QUESTION})
            assert refused.status_code == 401
            assert refused.json() == {"error": "Unauthorized"}
            assert (await http.get("/health")).status_code == 200
        models = [model.id async for model in keyed.sdk("sk-local").models.list()]
        assert models == [TINY_MODEL_NAME]
