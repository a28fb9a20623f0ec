"""The self-hosted trainer: real LoRA training of the tiny local model on CPU, in the
training subprocess, through `run_trainer` and the events the child reports."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from activities.training import (
    CheckpointEvent,
    DoneEvent,
    FailureCode,
    ProgressEvent,
    TrainerEvent,
    TrainerSpec,
    TrainingFailed,
    run_trainer,
)
from activities.training.errors import ExampleError
from activities.training.examples import (
    IGNORE_INDEX,
    ChatExample,
    read_examples,
    tokenize_example,
    tokenize_examples,
)
from activities.training.runner import trainer_command
from core.models import TrainingMethod
from core.training_config import SelfHostedTrainingConfig
from tests.support.tiny_model import REPO_ROOT, tiny_model_dir

SAMPLE = REPO_ROOT / "examples" / "datasets" / "tutor-k12-good.jsonl"
MAX_STEPS = 20
CHECKPOINT_STEPS = 10


def _dataset(path: Path, examples: int = 32) -> Path:
    lines = SAMPLE.read_text(encoding="utf-8").splitlines()[:examples]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _spec(folder: Path, dataset: Path, **overrides: Any) -> TrainerSpec:
    config = SelfHostedTrainingConfig(
        learning_rate=1e-2, batch_size=4, max_steps=overrides.pop("max_steps", MAX_STEPS), seed=7
    )
    return TrainerSpec(
        base_model_dir=tiny_model_dir(),
        dataset_path=dataset,
        output_dir=folder,
        config=overrides.pop("config", config),
        max_seq_length=256,
        checkpoint_steps=CHECKPOINT_STEPS,
        device="cpu",
        **overrides,
    )


@pytest.fixture(scope="module", autouse=True)
def one_cpu_thread() -> Iterator[None]:
    """The tiny model trains as fast on one thread, and far steadier on a shared CPU: the
    training subprocess inherits it."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("OMP_NUM_THREADS", "1")
        yield


class Recorder:
    def __init__(self) -> None:
        self.events: list[TrainerEvent] = []

    async def __call__(self, event: TrainerEvent) -> None:
        self.events.append(event)

    def of(self, kind: type[Any]) -> list[Any]:
        return [event for event in self.events if isinstance(event, kind)]


@pytest_asyncio.fixture(scope="module")
async def trained(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[TrainerSpec, Recorder, DoneEvent]:
    folder = tmp_path_factory.mktemp("trained")
    spec = _spec(folder / "run", _dataset(folder / "train.jsonl"))
    recorder = Recorder()
    done = await run_trainer(spec, recorder)
    return spec, recorder, done


def test_the_loss_falls_and_every_step_is_reported(trained: Any) -> None:
    _, recorder, done = trained
    progress = recorder.of(ProgressEvent)
    assert [event.step for event in progress] == list(range(1, MAX_STEPS + 1))
    assert {event.total_steps for event in progress} == {MAX_STEPS}
    first = sum(event.train_loss for event in progress[:3]) / 3
    last = sum(event.train_loss for event in progress[-3:]) / 3
    assert last < first
    assert all(event.token_accuracy is not None for event in progress)
    assert recorder.events[-1] == done
    assert done.steps == MAX_STEPS
    assert done.train_loss == progress[-1].train_loss
    assert done.trained_tokens == progress[-1].trained_tokens and done.trained_tokens > 0


def test_a_checkpoint_is_reported_every_checkpoint_steps(trained: Any) -> None:
    _, recorder, _ = trained
    checkpoints = recorder.of(CheckpointEvent)
    assert [event.step for event in checkpoints] == [10, 20]
    for event in checkpoints:
        assert event.path.name == f"checkpoint-{event.step}"
        assert (event.path / "trainer_state.json").is_file()
        assert (event.path / "adapter_model.safetensors").is_file()
    # Each checkpoint is reported after the step it holds, before the next one.
    order = [(type(event).__name__, getattr(event, "step", None)) for event in recorder.events]
    assert order.index(("CheckpointEvent", 10)) == order.index(("ProgressEvent", 10)) + 1


def test_the_adapter_reloads_on_the_base_model_and_generates(trained: Any) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    _, _, done = trained
    for name in ("adapter_model.safetensors", "adapter_config.json", "tokenizer.json"):
        assert (done.adapter_dir / name).is_file(), name
    tokenizer = AutoTokenizer.from_pretrained(done.adapter_dir)
    assert tokenizer.chat_template  # the template travels with the adapter
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is a fraction?"}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir())
    with torch.no_grad():
        base_logits = base(**prompt).logits
    adapted = PeftModel.from_pretrained(base, done.adapter_dir)
    with torch.no_grad():
        adapted_logits = adapted(**prompt).logits
        output = adapted.generate(**prompt, max_new_tokens=8, do_sample=False)
    # A fresh LoRA adapter changes nothing; a trained one does.
    assert not torch.allclose(base_logits, adapted_logits)
    assert output.shape[1] > prompt["input_ids"].shape[1]


async def test_a_resumed_run_starts_after_its_checkpoint(trained: Any, tmp_path: Path) -> None:
    spec, recorder, _ = trained
    first_checkpoint = recorder.of(CheckpointEvent)[0]
    fetched = tmp_path / "resume" / first_checkpoint.path.name  # as a new node fetches it
    shutil.copytree(first_checkpoint.path, fetched)
    resumed = Recorder()
    done = await run_trainer(
        _spec(tmp_path / "run", spec.dataset_path, resume_from_checkpoint=fetched), resumed
    )
    steps = [event.step for event in resumed.of(ProgressEvent)]
    assert steps[0] > first_checkpoint.step
    assert steps == list(range(first_checkpoint.step + 1, MAX_STEPS + 1))
    assert done.steps == MAX_STEPS
    assert [event.step for event in resumed.of(CheckpointEvent)] == [20]


async def test_cancelling_stops_the_training_process(tmp_path: Path) -> None:
    pids: list[int] = []
    training = asyncio.Event()

    async def on_event(event: TrainerEvent) -> None:
        if isinstance(event, ProgressEvent):
            training.set()

    spec = _spec(tmp_path / "run", _dataset(tmp_path / "train.jsonl"), max_steps=100_000)
    task = asyncio.create_task(run_trainer(spec, on_event, on_start=pids.append))
    await training.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    with pytest.raises(ProcessLookupError):
        os.kill(pids[0], 0)
    with pytest.raises(ProcessLookupError):
        os.killpg(pids[0], 0)  # nothing it started is left either


async def test_a_bad_dataset_fails_with_a_clear_code(tmp_path: Path) -> None:
    dataset = _dataset(tmp_path / "train.jsonl", examples=2)
    with dataset.open("a", encoding="utf-8") as file:
        file.write("{not json\n")
    recorder = Recorder()
    with pytest.raises(TrainingFailed) as failure:
        await run_trainer(_spec(tmp_path / "run", dataset), recorder)
    assert failure.value.code is FailureCode.invalid_dataset
    assert failure.value.message == "line 3: not valid JSON"
    assert recorder.events[-1].kind == "failed"
    assert not (tmp_path / "run" / "adapter").exists()


def _preferences(path: Path, examples: int = 8) -> Path:
    """Preference pairs from the sample chats: each answer preferred to the next one's."""
    chats = [json.loads(line)["messages"] for line in SAMPLE.read_text().splitlines()[:examples]]
    rows = [
        {
            "input": {"messages": chat[:-1]},
            "preferred_output": [chat[-1]],
            "non_preferred_output": [chats[(index + 1) % len(chats)][-1]],
        }
        for index, chat in enumerate(chats)
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


async def test_dpo_trains_a_lora_adapter(tmp_path: Path) -> None:
    config = SelfHostedTrainingConfig(
        method=TrainingMethod.dpo, learning_rate=1e-3, batch_size=4, max_steps=4
    )
    spec = _spec(tmp_path / "run", _preferences(tmp_path / "pairs.jsonl"), config=config)
    recorder = Recorder()
    done = await run_trainer(spec, recorder)
    assert [event.step for event in recorder.of(ProgressEvent)] == [1, 2, 3, 4]
    assert done.steps == 4
    assert (done.adapter_dir / "adapter_model.safetensors").is_file()


async def test_a_bad_preference_file_fails_before_training(tmp_path: Path) -> None:
    config = SelfHostedTrainingConfig(method=TrainingMethod.dpo)
    dataset = _dataset(tmp_path / "chat.jsonl", 2)  # chat records, not preference pairs
    with pytest.raises(TrainingFailed) as failure:
        await run_trainer(_spec(tmp_path / "run", dataset, config=config), Recorder())
    assert failure.value.code is FailureCode.invalid_dataset
    assert failure.value.message == "line 1: expected 'input' with a 'messages' list"


def test_several_gpus_launch_one_rank_each_with_torchrun(tmp_path: Path) -> None:
    command = trainer_command(tmp_path / "spec.json", python="python", gpus=4)
    assert command[:3] == ["python", "-m", "torch.distributed.run"]
    assert "--nproc-per-node=4" in command
    assert command[-2:] == ["activities.training.sft_run", str(tmp_path / "spec.json")]


# The loss mask, without training.

CONVERSATION: list[dict[str, Any]] = [
    {"role": "system", "content": "Be kind."},
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello there", "weight": 0},
    {"role": "user", "content": "What is 2+2?"},
    {"role": "assistant", "content": "It is four."},
]


@pytest.fixture(scope="module")
def tokenizer() -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir())


def _example(tmp_path: Path, messages: list[dict[str, Any]]) -> ChatExample:
    path = tmp_path / "one.jsonl"
    path.write_text(json.dumps({"messages": messages}) + "\n", encoding="utf-8")
    [example] = read_examples(path)
    return example


def _trained_text(tokenizer: Any, labels: list[int]) -> str:
    return str(tokenizer.decode([label for label in labels if label != IGNORE_INDEX]))


def test_only_weighted_assistant_tokens_are_trained(tokenizer: Any, tmp_path: Path) -> None:
    example = _example(tmp_path, CONVERSATION)
    assert "weight" not in example.messages[2]  # the template never sees it
    tokenized = tokenize_example(tokenizer, example, tokenizer.chat_template, 256)
    assert len(tokenized.input_ids) == len(tokenized.labels)
    assert _trained_text(tokenizer, tokenized.labels) == "It is four.<|im_end|>"
    trained_ids = [label for label in tokenized.labels if label != IGNORE_INDEX]
    assert tokenized.trained_tokens == len(trained_ids)


def test_the_same_mask_without_generation_markers(tokenizer: Any, tmp_path: Path) -> None:
    example = _example(tmp_path, CONVERSATION)
    plain = tokenizer.chat_template.replace("{% generation %}", "").replace(
        "{% endgeneration %}", ""
    )
    tokenized = tokenize_example(tokenizer, example, plain, 256)
    # Rendered prefix by prefix, the span ends after the turn's closing newline.
    assert _trained_text(tokenizer, tokenized.labels) == "It is four.<|im_end|>\n"


def test_every_weighted_turn_counts(tokenizer: Any, tmp_path: Path) -> None:
    messages = [
        dict(message, weight=1) if message["role"] == "assistant" else message
        for message in CONVERSATION
    ]
    tokenized = tokenize_example(
        tokenizer, _example(tmp_path, messages), tokenizer.chat_template, 256
    )
    assert (
        _trained_text(tokenizer, tokenized.labels) == "Hello there<|im_end|>It is four.<|im_end|>"
    )


def test_truncation_keeps_the_start_and_drops_untrainable_examples(
    tokenizer: Any, tmp_path: Path
) -> None:
    example = _example(tmp_path, CONVERSATION)
    short = tokenize_example(tokenizer, example, tokenizer.chat_template, 16)
    assert len(short.input_ids) == 16 and short.trained_tokens == 0
    with pytest.raises(ExampleError, match="no example has an assistant token"):
        tokenize_examples(tokenizer, [example], max_seq_length=16)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"messages": [{"content": "x"}]}', "line 1: every message needs a 'role'"),
        (
            '{"messages": [{"role": "assistant", "content": "x", "weight": 2}]}',
            "line 1: an assistant 'weight' must be 0 or 1",
        ),
        ("[1, 2]", "line 1: expected an object with a 'messages' list"),
    ],
)
def test_malformed_lines_are_named(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(line + "\n", encoding="utf-8")
    with pytest.raises(ExampleError) as error:
        read_examples(path)
    assert str(error.value) == message
